"""Fault injection: a run killed (SIGKILL) at every checkpoint write stage and mid-training loads
cleanly and resumes to bit-identical weights; a run directory has one writer; a mismatched or
changed checkpoint is refused; Ctrl-C says what it really saved.

Each trial forks the test process (torch already imported, so a trial costs its training only),
the child trains with ``RNNKIT_FAULT=stage:count`` (`rnnkit.faults`) and kills itself there; the
parent then loads the run directory and resumes it (or starts it again when no checkpoint was
published) and compares every weight with one uninterrupted reference run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import rnnkit
from rnnkit import checkpoint as ckpt
from rnnkit import checkpoint_unit as units
from rnnkit.cli import app
from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.faults import ENV
from rnnkit.runlock import LOCK_FILE
from rnnkit.tasks import load_run, make_run_config, train_run

pytestmark = pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="fork and SIGKILL")

RECIPE = str(Path(rnnkit.__file__).parent / "configs" / "charlm.toml")
TINY = ["train.max_steps=12", "train.eval_every=3", "train.log_every=2", "train.batch_size=4",
        "train.seq_len=20", "train.max_minutes=none", "train.warmup_steps=2", "model.hidden_size=16",
        "model.embed_dim=8", "model.num_layers=2", "model.dropout=0.3", "data.random_len=true",
        "data.eval_batch_size=2", "data.val_chars=200"]
# checkpoints at steps 3, 6, 9, 12; atomic writes: tokenizer.json, config.json (first checkpoint), curves.png
STAGES = {"atomic_write": [1, 2, 3], "ckpt_weights": [1, 3], "ckpt_state": [2, 4], "ckpt_best": [1, 3],
          "ckpt_manifest": [2, 4], "ckpt_rename": [1, 3], "ckpt_pointer": [2, 4], "ckpt_done": [1, 3],
          "step": [2, 5, 7, 11]}
TRIALS = [f"{s}:{c}" for s, counts in STAGES.items() for c in counts]
_OTHERS = [f"step:{n}" for n in range(1, 13)] + [f"{s}:{n}" for s in STAGES if s.startswith("ckpt")
                                                 for n in (1, 2, 3, 4)]
TRIALS += random.Random(19).sample([t for t in _OTHERS if t not in TRIALS], 4)  # seeded "random moments"


def _cfg(corpus: Path, *extra: str):
    return make_run_config(RECIPE, [*TINY, *extra], data=str(corpus))


def _train(corpus: Path, run: Path, resume: bool = False, callbacks=()) -> None:
    train_run(_cfg(corpus), run, resume=resume, final_evaluation=False, compare_baselines=False,
              callbacks=callbacks)


def _forked(fn, fault: str | None = None) -> tuple[int, int]:
    """Run ``fn()`` in a forked child (with RNNKIT_FAULT=fault); (pid, wait status)."""
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            if fault:
                os.environ[ENV] = fault
            fn()
            code = 0
        except BaseException as e:  # noqa: BLE001 - reported through the exit code
            print(f"child failed: {type(e).__name__}: {e}", file=sys.stderr)
        finally:
            os._exit(code)
    return pid, os.waitpid(pid, 0)[1]


def _weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return {n: load_file(run / n) for n in (ckpt.LAST_WEIGHTS, ckpt.BEST_WEIGHTS)}


def _records(run: Path) -> list[dict]:
    drop = ("elapsed_s", "items_per_s")
    return [{k: v for k, v in json.loads(ln).items() if k not in drop}
            for ln in (run / ckpt.METRICS_LOG).read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("data") / "tiny.txt"
    p.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ref") / "run"
    _train(corpus, run)
    return run


def _same_as_reference(run: Path, reference: Path) -> None:
    ref, got = _weights(reference), _weights(run)
    for name in ref:
        assert ref[name].keys() == got[name].keys()
        for k in ref[name]:
            assert torch.equal(ref[name][k], got[name][k]), f"{name}:{k}"
    assert _records(run) == _records(reference)
    names = {p.name for p in run.iterdir()}
    left = {n for n in names if n.endswith(".tmp")} | ({LOCK_FILE} & names)
    assert not left, left
    assert len(list((run / units.STEPS).iterdir())) <= 2


def test_sigkill_at_every_write_stage_then_load_and_resume_bit_identical(corpus, reference, tmp_path, caplog) -> None:
    """>= 20 trials; each: kill -> load (clean result or clean error) -> resume -> same weights and metrics."""
    assert len(TRIALS) >= 20
    outcomes = []
    for i, fault in enumerate(TRIALS):
        run = tmp_path / f"t{i}"
        pid, status = _forked(lambda run=run: _train(corpus, run), fault)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{fault}: not killed"
        caplog.clear()
        step = units.saved_step(run)
        if step is None:  # killed before its first checkpoint was published
            with pytest.raises(CheckpointError):
                load_run(run)
            with pytest.raises(CheckpointError, match="no complete checkpoint to resume|config.json is missing"):
                _train(corpus, run, resume=True)
            _train(corpus, run)  # a fresh start over the leftovers
        else:
            model = load_run(run)  # verified against the manifest
            assert all(torch.isfinite(p).all() for p in model.parameters())
            _train(corpus, run, resume=True)
        assert f"taking over the lock of pid {pid}" in caplog.text and "no longer running" in caplog.text
        _same_as_reference(run, reference)
        outcomes.append((fault, step))
    # 25 trials: 7 killed before the first checkpoint was published (restarted), 18 resumed from one
    assert len(outcomes) == 25 and [s for _, s in outcomes].count(None) == 7


def test_two_writers_second_is_refused_naming_the_pid(corpus, reference, tmp_path) -> None:
    run, holding, release = tmp_path / "run", tmp_path / "holding", tmp_path / "release"

    def block(step: int) -> None:
        if step == 4:
            holding.touch()
            deadline = time.monotonic() + 30
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _train(corpus, run, callbacks=[block])
            code = 0
        finally:
            os._exit(code)
    try:
        deadline = time.monotonic() + 30
        while not holding.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert holding.exists(), "the first writer never reached step 4"
        with pytest.raises(CheckpointError, match=f"in use by another rnnkit process \\(pid {pid} "):
            _train(corpus, run)
        with pytest.raises(CheckpointError, match=f"pid {pid}"):
            _train(corpus, run, resume=True)
        r = CliRunner().invoke(app, ["train", RECIPE, "--data", str(corpus), "--out", str(run), "--sample", "0",
                                     *[a for s in TINY for a in ("--set", s)]])
        errors = [line for line in r.output.splitlines() if line.startswith("error:")]
        assert r.exit_code == 2 and len(errors) == 1 and f"pid {pid}" in errors[0], r.output
    finally:
        release.touch()
        status = os.waitpid(pid, 0)[1]
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    _same_as_reference(run, reference)  # the refused writers changed nothing


def _copy(reference: Path, dst: Path) -> Path:
    shutil.copytree(reference, dst, symlinks=True)
    return dst


def test_resume_refuses_a_mismatched_checkpoint(reference, corpus, tmp_path) -> None:
    run = _copy(reference, tmp_path / "run")
    cur = units.current_dir(run)
    prev = next(d for d in (run / units.STEPS).iterdir() if d != cur)
    os.replace(prev / ckpt.TRAINER_STATE, cur / ckpt.TRAINER_STATE)  # step-9 state beside step-12 weights
    with pytest.raises(CheckpointError, match="trainer_state.pt: size or sha256 differs"):
        _train(corpus, run, resume=True)
    with pytest.raises(CheckpointError, match="sha256 differs"):
        units.resume_point(run)
    manifest = json.loads((cur / ckpt.MANIFEST).read_text())  # a manifest rewritten to match the swapped file
    manifest["files"][ckpt.TRAINER_STATE] = {"sha256": ckpt.sha256_file(cur / ckpt.TRAINER_STATE),
                                             "bytes": (cur / ckpt.TRAINER_STATE).stat().st_size}
    (cur / ckpt.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="step 9 but .*manifest.json says step 12"):
        _train(corpus, run, resume=True)
    (cur / ckpt.BEST_WEIGHTS).unlink()
    (cur / ckpt.BEST_WEIGHTS).write_bytes((prev / ckpt.LAST_WEIGHTS).read_bytes())
    with pytest.raises(CheckpointError, match="model.safetensors: size or sha256 differs"):
        rnnkit.load(run)


def test_resume_refuses_other_data_or_task(reference, corpus, tmp_path) -> None:
    run = _copy(reference, tmp_path / "run")
    other = tmp_path / "other.txt"
    other.write_text(corpus.read_text(encoding="utf-8"), encoding="utf-8")  # same characters, other file
    runner = CliRunner()
    r = runner.invoke(app, ["train", "charlm", "--out", str(run), "--resume", "--data", str(other)])
    assert r.exit_code == 2 and "data.source=" in r.output and "other.txt" in r.output, r.output
    r = runner.invoke(app, ["train", "forecast", "--out", str(run), "--resume"])
    assert r.exit_code == 2 and "holds a 'charlm' run, not 'forecast'" in r.output, r.output
    with pytest.raises(ConfigError, match="data.source"):
        train_run(_cfg(other), run, resume=True, final_evaluation=False)
    r = runner.invoke(app, ["train", "charlm", "--out", str(run), "--resume", "--data", str(corpus), "--sample", "0"])
    assert r.exit_code == 0, r.output  # the same data named again is fine (a finished run: nothing to train)
    _same_as_reference(run, reference)


def test_fresh_run_after_a_kill_starts_a_new_metrics_log(corpus, reference, tmp_path, caplog) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / ckpt.METRICS_LOG).write_text('{"step": 1, "kind": "train", "loss": 9.0}\n{"step": 2, "ki')
    (run / ".config.json.x1.tmp").write_text("{")
    (run / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 1, "host": socket.gethostname(), "started": "x"}))
    _train(corpus, run)
    assert "new metrics.jsonl" in caplog.text and ".config.json.x1.tmp" in caplog.text
    assert "taking over the lock of pid 4194305" in caplog.text
    _same_as_reference(run, reference)


def test_ctrl_c_saves_the_current_step_and_resumes_identically(corpus, reference, tmp_path) -> None:
    run = tmp_path / "run"

    def sigint(step: int) -> None:
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: honoured after this step

    with pytest.raises(KeyboardInterrupt):
        _train(corpus, run, callbacks=[sigint])
    assert units.saved_step(run) == 4
    _train(corpus, run, resume=True)
    _same_as_reference(run, reference)


def test_ctrl_c_during_data_preparation_does_not_claim_a_checkpoint(corpus, tmp_path, monkeypatch) -> None:
    import dataclasses

    import rnnkit.apps.charlm as charlm

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(charlm, "TASK", dataclasses.replace(charlm.TASK, prepare_data=interrupted))
    r = CliRunner().invoke(app, ["train", RECIPE, "--data", str(corpus), "--out", str(tmp_path / "run")])
    assert r.exit_code == 130
    assert "nothing to resume" in r.output and "checkpoint" in r.output and "saved" not in r.output, r.output
