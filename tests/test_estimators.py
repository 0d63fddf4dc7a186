"""The Python estimators: they learn real data and beat their baselines, take every input form,
keep the held-out discipline, predict in eval mode, save and load exactly, and fail clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import DataError
from rnnkit.estimators import SequenceClassifier, SequenceRegressor

FAST = dict(hidden_size=16, epochs=8, verbose=0, random_state=0)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)  # (1797, 8, 8): 8 rows of 8 pixels, read row by row
    Xtr, Xte, ytr, yte = train_test_split(X, d.target, train_size=1000, stratify=d.target, random_state=0)
    return Xtr, ytr, Xte, yte


def test_classifier_learns_digits_and_beats_the_majority(digits) -> None:
    Xtr, ytr, Xte, yte = digits
    clf = SequenceClassifier(hidden_size=64, bidirectional=True, pooling="mean", epochs=30, lr=5e-3, verbose=0,
                             random_state=0)
    clf.fit(Xtr, ytr, batch_size=32, validation_split=0.1)
    m = clf.evaluate(Xte, yte)
    assert m["test_accuracy"] > 0.93 and m["test_accuracy"] > m["baselines"]["majority"]["test_accuracy"] + 0.8
    # beside 1-NN on the same training data (0.986 here): close, and the gap is reported, not hidden
    assert m["test_accuracy"] > m["baselines"]["1nn_euclidean"]["test_accuracy"] - 0.05
    assert m["test_accuracy_vs_best_baseline"] == pytest.approx(
        m["test_accuracy"] - max(v["test_accuracy"] for k, v in m["baselines"].items() if k != "majority"))
    assert clf.score(Xte, yte) == pytest.approx(m["test_accuracy"])
    assert list(clf.classes_) == list(range(10)) and clf.n_features_in_ == 8
    evals = clf.history_.steps
    assert np.all(np.diff(evals) == 29)  # one evaluation per epoch (900 examples / 32)


def test_every_input_form_gives_the_same_model(tmp_path) -> None:
    """numpy (N, T, F), a list of arrays, a DataFrame of steps and a torch Dataset / DataLoader are
    one data set: the fitted models agree to the last digit."""
    import pandas as pd
    from torch.utils.data import DataLoader, TensorDataset

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 6)).astype(np.float32)
    y = (X[:, :3].sum(1) > 0).astype(int)
    ref = SequenceClassifier(**FAST).fit(X, y).predict_proba(X)
    forms = [X[:, :, None], list(X[:, :, None]), pd.DataFrame(X)]
    for form in forms:
        np.testing.assert_array_equal(SequenceClassifier(**FAST).fit(form, y).predict_proba(X), ref)
    ds = TensorDataset(torch.from_numpy(X[:, :, None]), torch.from_numpy(y))
    np.testing.assert_array_equal(SequenceClassifier(**FAST).fit(ds).predict_proba(X), ref)
    np.testing.assert_array_equal(SequenceClassifier(**FAST).fit(DataLoader(ds, batch_size=7)).predict_proba(ds), ref)


def test_variable_lengths_are_inferred_and_padding_never_changes_a_prediction() -> None:
    rng = np.random.default_rng(1)
    X = [rng.normal(size=(int(n), 2)).astype(np.float32) for n in rng.integers(3, 15, 80)]
    y = [int(x[:, 0].mean() > 0) for x in X]
    clf = SequenceClassifier(**FAST).fit(X, y)
    together = clf.predict_proba(X)
    alone = np.concatenate([clf.predict_proba([x]) for x in X[:10]])
    np.testing.assert_allclose(alone, together[:10], atol=1e-6)
    nan_padded = np.full((len(X), 14, 2), np.nan, np.float32)  # the same series in one NaN-padded array
    for i, x in enumerate(X):
        nan_padded[i, : len(x)] = x
    np.testing.assert_allclose(clf.predict_proba(nan_padded), together, atol=1e-6)


def test_texts_and_token_ids_and_a_text_dataframe() -> None:
    import pandas as pd

    texts = ["a great film", "a dull plot", "great acting", "dull and slow", "truly great", "slow dull mess"] * 10
    labels = ["pos", "neg", "pos", "neg", "pos", "neg"] * 10
    clf = SequenceClassifier(**{**FAST, "epochs": 15}).fit(texts, labels)
    assert list(clf.predict(["great great", "dull slow"])) == ["pos", "neg"]
    np.testing.assert_array_equal(SequenceClassifier(**{**FAST, "epochs": 15}).fit(
        pd.DataFrame({"review": texts}), pd.Series(labels)).predict_proba(texts), clf.predict_proba(texts))
    # Keras-style padded id matrices: pre- and post-padding read as the same sequences
    ids = [[3, 5, 2], [4, 1], [3, 3, 3, 5], [4, 4]] * 10
    y = [1, 0, 1, 0] * 10
    post = np.array([s + [0] * (4 - len(s)) for s in ids])
    pre = np.array([[0] * (4 - len(s)) + s for s in ids])
    tok = SequenceClassifier(**FAST).fit(post, y)
    np.testing.assert_allclose(tok.predict_proba(pre), tok.predict_proba(post), atol=1e-6)


def test_validation_split_is_stratified_and_encoders_see_only_the_training_part() -> None:
    texts = [f"common word{i} tail" for i in range(40)]
    labels = [i % 2 for i in range(40)]
    clf = SequenceClassifier(**FAST).fit(texts, labels, validation_split=0.25)
    b = clf._bundle
    val_words = {f"word{i}" for i in b.val_idx}
    assert sorted(np.bincount(np.asarray(labels)[b.val_idx])) == [5, 5]  # a quarter of each class
    assert not val_words & set(b.encoder.vocab.itos)  # the vocabulary never saw a validation text
    assert {f"word{i}" for i in b.fit_idx} <= set(b.encoder.vocab.itos)


def test_predict_runs_in_eval_mode_and_save_load_is_exact(tmp_path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 5, 3)).astype(np.float32)
    y = np.where(X[:, :, 0].mean(1) > 0, 10, 20)  # integer labels come back as integers
    clf = SequenceClassifier(**FAST, dropout=0.5, num_layers=2, head_dropout=0.5).fit(X, y)
    first, second = clf.predict_proba(X), clf.predict_proba(X)
    np.testing.assert_array_equal(first, second)
    clf.save(tmp_path / "m")
    back = rnnkit.load(tmp_path / "m")
    np.testing.assert_array_equal(back.predict_proba(X), first)
    assert back.predict(X[:3]).tolist() == clf.predict(X[:3]).tolist() and isinstance(back.predict(X)[0].item(), int)
    assert (tmp_path / "m" / "curves.png").stat().st_size > 1000 and (tmp_path / "m" / "metrics.jsonl").is_file()
    # the CLI reads what Python wrote
    from typer.testing import CliRunner

    from rnnkit.cli import app

    r = CliRunner().invoke(app, ["predict", str(tmp_path / "m"), "0.1,0.2,0.3;0.3,0.1,0.2"])
    assert r.exit_code == 0 and r.output.split()[0] in ("10", "20")


@pytest.mark.parametrize("bad, message", [
    (lambda X, y: (X[:, :, :2], y), "2 features per step, expected 3"),
    (lambda X, y: (["some text"] * len(X), y), "reads numeric series, but X holds texts"),
    (lambda X, y: (X[:, 0, 0], y), "Reshape your data"),
])
def test_wrong_inputs_at_predict_name_expected_and_received(bad, message) -> None:
    X = np.random.default_rng(3).normal(size=(20, 4, 3)).astype(np.float32)
    y = np.arange(20) % 2
    clf = SequenceClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    with pytest.raises(DataError, match=message):
        clf.predict(bad(X, y)[0])


@pytest.mark.parametrize("y, message", [
    (np.arange(19) % 2, "20 examples but y has 19 targets"),
    ([0, 1] * 9 + [None, 1], r"y\[18\]: a missing label"),
    (np.linspace(0, 1, 20), "continuous"),
    (np.zeros(20), "one class only"),
])
def test_bad_labels_fail_before_training(y, message) -> None:
    X = np.random.default_rng(3).normal(size=(20, 4, 3)).astype(np.float32)
    with pytest.raises(DataError, match=message):
        SequenceClassifier(**FAST).fit(X, y)


def test_regressor_predicts_real_sunspots_better_than_the_mean() -> None:
    """Next year's sunspot activity from the previous 11 years (statsmodels' yearly series, 1700-2008)."""
    import statsmodels.datasets

    s = statsmodels.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float32)
    X = np.stack([s[i:i + 11] for i in range(len(s) - 11)])[:, :, None]
    y = s[11:]
    reg = SequenceRegressor(hidden_size=32, pooling="last", lr=5e-3, epochs=40, verbose=0, random_state=0)
    reg.fit(X[:240], y[:240])
    m = reg.evaluate(X[240:], y[240:])
    assert m["test_r2"] > 0.5 and not m["below_mean"]
    assert m["test_rmse"] < 0.7 * m["baselines"]["mean"]["test_rmse"]
    assert m["test_rmse"] < 1.3 * m["baselines"]["ridge"]["test_rmse"]  # near the linear AR(11) model
    assert reg.predict(X[240:]).shape == (len(y) - 240,) and not reg.per_step_


def test_regressor_many_to_many_with_variable_lengths(tmp_path) -> None:
    rng = np.random.default_rng(4)
    X = [rng.normal(size=(int(n), 1)).astype(np.float32) for n in rng.integers(4, 12, 200)]
    y = [np.cumsum(x[:, 0]) for x in X]  # the running sum: one target per step
    reg = SequenceRegressor(hidden_size=32, epochs=30, lr=5e-3, verbose=0, random_state=0).fit(X, y)
    assert reg.per_step_ and reg.score(X, y) > 0.9
    pred = reg.predict(X[:5])
    assert [len(p) for p in pred] == [len(x) for x in X[:5]]
    reg.save(tmp_path / "r")
    for a, b in zip(rnnkit.load(tmp_path / "r").predict(X[:5]), pred):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(DataError, match="per-step targets for an input of"):
        SequenceRegressor(**FAST, per_step=True).fit(X[:10], [y_[:-1] for y_ in y[:10]])


def test_history_callbacks_and_early_stopping() -> None:
    from rnnkit.callbacks import EarlyStopping

    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(40, 5, 2)).astype(np.float32), np.arange(40) % 2  # nothing to learn
    clf = SequenceClassifier(**{**FAST, "epochs": 50}).fit(X, y, callbacks=[EarlyStopping("val_accuracy", patience=2)])
    h = clf.history_
    assert clf.fit_result_.stop_reason == "callback" and len(h.steps) < 50
    assert {"loss", "val_loss", "val_accuracy"} <= set(h.history) and len(h.history["val_loss"]) == len(h.steps)
    assert h.epoch == list(range(len(h.steps)))


def test_language_model_learns_real_text_and_generates(tmp_path) -> None:
    """Python's own documentation text (pydoc topics, real English shipped with the interpreter)."""
    import pydoc_data.topics

    text = "\n".join(pydoc_data.topics.topics.values())
    lm = rnnkit.CharLM(hidden_size=128, seq_len=50, batch_size=16, verbose=0)
    lm.fit(text[:200_000], minutes=0.2, validation_data=text[200_000:220_000])
    m = lm.evaluate(text[220_000:240_000])
    assert m["test_bpc"] < m["baselines"]["unigram"]["test_bpc"] - 0.8  # well past character frequencies
    out = lm.generate("The ", 60, temperature=0.8, seed=1)
    assert len(out) == 60 and out == lm.generate("The ", 60, temperature=0.8, seed=1)
    lm.save(tmp_path / "lm")
    assert rnnkit.load(tmp_path / "lm").generate("The ", 60, temperature=0.8, seed=1) == out


def test_forecaster_on_a_real_quarterly_frame() -> None:
    import pandas as pd
    import statsmodels.datasets

    m = statsmodels.datasets.macrodata.load_pandas().data
    df = pd.DataFrame({"quarter": [f"{int(a)}Q{int(q)}" for a, q in zip(m.year, m.quarter)],
                       "realgdp": m.realgdp, "unemp": m.unemp})
    fc = rnnkit.Forecaster(horizon=8, context=16, scaler="standard", skip="last", max_steps=200, ensemble=1, verbose=0,
                           random_state=0).fit(df, time="quarter", target="realgdp")
    assert {"naive", "seasonal_naive", "ets", "arima"} <= set(fc.metrics_["baselines"])
    assert np.isfinite(fc.metrics_["test_mase"]) and "skill_vs_best_baseline" in fc.metrics_
    out = fc.predict()
    assert list(out["time"][:2]) == ["2009Q4", "2010Q1"] and len(out) == 8 and set(out["series"]) == {"realgdp"}
    assert fc.evaluate()["test_mase"] == pytest.approx(fc.metrics_["test_mase"])


def test_seq2seq_pairs_translate_save_load(tmp_path) -> None:
    pairs = [(w, w[::-1]) for w in ("abc", "bca", "cab", "abca", "bbca", "acab", "cabb", "aacb", "bcab", "caab") * 6]
    s2s = rnnkit.Seq2Seq(hidden_size=16, embed_size=8, max_steps=30, batch_size=16, verbose=0)
    s2s.fit([p[0] for p in pairs], [p[1] for p in pairs], validation_data=pairs[:5])
    out = s2s.translate(["abc", "cab"])
    assert len(out) == 2 and all(isinstance(t, str) for t in out) and s2s.translate("abc") == out[0]
    m = s2s.evaluate(pairs[:10])
    assert {"test_exact_match", "test_cer"} <= set(m) and "copy source" in m["baselines"]
    s2s.save(tmp_path / "s")
    assert rnnkit.load(tmp_path / "s").translate(["abc", "cab"], beam=2) == s2s.translate(["abc", "cab"], beam=2)


def test_global_scaler_is_fitted_on_the_training_part_only() -> None:
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 6, 2)).astype(np.float32) + np.arange(40, dtype=np.float32)[:, None, None]
    y = np.arange(40) % 2
    clf = SequenceClassifier(**FAST, normalize="global").fit(X, y, validation_split=0.25)
    b = clf._bundle
    np.testing.assert_allclose(b.encoder.scaler.mean, X[b.fit_idx].reshape(-1, 2).mean(0), rtol=1e-5)
    assert not np.allclose(b.encoder.scaler.mean, X.reshape(-1, 2).mean(0), rtol=1e-3)


def test_the_cli_and_python_train_the_same_model(tmp_path) -> None:
    """`rnnkit train classify --data f.csv` is the estimator's fit_dataset: identical weights."""
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from rnnkit.cli import app
    from rnnkit.tasks import make_run_config

    rows = [("a fine film", "pos"), ("a poor film", "neg"), ("fine acting", "pos"), ("poor plot", "neg")] * 15
    csv = tmp_path / "r.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    sets = ["train.max_steps=20", "train.eval_every=10", "model.ensemble=1", "data.baselines=false",
            "model.hidden_size=8", "train.max_minutes=none"]
    r = CliRunner().invoke(app, ["train", "classify", "--data", str(csv), "--out", str(tmp_path / "cli"),
                                 "--sample", "0", *[x for s in sets for x in ("--set", s)]])
    assert r.exit_code == 0, r.output
    est = SequenceClassifier(recipe=make_run_config("classify", sets, str(csv)), verbose=0)
    est.fit_dataset(str(csv), out=tmp_path / "py")
    a, b = load_file(tmp_path / "cli" / "model.safetensors"), load_file(tmp_path / "py" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert est.metrics_["test_accuracy"] == pytest.approx(
        __import__("json").loads((tmp_path / "cli" / "metrics.json").read_text())["test_accuracy"])


def test_task_options_are_declared_by_the_task(tmp_path) -> None:
    from typer.testing import CliRunner

    from rnnkit.cli import app

    r = CliRunner().invoke(app, ["train", "classify", "--horizon", "12"])
    assert r.exit_code == 2 and "unknown option '--horizon' for task 'classify'" in r.output
    assert "--text-column" in r.output
    r = CliRunner().invoke(app, ["train", "--help"])
    assert r.exit_code == 0 and "regress" in r.output and "classify-digits" in r.output and "--horizon" in r.output


def test_verbose_two_prints_one_line_per_evaluation(capsys) -> None:
    X, y = np.random.default_rng(7).normal(size=(30, 4, 2)).astype(np.float32), np.arange(30) % 2
    SequenceClassifier(**{**FAST, "epochs": 3, "verbose": 2}).fit(X, y)
    err = capsys.readouterr().err
    assert err.count("val_loss") == 3 and "stopped: epochs after" in err
    SequenceClassifier(**{**FAST, "epochs": 3, "verbose": 0}).fit(X, y)
    assert "val_loss" not in capsys.readouterr().err  # (library warnings, e.g. a baseline ahead, still show)


def test_a_baseline_ahead_on_validation_is_said_and_recorded(tmp_path, caplog) -> None:
    """A target ridge regression gets exactly (a linear function of the inputs) and a model trained one
    epoch: the end of training names the baseline, both numbers and what would help."""
    from typer.testing import CliRunner

    from rnnkit.cli import app

    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 6, 1)).astype(np.float32)
    y = X[:, :, 0] @ rng.normal(size=6)
    with caplog.at_level("WARNING"):
        reg = SequenceRegressor(**{**FAST, "epochs": 1}).fit(X, y)
    v = reg.vs_baselines_
    assert v["behind"] and v["best_baseline"] == "ridge" and v["baseline"] < 1e-3 < v["model"]
    assert "the ridge baseline beats the model on validation: val_rmse" in caplog.text and "rnnkit tune" in caplog.text
    np.savez(tmp_path / "lin.npz", X=X[:, :, 0], y=y)
    r = CliRunner().invoke(app, ["train", "regress", "--data", str(tmp_path / "lin.npz"), "--out", str(tmp_path / "r"),
                                 "--set", "train.epochs=1", "--set", "model.hidden_size=8"])
    assert r.exit_code == 0, r.output
    assert "BEHIND A BASELINE" in r.output and "rnnkit tune regress --data" in r.output.replace("\n", "")
    saved = __import__("json").loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["vs_baselines"]["behind"] and saved["vs_baselines"]["best_baseline"] == "ridge"
