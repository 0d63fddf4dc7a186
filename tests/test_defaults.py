"""Data-aware defaults: a given data summary gives a given configuration, the user's own settings are
never replaced, recipes are taken as they are, and docs/defaults.md lists every rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.defaults import RULES, Summary, choose, summarise_sequences


def chosen(task: str, summary: Summary, fixed: set[str] = frozenset()) -> dict:
    return {k: v for k, v, _, _ in choose(task, summary, fixed)}


def test_numeric_series_get_the_lstm_fcn_family_and_their_normalisation() -> None:
    uni = chosen("classify", Summary("classify", "series", n_train=50, n_classes=2, length=150, features=1))
    assert uni["model.frontend"] == "fcn" and uni["model.cell"] == "lstm" and uni["data.normalize"] == "per_series"
    assert uni["data.val_fraction"] == 0.2 and uni["train.batch_size"] == 8 and uni["train.epochs"] == 333
    assert uni["train.early_stopping_patience"] == 84  # 500 steps of 6 batches
    multi = chosen("classify", Summary("classify", "series", n_train=270, n_classes=9, length=15, features=12))
    assert multi["data.normalize"] == "global" and "data.val_fraction" not in multi
    reg = chosen("regress", Summary("regress", "series", n_train=1000, length=24))
    assert reg["data.normalize"] == "global" and "model.class_weights" not in reg
    probed = chosen("regress", Summary("regress", "series", n_train=100, extra={"normalisation_probe": "per_series"}))
    assert probed["data.normalize"] == "per_series"


def test_the_normalisation_probe_reads_the_data() -> None:
    """Classes told apart by shape (levels are noise) want per-series scaling; a target that is a
    series' level wants it kept."""
    from rnnkit.defaults import normalisation_probe

    rng = np.random.default_rng(0)
    t = np.linspace(0, 6, 40)
    shapes = [np.sin(t), np.sign(np.sin(t))]
    y = rng.integers(0, 2, 120)
    xs = [shapes[c] * rng.uniform(0.5, 3) + rng.normal(0, 5) + rng.normal(0, 0.05, 40) for c in y]
    assert normalisation_probe("classify", xs, list(y)) == "per_series"
    levels = rng.normal(0, 10, 120)
    xs = [lv + rng.normal(0, 1, 40) for lv in levels]
    assert normalisation_probe("regress", xs, list(levels)) in ("global", "none")


def test_texts_images_and_imbalance() -> None:
    short = chosen("classify", Summary("classify", "text", n_train=300, n_classes=2, length=2))
    long = chosen("classify", Summary("classify", "text", n_train=8000, n_classes=8, length=300, max_length=900))
    assert short["data.tokenizer"] == "char" and short["model.hidden_size"] == 64 and short["data.min_freq"] == 1
    assert long["data.tokenizer"] == "word" and long["data.max_len"] == 400 and long["model.hidden_size"] == 128
    assert long["train.batch_size"] == 64 and long["train.epochs"] == 20  # 2,000 steps would be 16 epochs
    image = chosen("classify", Summary("classify", "image", n_train=1437, n_classes=10, length=8, features=8))
    assert image["model.bidirectional"] is True and image["data.normalize"] == "none"
    skewed = chosen("classify", Summary("classify", "text", n_train=5000, n_classes=8, imbalance=12.0, length=40))
    assert "model.class_weights" not in skewed and skewed["data.bucket"] is True  # accuracy is the measure
    assert short["model.combine"] == long["model.combine"] == "auto"  # texts: with TF-IDF where validation says
    assert "model.combine" not in image and "model.combine" not in chosen("regress", Summary("regress", "text"))


def test_forecast_rules_follow_the_series() -> None:
    monthly = chosen("forecast", Summary("forecast", "series", n_train=144, period=12, horizon=12, positive=True))
    assert monthly == {**monthly, "data.context": 36, "model.skip": "last", "data.scaler": "log1p",
                       "model.ensemble": 5}
    short = chosen("forecast", Summary("forecast", "series", n_train=36, period=12, horizon=6, positive=False))
    assert short["data.context"] == 12 and short["data.scaler"] == "standard"
    yearly = chosen("forecast", Summary("forecast", "series", n_train=5000, period=1, horizon=10))
    assert yearly["model.skip"] == "last" and "model.ensemble" not in yearly and yearly["data.context"] == 20
    assert monthly["model.combine"] == "auto"  # the network, ETS or ARIMA, chosen on probe origins
    # 15 years forecast 6 ahead: 9 rows before the held-out tail; the context leaves two windows (9 - 6 - 2 + 1)
    m1 = chosen("forecast", Summary("forecast", "series", n_train=15, period=1, horizon=6))
    assert m1["data.context"] == 2


def test_few_examples_per_class_train_on_all_of_them_for_a_fixed_run() -> None:
    """Two examples per class (PigCVP's 104 series of 52 classes): a stratified split would validate on
    one of each and train on the other; instead no split, early stopping off, a fixed 2,000 steps. From
    five per class on, the usual validation split stays; the summary counts the smallest class."""
    few = chosen("classify", Summary("classify", "series", n_train=104, n_classes=52, min_class=2, length=2000))
    assert few["data.val_fraction"] == 0.0 and few["train.early_stopping_patience"] == 0
    assert few["train.max_steps"] == 2000 and few["train.epochs"] is None
    enough = chosen("classify", Summary("classify", "series", n_train=50, n_classes=10, min_class=5, length=361))
    assert enough["data.val_fraction"] == 0.2 and enough["train.early_stopping_patience"] > 0
    assert chosen("regress", Summary("regress", "series", n_train=100, min_class=1))["data.val_fraction"] == 0.2
    from types import SimpleNamespace

    raw = SimpleNamespace(kind="series", train_x=[np.zeros((6, 1))] * 7, train_y=["a", "a", "a", "a", "b", "b", "c"])
    assert summarise_sequences("classify", raw).min_class == 1


def test_the_users_settings_are_never_replaced() -> None:
    s = Summary("classify", "series", n_train=50, n_classes=2, length=150)
    got = chosen("classify", s, {"model.frontend", "train.lr"})
    assert "model.frontend" not in got and "train.lr" not in got and got["model.cell"] == "lstm"


def test_task_names_choose_from_the_data_and_recipes_do_not(tmp_path) -> None:
    from rnnkit.tasks import make_run_config, resolve_defaults

    p = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(p, X=rng.normal(size=(60, 40)), y=np.arange(60) % 3)
    cfg = make_run_config("classify", ["model.cell=gru"], data=str(p))
    assert set(cfg.user_keys) == {"data.source", "model.cell"}
    resolved, raw, picked = resolve_defaults(cfg)
    assert resolved.user_keys is None and resolved.model.cell == "gru" and resolved.model.frontend == "fcn"
    assert {k for k, *_ in picked} >= {"model.frontend", "data.normalize"} and raw.kind == "series"
    recipe = make_run_config("classify-gunpoint", [], data=str(p))
    assert recipe.user_keys is None and resolve_defaults(recipe)[0] == recipe


def test_summaries_of_raw_data() -> None:
    from rnnkit.data.classify_sources import RawClassData

    xs = [np.zeros((n, 3), np.float32) for n in (5, 9, 7)]
    raw = RawClassData("series", xs, ["a", "a", "b"], [], [], ["r0", "r1", "r2"], [], "t")
    s = summarise_sequences("classify", raw)
    assert (s.n_train, s.n_classes, s.imbalance, s.length, s.max_length, s.features) == (3, 2, 2.0, 7, 9, 3)
    per = RawClassData("series", xs, [np.zeros(5), np.zeros(9), np.zeros(7)], [], [], ["r0", "r1", "r2"], [], "t")
    assert summarise_sequences("regress", per).per_step


@pytest.mark.parametrize("task", sorted(RULES))
def test_every_rule_is_documented(task) -> None:
    text = (Path(__file__).parents[1] / "docs" / "defaults.md").read_text()
    for rule in RULES[task]:
        assert f"`{rule.name}`" in text, f"docs/defaults.md does not describe rule {rule.name!r} ({task})"
