"""Non-neural baselines for sequence regression, fitted on the training split only.

* :func:`mean` -- the training mean of every output (R² about 0 on the test split).
* :func:`ridge` -- ridge regression (scikit-learn, alpha chosen by efficient leave-one-out CV) on
  the flattened inputs of equal-length numeric series, on TF-IDF word 1-2 grams for text, or, with
  per-step targets, on each step's own features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def mean(train_y: Sequence[np.ndarray], test_y: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Predict the mean training target (per output) everywhere."""
    m = np.concatenate([np.asarray(y).reshape(-1, np.asarray(y).shape[-1]) for y in train_y]).mean(0)
    return [np.broadcast_to(m, np.asarray(y).shape).copy() for y in test_y]


def _ridge(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=ALPHAS).fit(xtr, ytr).predict(xte).reshape(xte.shape[0], -1)


def ridge(kind: str, train_x: Sequence, train_y: Sequence[np.ndarray], test_x: Sequence,
          per_step: bool) -> list[np.ndarray] | None:
    """Ridge predictions shaped like the targets, or None where no ridge fits the inputs
    (numeric series of different lengths, many-to-one)."""
    if per_step:
        xtr = np.concatenate([np.asarray(x, np.float64) for x in train_x])
        ytr = np.concatenate([np.asarray(y) for y in train_y])
        pred = _ridge(xtr, ytr, np.concatenate([np.asarray(x, np.float64) for x in test_x]))
        return np.split(pred, np.cumsum([len(x) for x in test_x])[:-1])
    ytr = np.stack([np.asarray(y) for y in train_y])
    if kind == "text":
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        return list(_ridge(vec.fit_transform(train_x), ytr, vec.transform(test_x)))
    if len({np.shape(x) for x in [*train_x, *test_x]}) != 1:
        return None
    flat = lambda xs: np.stack([np.asarray(x, np.float64).reshape(-1) for x in xs])  # noqa: E731
    return list(_ridge(flat(train_x), ytr, flat(test_x)))


__all__ = ["mean", "ridge"]
