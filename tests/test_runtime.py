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
        assert got == "glibc mmap threshold 32 MiB, trim threshold 1024 MiB"
    else:
        assert got.startswith("left alone")
