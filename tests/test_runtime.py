"""The CLI's process-level allocator setting: applied once, reported, and skippable."""

from __future__ import annotations

import sys

import pytest

from rnnkit import runtime


def test_allocator_tuning_is_reported_once_and_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_done", [])
    monkeypatch.setenv("RNNKIT_MALLOC_TUNING", "0")
    assert runtime.tune_cpu_allocator() == "left alone (RNNKIT_MALLOC_TUNING=0)"
    monkeypatch.setenv("RNNKIT_MALLOC_TUNING", "1")
    assert runtime.tune_cpu_allocator() == "left alone (RNNKIT_MALLOC_TUNING=0)"  # once per process
    monkeypatch.setattr(runtime, "_done", [])
    got = runtime.tune_cpu_allocator()
    if sys.platform.startswith("linux"):  # glibc (this project's machines) accepts both values
        assert got.startswith("glibc mmap threshold 32 MiB, trim threshold 1024 MiB; huge pages")
    else:
        assert got.startswith("left alone")


def test_huge_pages_are_asked_for_only_before_torch_and_never_over_the_users_value() -> None:
    """THP_MEM_ALLOC_ENABLE is read by torch at its first allocation: the CLI sets it before torch
    loads (a fresh process), says when it came too late, and keeps a user's own value."""
    import os
    import subprocess

    code = ("import os, sys; from rnnkit import runtime; {pre}print(runtime._huge_pages(), "
            "os.environ.get('THP_MEM_ALLOC_ENABLE'))")
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}

    def run(pre: str, **extra: str) -> str:
        out = subprocess.run([sys.executable, "-c", code.format(pre=pre)], env={**env, **extra},
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    assert run("") == "huge pages for blocks >= 2 MiB 1"
    assert run("import torch; ") == "huge pages left alone (torch was loaded first) None"
    assert run("", THP_MEM_ALLOC_ENABLE="0") == "huge pages as set (THP_MEM_ALLOC_ENABLE=0) 0"
