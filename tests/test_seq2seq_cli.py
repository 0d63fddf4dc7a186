"""CLI end to end on a tiny pairs file: train -> evaluate --json -> translate --beam --plot; clean errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app

TINY = ["train.max_steps=4", "train.eval_every=2", "train.log_every=2", "train.batch_size=8",
        "model.hidden_size=16", "model.embed_size=8", "data.max_valid=20", "data.max_len=12"]




def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.fixture
def pairs(tmp_path):
    p = tmp_path / "pairs.tsv"
    words = [f"{a}{b}{c}" for a in "abcd" for b in "abcd" for c in "ab"]
    p.write_text("".join(f"{w}\t{' '.join(w.upper())}\n" for w in words), encoding="utf-8")
    return p


def test_train_evaluate_translate_plot(tmp_path, pairs):
    runner = CliRunner()
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "seq2seq", "--data", str(pairs), "--out", str(out),
                            *_sets([*TINY, "data.tgt_level=word"])])
    assert r.exit_code == 0, r.output
    assert "test_exact_match=" in r.output and "test_bleu=" in r.output
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json"):
        assert (out / name).is_file(), name
    r = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert {"test_exact_match", "test_bleu", "test_cer", "test_wer", "test_token_error_rate"} <= set(m)
    assert m["test_exact_match"] == json.loads((out / "metrics.json").read_text())["test_exact_match"]
    # evaluation-time override: beam search, reported beside greedy; greedy part equals the stored run
    r = runner.invoke(app, ["evaluate", str(out), "--json", "--set", "model.beam_size=3"])
    assert r.exit_code == 0, r.output
    mb = json.loads(r.output)
    assert mb["beam_size"] == 3 and mb["test_exact_match_greedy"] == m["test_exact_match"]
    r = runner.invoke(app, ["evaluate", str(out), "--set", "model.hidden_size=32"])  # changes the weights
    assert r.exit_code == 2 and "model.safetensors" in r.output and "do not fit" in r.output
    png = tmp_path / "align.png"
    r = runner.invoke(app, ["translate", str(out), "abc", "dca", "--beam", "3", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    lines = r.output.split("\n")
    assert len(lines) >= 3 and png.is_file() and png.stat().st_size > 1000
    # the CLI's output is the library's translation
    import rnnkit
    assert lines[:2] == rnnkit.load(out).translate(["abc", "dca"], beam=3)


def test_bad_inputs_are_one_line_errors(tmp_path, pairs):
    runner = CliRunner()
    bad = tmp_path / "bad.tsv"
    bad.write_text("abc\tA B C\nabd\t\n", encoding="utf-8")
    r = runner.invoke(app, ["train", "seq2seq", "--data", str(bad), "--out", str(tmp_path / "x"), *_sets(TINY)])
    assert r.exit_code == 2 and "bad.tsv:2: empty target" in r.output
    out = tmp_path / "run"
    r = runner.invoke(app, ["train", "seq2seq", "--data", str(pairs), "--out", str(out), *_sets(TINY)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["translate", str(out), "a" * 13])
    assert r.exit_code == 2 and "more than the model's max_len=12" in r.output
    r = runner.invoke(app, ["translate", str(out), "  "])
    assert r.exit_code == 2 and "empty" in r.output
    r = runner.invoke(app, ["train", "seq2seq", "--data", str(pairs), "--set", "model.attention=luong"])
    assert r.exit_code == 2 and "additive" in r.output
