"""Data-aware defaults: a table of rules from a summary of the training data to a configuration.

When the user names a task rather than a recipe (``rnnkit train classify --data X``, or an estimator
without ``recipe=``), every config key the user did not set is chosen here from what the data is:
text or numeric series or images read as rows, how many examples, how long, how many channels,
classes and their balance, the frequency and length of a series, the size of a corpus. Each rule
names itself, so the CLI prints the chosen value of every key and the rule that chose it (as
``explain_backend()`` does for kernels). The rules were designed on the development sets of
docs/datasets.md, on validation data; docs/defaults.md is the table in prose.

``summarise(task, raw)`` reads the data the task already loaded; ``choose(task, summary, fixed)``
returns ``[(key, value, rule, why)]`` for the keys not in ``fixed``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    """What the rules read. Fields a task does not have stay at their defaults."""

    task: str
    kind: str = ""  # text | series | image | tokens (classify, regress); corpus; series (forecast); pairs
    n_train: int = 0  # examples / rows / characters / pairs
    n_classes: int = 0
    imbalance: float = 1.0  # largest class / smallest class
    min_class: int = 0  # training examples of the smallest class (classify)
    length: float = 0.0  # median length (steps, or words of a text)
    max_length: int = 0
    features: int = 1  # channels per step (numeric series)
    period: int = 1  # forecast: the seasonal period
    horizon: int = 1
    positive: bool = False  # forecast: every target value > 0
    n_series: int = 1
    per_step: bool = False  # regress: one target per input step
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """``when(summary)`` -> ``sets(summary)``: config key -> value; ``why`` says it in words."""

    name: str
    when: Callable[[Summary], bool]
    sets: Callable[[Summary], dict[str, Any]]
    why: str


def _lengths(items: list[Any]) -> list[int]:
    return [len(x.split()) if isinstance(x, str) else len(x) for x in items]


NORMS = ("per_series", "global", "none")


def normalisation_probe(task: str, xs: list[Any], ys: list[Any], seed: int = 0, cap: int = 2000) -> str | None:
    """The normalisation under which a quick classical model does best on a held-back fifth of the
    training examples: 1-NN Euclidean accuracy (classify) or ridge RMSE (regress) on the flattened
    series. None when the series differ in length (no cheap probe) or there are too few examples."""
    from rnnkit.data.classify import Scaler

    arrays = [np.asarray(x, np.float64).reshape(len(x), -1) for x in xs]
    if len({a.shape for a in arrays}) != 1 or len(arrays) < 10:
        return None
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(arrays))[: cap + cap // 4]
    k = max(2, len(order) // 5)
    val, fit = order[:k], order[k:]
    scores = {}
    for norm in NORMS:
        sc = Scaler.fit(norm, [arrays[i].astype(np.float32) for i in fit])
        flat = np.stack([sc.transform(a.astype(np.float32)).reshape(-1) for a in arrays])
        if task == "classify":
            labels = np.asarray([str(v) for v in ys])
            d = ((flat[val][:, None, :] - flat[fit][None, :, :]) ** 2).sum(-1)  # (V, F)
            scores[norm] = -float((labels[fit][d.argmin(1)] == labels[val]).mean())
        else:
            from sklearn.linear_model import RidgeCV

            y = np.asarray([np.ravel(v)[0] for v in ys], np.float64)
            pred = RidgeCV(alphas=(1e-2, 1e-1, 1.0, 10.0, 100.0)).fit(flat[fit], y[fit]).predict(flat[val])
            scores[norm] = float(np.sqrt(((pred - y[val]) ** 2).mean()))
    return min(scores, key=lambda n: (scores[n], NORMS.index(n)))


def summarise_sequences(task: str, raw: Any) -> Summary:
    """classify / regress: the raw training examples (``RawClassData``)."""
    n = len(raw.train_x)
    lengths = _lengths(raw.train_x) or [0]
    features = 1
    if raw.kind in ("series", "image") and n:
        first = np.asarray(raw.train_x[0])
        features = 1 if first.ndim == 1 else int(first.shape[-1])
    n_classes, imbalance, min_class, per_step = 0, 1.0, 0, False
    if task == "classify":
        counts = np.unique(np.asarray([str(v) for v in raw.train_y]), return_counts=True)[1]
        n_classes, imbalance = len(counts), float(counts.max() / max(1, counts.min()))
        min_class = int(counts.min()) if len(counts) else 0
    else:  # per-step targets: as long as their inputs (rnnkit.data.regress decides the same way)
        per_step = all(np.ndim(y) >= 1 and len(np.atleast_1d(y)) == n_in and n_in > 1
                       for y, n_in in zip(raw.train_y, lengths)) if raw.kind != "text" else False
    probe = (normalisation_probe(task, raw.train_x, raw.train_y) if raw.kind == "series" and not per_step
             else None)
    return Summary(task, raw.kind, n, n_classes, imbalance, min_class, float(np.median(lengths)), int(max(lengths)),
                   features, per_step=per_step, extra={"normalisation_probe": probe})


def summarise_frame(task: str, frame: Any, horizon: int) -> Summary:
    """forecast: the series frame."""
    t = frame.targets
    return Summary(task, "series", len(t), period=int(frame.period), horizon=horizon,
                   positive=bool((t > 0).all()), n_series=int(t.shape[1]), features=1 + frame.past.shape[1])


def summarise_corpus(task: str, corpus: Any) -> Summary:
    return Summary(task, "corpus", len(corpus.train), extra={"vocabulary": len(set(corpus.train[:1_000_000]))})


def summarise_pairs(task: str, raw: tuple) -> Summary:
    train = raw[0]
    return Summary(task, "pairs", len(train), length=float(np.median([len(s) for s, _ in train] or [0])))


# --------------------------------------------------------------------------- the rules

def _per_epoch(s: Summary, batch: int) -> int:
    return max(1, math.ceil(s.n_train * 0.9 / batch))


def _epochs(s: Summary, batch: int, steps: int = 2000, lo: int = 20, hi: int = 500) -> int:
    """Epochs giving about ``steps`` optimiser steps, within [lo, hi]."""
    return int(min(hi, max(lo, round(steps / _per_epoch(s, batch)))))


def _patience(s: Summary, batch: int) -> int:
    """Evaluations (epochs) without improvement before stopping: 20, and at least 500 steps' worth, so
    a tiny validation set's noise cannot end a small data set's run in its first seconds."""
    return int(max(20, math.ceil(500 / _per_epoch(s, batch))))


def _batch(s: Summary) -> int:
    return int(min(64, max(8, 2 ** round(math.log2(max(8, s.n_train / 20))))))


SEQUENCE_RULES: list[Rule] = [
    Rule("series: LSTM-FCN", lambda s: s.kind == "series" and not s.per_step,
         lambda s: {"model.frontend": "fcn", "model.cell": "lstm", "model.hidden_size": 64, "model.pooling": "last",
                    "model.head_dropout": 0.3, "train.lr": 1e-3},
         "numeric series: a fully convolutional branch beside an LSTM (LSTM-FCN, Karim et al. 2017), "
         "the family whose published UCR results beat 1-NN DTW on most sets"),
    Rule("per-step targets", lambda s: s.per_step,
         lambda s: {"model.cell": "lstm", "model.hidden_size": 64, "model.bidirectional": False, "train.lr": 3e-3},
         "one target per step: a unidirectional LSTM (each output sees only its past, as at prediction time)"),
    Rule("series: per-series z-norm", lambda s: s.kind == "series" and s.features == 1,
         lambda s: {"data.normalize": "per_series"},
         "one channel: each series to zero mean and unit variance (the UCR convention)"),
    Rule("series: global norm", lambda s: s.kind == "series" and s.features > 1,
         lambda s: {"data.normalize": "global"},
         "several channels: training-split statistics per channel (per-series scaling erases the "
         "channels' levels, which carry class information in multivariate sets)"),
    Rule("series: normalisation probe", lambda s: s.kind == "series" and s.extra.get("normalisation_probe"),
         lambda s: {"data.normalize": s.extra["normalisation_probe"]},
         "equal-length series: the normalisation under which 1-NN (classify) or ridge (regress) does best "
         "on a held-back fifth of the training examples (decides over the two rules above)"),
    Rule("images as rows", lambda s: s.kind == "image",
         lambda s: {"model.cell": "gru", "model.hidden_size": 128, "model.bidirectional": True,
                    "model.pooling": "mean", "model.head_dropout": 0.2, "data.normalize": "none", "train.lr": 3e-3},
         "images read row by row: a bidirectional GRU averaged over the rows"),
    Rule("text: bidirectional GRU, max pooling", lambda s: s.kind in ("text", "tokens"),
         lambda s: {"model.cell": "gru", "model.hidden_size": 128 if s.n_train >= 2000 else 64,
                    "model.bidirectional": True, "model.embed_dim": 128, "model.pooling": "max",
                    "model.input_dropout": 0.3, "model.head_dropout": 0.5, "train.lr": 2e-3, "data.bucket": True},
         "texts: embeddings, a bidirectional GRU and max pooling over words (width by corpus size); "
         "batches grouped by length"),
    Rule("combine with the baseline",
         lambda s: s.task == "classify" and s.kind in ("text", "tokens", "series") and not s.per_step,
         lambda s: {"model.combine": "auto"},
         "after training, the kind's baseline (texts: TF-IDF + logistic regression, series: 1-NN DTW) is fitted "
         "on the training part; the network, it, or the mean of their class probabilities, whichever is most "
         "accurate on validation, makes the predictions (rnnkit.apps.classify_combine)"),
    Rule("text: words or characters", lambda s: s.kind == "text",
         lambda s: {"data.tokenizer": "word" if s.length >= 3 else "char",
                    "data.min_freq": 2 if s.n_train >= 2000 else 1},
         "texts of three words or more are read by words (rare words dropped in large corpora); "
         "shorter ones by characters"),
    Rule("text: long documents", lambda s: s.kind in ("text", "tokens") and s.max_length > 400,
         lambda s: {"data.max_len": 400},
         "texts longer than 400 words are cut there: the start carries the topic, the rest mostly costs time"),
    Rule("small data: a larger validation share", lambda s: s.n_train < 200,
         lambda s: {"data.val_fraction": 0.2},
         "under 200 examples: 20% of the training data validates (10% would be a handful)"),
    Rule("budget", lambda s: True,
         lambda s: {"train.batch_size": _batch(s), "train.epochs": _epochs(s, _batch(s)), "train.max_steps": None,
                    "train.eval_every": None, "train.early_stopping_patience": _patience(s, _batch(s)),
                    "train.max_minutes": 5.0,
                    "train.optimizer": "adamw", "train.weight_decay": 1e-4},
         "batch about 1/20 of the data (8-64); epochs for about 2,000 steps (20-500), validated every "
         "epoch, early stopping after 20 epochs (and at least 500 steps) without improvement, 5 minutes at most"),
    Rule("few examples per class: no validation split", lambda s: s.task == "classify" and 0 < s.min_class < 5,
         lambda s: {"data.val_fraction": 0.0, "train.early_stopping_patience": 0, "train.epochs": None,
                    "train.max_steps": 2000},
         "a class with under 5 training examples: a stratified split takes at least one of them (more than "
         "the 20% asked) and validates on single examples, which cannot pick a checkpoint; all of them train "
         "instead, for a fixed 2,000 steps (5 minutes at most)"),
]


def _context(s: Summary) -> int:
    """Three seasons (at least two horizons) where the series leaves room for several training windows;
    never so long that the rows before the held-out horizon hold fewer than two windows (a 15-year series
    forecast 6 years ahead gets a context of 2)."""
    room = max(4, (s.n_train - 2 * s.horizon) // 2)
    want = max(3 * s.period, 2 * s.horizon) if s.period > 1 else max(2 * s.horizon, 8)
    return int(max(1, min(want, room, s.n_train - 2 * s.horizon - 1)))


FORECAST_RULES: list[Rule] = [
    Rule("seasonal context", lambda s: True, lambda s: {"data.context": _context(s)},
         "the input window: three seasons (or two horizons) where the series leaves room for training windows "
         "(two at least)"),
    Rule("skip: last value", lambda s: True,
         lambda s: {"model.skip": "last"},
         "the network learns the change from the last value; the season comes from the window and the "
         "calendar features (on validation origins of all seven development series this beat learning "
         "the correction to seasonal naive: scripts/dev_forecast_rules.py)"),
    Rule("positive: log scale", lambda s: s.positive,
         lambda s: {"data.scaler": "log1p"},
         "every value is positive: log1p scaling (multiplicative seasonality becomes additive)"),
    Rule("signed: standard scale", lambda s: not s.positive,
         lambda s: {"data.scaler": "standard"},
         "zero or negative values: standardised with the training rows' mean and deviation"),
    Rule("validation tail", lambda s: s.n_train >= max(200, _context(s) + 8 * s.horizon),
         lambda s: {"data.val_size": s.horizon},
         "a long series: the last horizon of the training rows validates (early stopping and the best "
         "checkpoint on unseen origins, not on training windows)"),
    Rule("short series: ensemble", lambda s: s.n_train < 500,
         lambda s: {"model.ensemble": 5},
         "under 500 rows: five members averaged (a strong, cheap regulariser on tiny series)"),
    Rule("forecast model and budget", lambda s: True,
         lambda s: {"model.cell": "lstm", "model.hidden_size": 32, "model.strategy": "direct",
                    "model.decoder": "linear", "train.batch_size": 16, "train.lr": 3e-3, "train.max_steps": 500,
                    "train.eval_every": 100, "train.max_minutes": 5.0, "train.grad_clip": 1.0},
         "a direct 32-unit LSTM, 500 steps (small series learn in seconds)"),
    Rule("combine on probe origins", lambda s: True,
         lambda s: {"model.combine": "auto"},
         "after training, the network is re-trained from up to three origins inside the training rows and "
         "its forecasts there are scored beside ETS, ARIMA and seasonal naive; the forecasts are the one with "
         "the lowest validation MASE (a series too short for one probe: ETS or seasonal naive, whichever "
         "scores better on up to six origins of the baselines alone). Never the test rows "
         "(rnnkit.evaluation.combine)"),
]

CHARLM_RULES: list[Rule] = [
    Rule("small corpus", lambda s: s.n_train < 300_000,
         lambda s: {"model.dropout": 0.2, "model.hidden_size": 256},
         "under 300k characters: dropout 0.2 (a 256-wide LSTM memorises small texts)"),
]

SEQ2SEQ_RULES: list[Rule] = [
    Rule("seq2seq width", lambda s: True,
         lambda s: {"model.hidden_size": 128 if s.n_train < 20_000 else 256},
         "128 units under 20,000 pairs, 256 above"),
]

REGRESS_ONLY = [
    Rule("regress: global norm", lambda s: s.kind == "series" and not s.extra.get("normalisation_probe"),
         lambda s: {"data.normalize": "global"},
         "series of different lengths (no probe): regression targets often follow a series' level, which "
         "per-series scaling would erase, so training-split statistics per channel"),
]

#: task -> its rules, applied in order (a later rule's value for the same key wins)
RULES: dict[str, list[Rule]] = {
    "classify": SEQUENCE_RULES,
    "regress": SEQUENCE_RULES + REGRESS_ONLY,
    "forecast": FORECAST_RULES, "charlm": CHARLM_RULES, "seq2seq": SEQ2SEQ_RULES,
}


def choose(task: str, summary: Summary, fixed: set[str] | frozenset[str] = frozenset()
           ) -> list[tuple[str, Any, str, str]]:
    """``[(key, value, rule name, why)]`` for every key a rule sets and the user did not fix."""
    chosen: dict[str, tuple[Any, str, str]] = {}
    for rule in RULES.get(task, []):
        if rule.when(summary):
            for key, value in rule.sets(summary).items():
                if key not in fixed:
                    chosen[key] = (value, rule.name, rule.why)
    return [(k, v, name, why) for k, (v, name, why) in chosen.items()]


def as_overrides(chosen: list[tuple[str, Any, str, str]]) -> list[str]:
    """The chosen values as ``section.key=value`` overrides."""
    return [f"{k}={'none' if v is None else v}" for k, v, _, _ in chosen]


__all__ = ["RULES", "Rule", "Summary", "as_overrides", "choose", "summarise_corpus", "summarise_frame",
           "summarise_pairs", "summarise_sequences"]
