"""Baselines of the classify task on exactly the model's train/test split.

The baselines are fitted on the whole training split (the model's training part *plus* its
validation part: they need no model selection), which if anything favours them. Text gets
TF-IDF + logistic regression; time series 1-NN DTW (and 1-NN Euclidean when lengths are equal);
images read as rows logistic regression on the pixels and 1-NN Euclidean. Results are cached on
disk (``$RNNKIT_CACHE/baselines``) keyed by a hash of the data, since DTW can take a minute and
every seed of a benchmark shares them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import numpy as np

from rnnkit.baselines import classify as B
from rnnkit.data.classify import check_series
from rnnkit.evaluation.classification import scores

log = logging.getLogger(__name__)


def _key(bundle: Any, train_x: list, train_y: np.ndarray, test_x: list, test_y: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([bundle.raw.source, bundle.raw.kind, bundle.cfg.dtw_window, 3]).encode())  # 3: native DTW
    for arr in (train_y, test_y):
        h.update(np.ascontiguousarray(arr).tobytes())
    for xs in (train_x, test_x):
        for x in xs:
            h.update(x.encode() if isinstance(x, str) else np.ascontiguousarray(x, np.float32).tobytes())
    return h.hexdigest()[:24]


def _predictions(kind: str, train_x: list, train_y: np.ndarray, test_x: list, window: int | None) -> dict:
    preds = {}
    if kind == "text":
        preds["tfidf_logreg"] = B.tfidf_logreg(train_x, train_y, test_x)
        return preds
    equal = len({x.shape for x in train_x + test_x}) == 1
    if kind == "image":
        preds["pixels_logreg"] = B.flat_logreg(train_x, train_y, test_x)
    if equal:
        preds["1nn_euclidean"] = B.nn1_euclidean(train_x, train_y, test_x)
    if kind == "series":
        preds["1nn_dtw" if window is None else f"1nn_dtw_w{window}"] = B.nn1_dtw(train_x, train_y, test_x, window)
    return preds


def _inputs(bundle: Any, xs: list, where: list[str]) -> list:
    """What the baselines read: texts as they are, token ids as words, series normalised as the model sees them."""
    kind = bundle.raw.kind
    if kind == "text":
        return list(xs)
    if kind == "tokens":  # ids read as words, so TF-IDF + LR is the bar as for text
        return B.token_words(xs)
    return [bundle.scaler.transform(check_series(x, w)) for x, w in zip(xs, where)]


def score_baselines(bundle: Any, train: tuple[list, list[str], np.ndarray], test: tuple[list, list[str], np.ndarray],
                    prefix: str) -> dict[str, dict[str, float]]:
    """{name: {<prefix>accuracy, <prefix>macro_f1}} of majority and the kind's standard baselines fitted
    on ``train`` and scored on ``test`` (each ``(raw examples, row descriptions, encoded labels)``)."""
    from rnnkit.data.archive import cache_dir

    C = len(bundle.labels.names)
    kind = "text" if bundle.raw.kind in ("text", "tokens") else bundle.raw.kind
    train_x, test_x = _inputs(bundle, train[0], train[1]), _inputs(bundle, test[0], test[1])
    train_y, test_y = train[2], test[2]
    path = cache_dir() / "baselines" / f"{_key(bundle, train_x, train_y, test_x, test_y)}-{prefix}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    preds = {"majority": B.majority(train_y, len(test_y))}
    t0 = time.monotonic()
    preds.update(_predictions(kind, train_x, train_y, test_x, bundle.cfg.dtw_window))
    log.info("baselines took %.1f s", time.monotonic() - t0)
    out = {}
    for name, pred in preds.items():
        s = scores(test_y, pred, C)
        out[name] = {f"{prefix}accuracy": s["accuracy"], f"{prefix}macro_f1": s["macro_f1"]}
    try:
        from rnnkit.checkpoint import atomic_write_json

        atomic_write_json(path, out)
    except OSError as e:  # a cache is an optimisation, never fatal
        log.warning("could not cache baselines at %s: %s", path, e)
    return out


def run_baselines(bundle: Any) -> dict[str, dict[str, float]]:
    """Baselines fitted on the whole training split (training + validation part: they need no model
    selection) and scored on the test split."""
    raw = bundle.raw
    return score_baselines(bundle, (raw.train_x, raw.train_where, bundle.train_y),
                           (raw.test_x, raw.test_where, bundle.test[1]), "test_")


def validation_baselines(bundle: Any) -> dict[str, dict[str, float]]:
    """Baselines fitted on the model's training part and scored on its validation part: what the
    model is compared with at the end of training (the test split stays untouched)."""
    raw = bundle.raw
    if raw.val_x is not None:
        train = (raw.train_x, raw.train_where, bundle.train_y)
        val = (raw.val_x, raw.val_where, bundle.val[1])
    else:
        pick = lambda seq: [seq[i] for i in bundle.val_idx]  # noqa: E731
        fit = [int(i) for i in bundle.fit_idx]
        train = ([raw.train_x[i] for i in fit], [raw.train_where[i] for i in fit], bundle.train_y[fit])
        val = (pick(raw.train_x), pick(raw.train_where), bundle.val[1])
    if not len(val[2]):
        return {}
    return score_baselines(bundle, train, val, "val_")


__all__ = ["run_baselines", "score_baselines", "validation_baselines"]
