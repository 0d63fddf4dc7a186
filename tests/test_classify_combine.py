"""Text classifiers combined with TF-IDF + logistic regression (rnnkit.apps.classify_combine): the saved
member predicts as scikit-learn's fitted pipeline does, the choice is made on validation, and every way of
predicting (the estimator, a reloaded run, `rnnkit predict`, evaluate) answers with the chosen blend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit import SequenceClassifier
from rnnkit.apps.classify_combine import CANDIDATES, MAX_FEATURES, NearestMember, TfidfMember
from rnnkit.errors import ConfigError

POS, NEG = ["great", "fine", "superb", "lovely", "good"], ["dull", "bad", "awful", "boring", "poor"]


def texts(n: int, seed: int, classes: int = 2) -> tuple[list[str], list[str]]:
    """Twelve filler words and one word that names the class, in a random order: a bag of words reads the
    class off at once; a one-epoch, eight-unit GRU cannot."""
    rng = np.random.default_rng(seed)
    cue = [POS, NEG, ["odd", "weird", "strange"]][:classes]
    filler = [f"w{i}" for i in range(200)]
    xs, ys = [], []
    for i in range(n):
        c = i % classes
        words = [*rng.choice(filler, 12), rng.choice(cue[c])]
        rng.shuffle(words)
        xs.append(" ".join(words))
        ys.append(f"c{c}")
    return xs, ys


@pytest.mark.parametrize("classes", [2, 3])
def test_the_saved_member_predicts_as_scikit_learns_pipeline(classes) -> None:
    """The reference: TfidfVectorizer + LogisticRegression fitted with the same settings; the member after
    a JSON round trip (float32 weights) gives their probabilities."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    x, y = texts(120, 0, classes)
    xt, _ = texts(40, 1, classes)
    yi = np.array([int(v[1:]) for v in y])
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=MAX_FEATURES)
    want = LogisticRegression(C=10.0, max_iter=2000, random_state=0).fit(vec.fit_transform(x), yi) \
        .predict_proba(vec.transform(xt))
    member = TfidfMember.from_json(json.loads(json.dumps(TfidfMember.fit(x, yi, classes).to_json())))
    np.testing.assert_allclose(member.proba(xt), want, atol=1e-5)


def test_a_class_the_member_never_saw_gets_no_probability() -> None:
    x, y = texts(60, 0, 2)
    member = TfidfMember.fit(x, np.array([2 * int(v[1:]) for v in y]), 3)  # classes 0 and 2 of 3
    p = member.proba(x[:5])
    assert p.shape == (5, 3) and np.all(p[:, 1] == 0) and np.allclose(p.sum(1), 1)


def test_auto_chooses_on_validation_and_every_prediction_uses_the_choice(tmp_path) -> None:
    import rnnkit
    from rnnkit.apps.classify_predict import predict_run

    x, y = texts(300, 0)
    xt, yt = texts(100, 1)
    clf = SequenceClassifier(hidden_size=8, epochs=1, verbose=0, random_state=0).fit(x, y, out=tmp_path / "run")
    chosen = clf.artifacts_["combine.json"]
    acc = chosen["val_accuracy"]
    assert chosen["rule"] == "auto" and set(acc) == set(CANDIDATES) and chosen["n_val"] == 30
    assert chosen["combination"] != "network" and acc[chosen["combination"]] == max(acc.values()) > acc["network"]
    # the estimator's probabilities are the blend of the network's and the member's
    import torch

    from rnnkit.apps.classify import predict_logits

    w = CANDIDATES[chosen["combination"]]
    net = torch.softmax(predict_logits(clf.model_, clf._encode(xt)), -1).numpy()
    member = TfidfMember.from_json(chosen["member"]).proba(xt)
    np.testing.assert_allclose(clf.predict_proba(xt), (1 - w) * net + w * member, atol=1e-5)
    m = clf.evaluate(xt, yt)
    assert m["combination"] == chosen["combination"] and m["test_accuracy"] > m["network"]["test_accuracy"] + 0.2
    assert clf.vs_baselines_["combination"] == chosen["combination"]
    # a reloaded run and `rnnkit predict` answer the same
    again = rnnkit.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict_proba(xt), clf.predict_proba(xt), atol=1e-6)
    got = predict_run(tmp_path / "run", xt[:3])
    np.testing.assert_allclose([r["probability"] for r in got], clf.predict_proba(xt[:3]).max(1), atol=1e-5)
    # an ONNX export holds the network alone and its manifest says what predicts
    from rnnkit.export import export_run

    manifest = export_run(tmp_path / "run", tmp_path / "onnx")
    assert manifest["combine"]["combination"] == chosen["combination"] and "members" not in manifest["combine"]
    assert json.loads((tmp_path / "onnx" / "combine.json").read_text())["combination"] == chosen["combination"]
    # `rnnkit evaluate` says what predicts; --set model.combine=network scores the network alone
    from typer.testing import CliRunner

    from rnnkit.cli import app
    from rnnkit.tasks import evaluate_run

    csv = tmp_path / "t.csv"
    csv.write_text("text,label\n" + "".join(f"{a},{b}\n" for a, b in zip(x + xt, y + yt)))
    r = CliRunner().invoke(app, ["train", "classify", "--data", str(csv), "--out", str(tmp_path / "cli"),
                                 "--set", "train.epochs=1", "--set", "model.hidden_size=8", "--sample", "0"])
    assert r.exit_code == 0, r.output
    assert "predictions: " in r.output and "(model.combine); the network alone: test_accuracy=" in r.output
    alone = evaluate_run(tmp_path / "cli", overrides=["model.combine=network"])
    saved = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert "combination" not in alone and alone["test_accuracy"] == pytest.approx(saved["network"]["test_accuracy"])


def test_combine_none_keeps_the_network_alone_and_images_have_no_member() -> None:
    from rnnkit.tasks import make_run_config

    x, y = texts(100, 0)

    clf = SequenceClassifier(hidden_size=8, epochs=1, combine="none", verbose=0).fit(x, y)
    assert "combine.json" not in clf.artifacts_ and clf.config_.model.combine == "none"
    from rnnkit.apps.classify_combine import check_combine

    cfg = make_run_config("classify", ["model.combine=mean"], None)
    check_combine(cfg, "text")
    with pytest.raises(ConfigError, match="model.combine='mean' on series inputs predicts the labels of 1nn_dtw"):
        check_combine(cfg, "series")  # one-hot votes: the mean is the baseline
    check_combine(make_run_config("classify", ["model.combine=baseline"], None), "series")
    with pytest.raises(ConfigError, match="model.combine='mean' blends the network with its kind's baseline; "
                                          "image inputs have none"):
        check_combine(cfg, "image")  # images read as rows (digits, MNIST): before the first training step


def test_series_combine_with_1nn_dtw_and_the_member_is_the_baseline() -> None:
    """Two shapes a 1-NN DTW tells apart at once, shifted in time; a network trained one epoch cannot. The
    saved member answers as :func:`nn1_dtw` over the normalised training series."""
    from rnnkit.baselines.classify import nn1_dtw

    rng = np.random.default_rng(3)
    t = np.linspace(0, 1, 40)

    def series(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % 2
        shift = rng.uniform(-0.15, 0.15, n)[:, None]
        x = np.where(y[:, None] == 1, np.sin(8 * (t - shift)), np.sign(np.sin(8 * (t - shift))))
        return (x + rng.normal(0, 0.1, x.shape)).astype(np.float32)[:, :, None], y

    x, y = series(120)
    xt, yt = series(40)
    clf = SequenceClassifier(hidden_size=4, epochs=1, verbose=0, random_state=0).fit(x, y)
    chosen = clf.artifacts_["combine.json"]
    assert chosen["member_name"] == "1nn_dtw" and set(chosen["val_accuracy"]) == {"network", "baseline"}
    member = NearestMember.from_json(json.loads(json.dumps(chosen["member"])))
    seqs = clf._encode(xt)
    want = nn1_dtw(member.series, member.y, seqs)
    np.testing.assert_array_equal(member.proba(seqs).argmax(1), want)
    assert len(member.series) == 120  # refitted on every training series (validation part too)
    assert chosen["combination"] == "baseline" and chosen["val_accuracy"]["network"] < 0.7
    np.testing.assert_array_equal(clf.predict(xt), want)
    assert clf.evaluate(xt, yt)["test_accuracy"] >= 0.95
    v = clf.vs_baselines_  # the model is 1-NN DTW's values, chosen: not "behind" the baseline it is
    assert v["combination"] == "baseline" and not v["behind"] and v["model"] >= v["baseline"]


def test_given_validation_data_stays_out_of_the_member_and_a_huge_series_member_is_skipped(monkeypatch, caplog):
    from rnnkit.apps import classify_combine

    x, y = texts(200, 0)
    xv, yv = texts(60, 2)
    clf = SequenceClassifier(hidden_size=8, epochs=1, verbose=0, random_state=0).fit(x, y, validation_data=(xv, yv))
    chosen = clf.artifacts_["combine.json"]
    assert chosen["n_val"] == 60
    alone = TfidfMember.fit(x, np.array([int(v[1:]) for v in y]), 2).to_json()
    assert chosen["member"]["vocabulary"] == alone["vocabulary"]  # fitted on the training data only
    monkeypatch.setattr(classify_combine, "MAX_SERIES_VALUES", 100)
    series = np.random.default_rng(0).normal(size=(40, 10, 1)).astype(np.float32)
    with caplog.at_level("WARNING"):
        clf = SequenceClassifier(hidden_size=4, epochs=1, verbose=0).fit(series, np.arange(40) % 2)
    chosen = clf.artifacts_["combine.json"]
    assert chosen["combination"] == "network" and "member" not in chosen and "400 values" in chosen["rule"]
    assert "the network predicts alone" in caplog.text
