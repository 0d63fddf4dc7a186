"""A run directory a user can move around, share and trust: files with the user's umask, the data path
recorded absolutely (``rnnkit evaluate`` works from any directory), artifacts pinned by their sha256
(a tokenizer.json reordered or swapped is refused, not used to produce garbage), and ``--out`` naming
a file refused before any work."""

from __future__ import annotations

import json
import os
import stat

from typer.testing import CliRunner

from rnnkit.cli import app
from tests.test_classify_cli import TINY, _reviews, _sets


def _train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _reviews(tmp_path / "reviews.csv")
    r = CliRunner().invoke(app, ["train", "classify", "--data", "reviews.csv", "--out", "run", "--text-column", "text",
                                 "--label-column", "label", *_sets(TINY)])
    assert r.exit_code == 0, r.output
    return tmp_path / "run"


def test_run_files_follow_the_umask_and_evaluate_runs_from_elsewhere(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        run = _train(tmp_path, monkeypatch)
    finally:
        os.umask(old)
    for name in ("config.json", "tokenizer.json", "labels.json", "metrics.json"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
    source = json.loads((run / "config.json").read_text())["data"]["source"]
    assert os.path.isabs(source) and source.endswith("reviews.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = CliRunner().invoke(app, ["evaluate", str(run), "--json"])
    assert r.exit_code == 0, r.output
    assert "test_accuracy" in json.loads(r.output)


def test_a_changed_tokenizer_is_refused(tmp_path, monkeypatch):
    run = _train(tmp_path, monkeypatch)
    path = run / "tokenizer.json"
    tok = json.loads(path.read_text())
    vocab_key = next(k for k, v in tok.items() if isinstance(v, list) and len(v) > 3)
    tok[vocab_key] = tok[vocab_key][:2] + tok[vocab_key][2:][::-1]  # the same words in another order
    path.write_text(json.dumps(tok))
    r = CliRunner().invoke(app, ["predict", str(run), "a wonderful film"])
    assert r.exit_code == 2
    assert "tokenizer.json is not the file this model was trained with" in r.output
    assert "Traceback" not in r.output


def test_out_naming_a_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _reviews(tmp_path / "reviews.csv")
    (tmp_path / "afile").write_text("keep me\n")
    r = CliRunner().invoke(app, ["train", "classify", "--data", "reviews.csv", "--out", "afile", "--text-column",
                                 "text", "--label-column", "label", *_sets(TINY)])
    assert r.exit_code == 2 and "afile" in r.output and "Traceback" not in r.output
    assert (tmp_path / "afile").read_text() == "keep me\n"
