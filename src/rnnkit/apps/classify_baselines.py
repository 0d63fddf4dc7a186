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


def _key(bundle: Any, train_x: list, test_x: list) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([bundle.raw.source, bundle.raw.kind, bundle.cfg.dtw_window, 1]).encode())
    for arr in (bundle.train_y, bundle.test[1]):
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


def run_baselines(bundle: Any) -> dict[str, dict[str, float]]:
    """{name: {test_accuracy, test_macro_f1, seconds}} for majority + the kind's standard baselines."""
    from rnnkit.data.archive import cache_dir

    raw, (_, test_y) = bundle.raw, bundle.test
    C = len(bundle.labels.names)
    kind = "text" if raw.kind in ("text", "tokens") else raw.kind
    if raw.kind == "text":
        train_x, test_x = list(raw.train_x), list(raw.test_x)
    elif raw.kind == "tokens":  # ids read as words, so TF-IDF + LR is the bar as for text
        words = lambda ids: " ".join(f"t{int(i)}" for i in np.asarray(ids) if i)  # noqa: E731
        train_x, test_x = [words(x) for x in raw.train_x], [words(x) for x in raw.test_x]
    else:  # the same normalisation as the model sees
        tf = bundle.scaler.transform
        train_x = [tf(check_series(x, w)) for x, w in zip(raw.train_x, raw.train_where)]
        test_x = [tf(check_series(x, w)) for x, w in zip(raw.test_x, raw.test_where)]
    path = cache_dir() / "baselines" / f"{_key(bundle, train_x, test_x)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    out: dict[str, dict[str, float]] = {}
    maj = B.majority(bundle.train_y, len(test_y))
    s = scores(test_y, maj, C)
    out["majority"] = {"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"]}
    t0 = time.monotonic()
    for name, pred in _predictions(kind, train_x, bundle.train_y, test_x, bundle.cfg.dtw_window).items():
        s = scores(test_y, pred, C)
        out[name] = {"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"]}
    log.info("baselines took %.1f s", time.monotonic() - t0)
    try:
        from rnnkit.checkpoint import atomic_write_json

        atomic_write_json(path, out)
    except OSError as e:  # a cache is an optimisation, never fatal
        log.warning("could not cache baselines at %s: %s", path, e)
    return out


__all__ = ["run_baselines"]
