"""classify end to end on tiny fixture files: CLI train / evaluate --json / predict, model directory
round trip, and bad inputs that must fail with an error naming the row."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.classify_sources import load_raw
from rnnkit.errors import DataError

TINY = ["train.max_steps=30", "train.eval_every=10", "train.log_every=10", "train.batch_size=8",
        "model.hidden_size=16", "model.embed_dim=8", "data.min_freq=1", "train.lr=0.01", "train.max_minutes=none",
        "model.input_dropout=0", "model.head_dropout=0"]
GOOD = ["great", "wonderful", "superb", "lovely", "delight"]
BAD = ["awful", "terrible", "boring", "dreadful", "dull"]


def _sets(items):
    return [a for item in items for a in ("--set", item)]


def _reviews(path, n=60, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["text,label"]
    for i in range(n):
        pos = i % 2 == 0
        words = list(rng.choice(GOOD if pos else BAD, 3)) + ["film", "the"]
        rng.shuffle(words)
        lines.append(f"{' '.join(words)},{'pos' if pos else 'neg'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_train_evaluate_predict_on_a_tiny_csv(tmp_path):
    runner = CliRunner()
    data, out = _reviews(tmp_path / "reviews.csv"), tmp_path / "run"
    r = runner.invoke(app, ["train", "classify", "--data", str(data), "--out", str(out), "--text-column", "text",
                            "--label-column", "label", *_sets([*TINY, "model.pooling=attention"])])
    assert r.exit_code == 0, r.output
    assert "test_accuracy=" in r.output and "baseline tfidf_logreg" in r.output
    assert (out / "confusion.png").is_file() and (out / "tokenizer.json").is_file()
    r = runner.invoke(app, ["evaluate", str(out), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.output)
    assert {"test_accuracy", "test_macro_f1", "baselines"} <= set(m)
    assert m["test_accuracy"] > m["baselines"]["majority"]["test_accuracy"]  # learned beyond guessing
    assert m["below_majority"] is False
    r = runner.invoke(app, ["predict", str(out), "the wonderful superb film lovely", "awful dull the film boring",
                            "--json", "--attention", str(tmp_path / "att.png")])
    assert r.exit_code == 0, r.output
    preds = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert [p["label"] for p in preds] == ["pos", "neg"]
    assert (tmp_path / "att.png").stat().st_size > 0


def test_predict_from_loaded_directory_equals_predict_before_saving(tmp_path):
    from rnnkit.apps.classify_predict import predict_raw
    from rnnkit.tasks import load_run, make_run_config, train_run

    data = _reviews(tmp_path / "r.csv")
    cfg = make_run_config("classify", [*TINY, "data.baselines=false", "model.bidirectional=true"], data=str(data))
    outcome = train_run(cfg, tmp_path / "run")
    outcome.model.run_config, outcome.model.artifacts = cfg, json.loads(json.dumps(
        {k: json.loads((tmp_path / "run" / k).read_text()) for k in ("labels.json", "tokenizer.json")}))
    texts = ["lovely delight", "dreadful the film", "unknownword"]
    before = predict_raw(outcome.model, texts)
    after = predict_raw(load_run(tmp_path / "run"), texts)
    assert [b["label"] for b in before] == [a["label"] for a in after]
    for b, a in zip(before, after):
        for k in b["probabilities"]:
            assert a["probabilities"][k] == pytest.approx(b["probabilities"][k], abs=1e-6)


def test_series_npz_and_jsonl_sources(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6, 2)).astype(np.float32)
    y = np.array([0, 1] * 10)
    np.savez(tmp_path / "s.npz", X=X, y=y)
    raw = load_raw(str(tmp_path / "s.npz"), test_fraction=0.25)
    assert raw.kind == "series" and len(raw.train_x) + len(raw.test_x) == 20
    assert len(raw.test_x) == 4  # stratified: round(0.25 * 10) = 2 per class
    np.savez(tmp_path / "bad.npz", A=X)
    with pytest.raises(DataError, match="X_train, y_train, X_test, y_test"):
        load_raw(str(tmp_path / "bad.npz"))
    (tmp_path / "s.jsonl").write_text("\n".join(json.dumps({"text": [1, 2, 3][: 1 + i % 3], "label": i % 2})
                                                for i in range(10)) + "\n")
    raw = load_raw(str(tmp_path / "s.jsonl"))
    assert raw.kind == "series"


def test_a_wide_csv_is_one_numeric_series_per_row(tmp_path):
    """The UCR archive's CSV layout (a label, then one column per step; a saved X matrix beside its labels):
    read as series, equal to the values written, trailing empty cells ending a shorter series; a cell that is
    not a number is one line naming its row and column; a table with a text column is still texts."""
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(20, 5)), 3)
    lines = ["y,t0,t1,t2,t3,t4"] + [f"c{i % 2}," + ",".join(map(str, x)) for i, x in enumerate(X)]
    lines[3] = lines[3].rsplit(",", 2)[0] + ",,"  # row 3 (file line 4): a series of 3 steps
    (tmp_path / "w.csv").write_text("\n".join(lines) + "\n")
    raw = load_raw(str(tmp_path / "w.csv"), label_column="y", test_fraction=0.25)
    assert raw.kind == "series" and len(raw.train_x) + len(raw.test_x) == 20
    by_line = dict(zip(raw.train_where + raw.test_where, raw.train_x + raw.test_x))
    np.testing.assert_allclose(by_line[f"{tmp_path / 'w.csv'}:2"], X[0], rtol=1e-6)
    np.testing.assert_allclose(by_line[f"{tmp_path / 'w.csv'}:4"], X[2][:3], rtol=1e-6)
    lines[5] = lines[5].replace(",", ",n/a,", 1).rsplit(",", 1)[0]  # a text cell in the middle of row 5
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.csv:6: column 't0' holds 'n/a', not a number"):
        load_raw(str(tmp_path / "bad.csv"), label_column="y")
    # trained from the wide CSV, a run predicts new rows given the same way, without their labels
    out = tmp_path / "run"
    r = CliRunner().invoke(app, ["train", "classify", "--data", str(tmp_path / "w.csv"), "--label-column", "y",
                                 "--out", str(out), *_sets([*TINY, "model.combine=none", "model.frontend=none"])])
    assert r.exit_code == 0, r.output
    (tmp_path / "new.csv").write_text("t0,t1,t2,t3,t4\n" + "\n".join(",".join(map(str, x)) for x in X[:4]) + "\n")
    r = CliRunner().invoke(app, ["predict", str(out), "--input", str(tmp_path / "new.csv"), "--json"])
    assert r.exit_code == 0, r.output
    preds = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    from rnnkit.estimators import load

    again = load(out).predict([x.astype(np.float32) for x in X[:4]])
    assert [p["label"] for p in preds] == [str(v) for v in again]
    (tmp_path / "t.csv").write_text("text,label\n1.5,a\n2.5,b\n")  # a text column: texts, even numeric ones
    assert load_raw(str(tmp_path / "t.csv"), test_fraction=0.5).kind == "text"
    (tmp_path / "words.csv").write_text("label,comment\na,good\nb,bad\n")  # no text column, not numbers
    with pytest.raises(DataError, match="no column 'text'"):
        load_raw(str(tmp_path / "words.csv"))


@pytest.mark.parametrize("rows, match", [
    (["hello there,a", ",b"], r"bad.csv:3: empty text"),
    (["hello,a", "there,"], r"bad.csv:3: missing label"),
])
def test_bad_rows_are_named(tmp_path, rows, match):
    from rnnkit.apps.classify import prepare_data
    from rnnkit.tasks import make_run_config

    p = tmp_path / "bad.csv"
    p.write_text("text,label\n" + "\n".join(rows * 1) + "\n" + "\n".join(f"word{i},a" for i in range(6)) + "\n")
    with pytest.raises(DataError, match=match):
        prepare_data(make_run_config("classify", [], data=str(p)))


def test_unseen_test_label_and_missing_column_and_nan(tmp_path):
    from rnnkit.apps.classify import prepare_data
    from rnnkit.tasks import make_run_config

    tr, te = tmp_path / "tr.csv", tmp_path / "te.csv"
    tr.write_text("text,label\n" + "\n".join(f"w{i},{'ab'[i % 2]}" for i in range(8)) + "\n")
    te.write_text("text,label\nfine,a\nnew one,c\n")
    with pytest.raises(DataError, match=r"te.csv:3: label 'c' never occurs in the training split"):
        prepare_data(make_run_config("classify", [f"data.test_source={te}"], data=str(tr)))
    with pytest.raises(DataError, match=r"no column 'body'; columns: text, label"):
        prepare_data(make_run_config("classify", ["data.text_column=body"], data=str(tr)))
    js = tmp_path / "s.jsonl"
    js.write_text("\n".join(json.dumps({"text": [1.0, 2.0], "label": i % 2}) for i in range(6))
                  + '\n{"text": [1.0, NaN], "label": 0}\n')
    with pytest.raises(DataError, match=r"s.jsonl:7: NaN"):
        prepare_data(make_run_config("classify", ["data.test_fraction=0.3"], data=str(js)))
    r = CliRunner().invoke(app, ["train", "classify", "--data", str(tmp_path / "missing.csv")])
    assert r.exit_code == 2 and "data file not found" in r.output


def test_ts_file_with_missing_values_is_reported(tmp_path):
    from rnnkit.apps.classify import prepare_data
    from rnnkit.tasks import make_run_config

    ts = tmp_path / "x.ts"
    body = "\n".join(f"{i},{i + 1},{i + 2}:{'ab'[i % 2]}" for i in range(6))
    ts.write_text(f"@problemName x\n@univariate true\n@classLabel true a b\n@data\n{body}\n1,?,3:a\n")
    with pytest.raises(DataError, match=r"x.ts\[6\]: NaN"):
        prepare_data(make_run_config("classify", [], data=str(ts)))
    torch.manual_seed(0)
