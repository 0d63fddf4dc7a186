"""CLI end to end on a tiny corpus: train -> evaluate --json -> generate -> resume; clean errors."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

import rnnkit
from rnnkit.cli import app

TINY = ["train.max_steps=6", "train.eval_every=3", "train.log_every=2", "train.batch_size=4",
        "train.seq_len=20", "model.hidden_size=16", "model.embed_dim=8", "model.num_layers=1",
        "data.eval_batch_size=2", "data.val_chars=none"]




def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "tiny.txt"
    p.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40, encoding="utf-8")
    return p


def test_train_evaluate_generate(tmp_path, corpus) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "charlm", "--data", str(corpus), "--out", str(out), "--sample", "40",
                            *_sets(TINY)])
    assert r.exit_code == 0, r.output
    assert "test_bpc=" in r.output and "baseline kneser_ney_5gram" in r.output
    for name in ("config.json", "model.safetensors", "last.safetensors", "tokenizer.json",
                 "trainer_state.pt", "metrics.jsonl", "curves.png", "metrics.json"):
        assert (out / name).is_file(), name
    r = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.output)
    assert set(metrics["baselines"]) == {"unigram", "kneser_ney_5gram"}
    saved = json.loads((out / "metrics.json").read_text())
    assert metrics["test_bpc"] == pytest.approx(saved["test_bpc"], rel=1e-6)
    gen = ["generate", str(out), "--prompt", "ROMEO:", "--length", "30", "--seed", "3", "--top-k", "5"]
    a, b = runner.invoke(app, gen), runner.invoke(app, gen)
    assert a.exit_code == 0 and a.output == b.output and a.output.startswith("ROMEO:")
    assert len(a.output) == len("ROMEO:") + 30 + 1
    lm = rnnkit.load(out)  # the Python API gives the same text
    assert lm.generate("ROMEO:", 30, top_k=5, seed=3) == a.output[6:-1]


def test_resume_from_cli_matches_uninterrupted(tmp_path, corpus) -> None:
    """A run stopped after 3 steps and resumed to 6 ends with the weights of a straight 6-step run.
    (Constant lr: the cosine schedule depends on max_steps, which the resume changes here.)"""
    from safetensors.torch import load_file

    runner = CliRunner()
    full, part = tmp_path / "full", tmp_path / "part"
    base = [*TINY, "train.schedule=none", "data.random_len=true", "model.dropout=0.3", "model.num_layers=2"]
    assert runner.invoke(app, ["train", "charlm", "--data", str(corpus), "--out", str(full), "--sample", "0",
                               *_sets(base)]).exit_code == 0
    r = runner.invoke(app, ["train", "charlm", "--data", str(corpus), "--out", str(part), "--sample", "0",
                            *_sets([*base, "train.max_steps=3"])])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "charlm", "--out", str(part), "--resume", "--sample", "0",
                            "--set", "train.max_steps=6"])
    assert r.exit_code == 0, r.output
    a, b = load_file(full / "last.safetensors"), load_file(part / "last.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    r = runner.invoke(app, ["train", "charlm", "--data", str(corpus), "--out", str(part), *_sets(TINY)])
    assert r.exit_code == 2 and "already holds a run; use --resume" in r.output


def test_clean_one_line_errors(tmp_path, corpus) -> None:
    runner = CliRunner()
    cases = [
        (["train", "charlm", "--data", str(corpus), "--set", "model.hiden_size=3"],
         "valid keys in [model]: cell, hidden_size"),
        (["train", "charlm", "--data", str(corpus), "--set", "train.lr=fast"], "train.lr: expected a number"),
        (["train", "nosuchtask"], "unknown recipe 'nosuchtask'"),
        (["train", "charlm", "--data", str(tmp_path / "missing.txt")], "missing.txt: no such file or folder"),
        (["evaluate", str(tmp_path / "norun")], "run directory not found"),
        (["generate", str(tmp_path)], "config.json is missing"),
    ]
    for args, needle in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.output and "Traceback" not in r.output, (args, r.output)
    bad = tmp_path / "zeros.txt"  # non-UTF-8 text is read as cp1252 (tests/test_inputs.py); NUL bytes are refused
    bad.write_bytes(b"\x00" * 500)
    r = runner.invoke(app, ["train", "charlm", "--data", str(bad), *_sets(TINY)])
    assert r.exit_code == 2 and "zeros.txt: a binary file, not text" in r.output
