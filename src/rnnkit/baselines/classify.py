"""Non-neural baselines for sequence classification, so every RNN result says whether it helps.

* :func:`majority` -- always the most frequent training class.
* :func:`tfidf_logreg` -- TF-IDF of word uni+bigrams + logistic regression (scikit-learn), the
  standard strong text baseline.
* :func:`nn1_dtw` -- 1-nearest-neighbour with dynamic time warping, the standard UCR baseline
  (Bagnall et al. 2017, "The great time series classification bake off"); ``window`` gives a
  Sakoe-Chiba band. Hand-written because no installed package provides DTW (tslearn / sktime /
  aeon would pull numba and more). On CPU it runs rnnkit's native search (``layers/native/dtw.cpp``:
  float64, the band, queries in parallel, a pair abandoned once a DP row exceeds the best distance
  so far); elsewhere, or without the native extension, :func:`dtw_distances`, vectorised in torch
  over (test x train) pairs and the cells of each anti-diagonal (the reference in the tests).
  Multivariate series use the dependent DTW (squared Euclidean cost over all features); series of
  different lengths are compared at their own lengths.
* :func:`nn1_euclidean` -- 1-NN with Euclidean distance (equal-length series), and
  :func:`flat_logreg` -- logistic regression on the flattened (T * F) input, for images as rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from rnnkit.data.padding import pad

log = logging.getLogger(__name__)


def majority(train_y: np.ndarray, n_test: int) -> np.ndarray:
    """Predict the most frequent training class (lowest index on ties) for every test example."""
    return np.full(n_test, np.bincount(train_y).argmax(), dtype=np.int64)


def token_words(xs: Sequence[np.ndarray]) -> list[str]:
    """Token-id sequences as texts of words (``t17``; padding id 0 left out), so TF-IDF + LR reads them."""
    return [" ".join(f"t{int(i)}" for i in np.asarray(x) if i) for x in xs]


def fit_tfidf_logreg(train_texts: Sequence[str], train_y: np.ndarray, C: float = 10.0, seed: int = 0,
                     max_features: int | None = None) -> tuple:
    """The fitted ``(TfidfVectorizer, LogisticRegression)`` of :func:`tfidf_logreg` (``max_features``: keep
    the most frequent n-grams only), also the text classifiers' combination member
    (:mod:`rnnkit.apps.classify_combine`)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, max_features=max_features)
    xtr = vec.fit_transform(train_texts)  # vocabulary and idf from the training split only
    return vec, LogisticRegression(C=C, max_iter=2000, random_state=seed).fit(xtr, train_y)


def tfidf_logreg(train_texts: Sequence[str], train_y: np.ndarray, test_texts: Sequence[str],
                 C: float = 10.0, seed: int = 0) -> np.ndarray:
    """TF-IDF (word 1-2 grams, sublinear tf, min_df 1) + multinomial logistic regression."""
    vec, clf = fit_tfidf_logreg(train_texts, train_y, C, seed)
    return clf.predict(vec.transform(test_texts)).astype(np.int64)


def flat_logreg(train_x: Sequence[np.ndarray], train_y: np.ndarray, test_x: Sequence[np.ndarray],
                C: float = 1.0) -> np.ndarray:
    """Logistic regression on flattened equal-length inputs (pixels of images read as rows)."""
    from sklearn.linear_model import LogisticRegression

    xtr = np.stack([x.reshape(-1) for x in train_x])
    clf = LogisticRegression(C=C, max_iter=3000).fit(xtr, train_y)
    return clf.predict(np.stack([x.reshape(-1) for x in test_x])).astype(np.int64)


def _pad(xs: Sequence[np.ndarray], dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    return pad([np.asarray(x) for x in xs], dtype=dtype)


def dtw_distances(a: torch.Tensor, la: torch.Tensor, b: torch.Tensor, lb: torch.Tensor,
                  window: int | None = None) -> torch.Tensor:
    """DTW distances (squared-Euclidean local cost, summed along the path) of every a_p vs b_q.

    a (P, n, F) with lengths la (P,), b (Q, m, F) with lengths lb (Q,) -> (P, Q). The DP
    ``D[i, j] = c[i, j] + min(D[i-1, j-1], D[i-1, j], D[i, j-1])`` is filled one anti-diagonal
    ``i + j = k`` at a time, keeping only the last two diagonals (indexed by i). The cells of a
    diagonal are a contiguous range of i, and j = k - i is contiguous in the time-reversed b, so
    every step is plain slicing. D[i, j] depends only on cells with smaller i and j, so each pair's
    own-length distance D[la, lb] is read off diagonal la + lb of the padded table.
    """
    P, n, _ = a.shape
    Q, m, _ = b.shape
    b_rev = b.flip(1)
    a2, b2 = a.pow(2).sum(-1), b_rev.pow(2).sum(-1)  # (P, n), (Q, m)
    inf = float("inf")
    prev2 = torch.full((P, Q, n + 1), inf, dtype=a.dtype)  # diagonal k-2, index i
    prev1 = torch.full((P, Q, n + 1), inf, dtype=a.dtype)  # diagonal k-1
    prev2[:, :, 0] = 0.0  # D[0, 0] on diagonal 0
    out = torch.full((P, Q), inf, dtype=a.dtype)
    target = la[:, None] + lb[None, :]  # (P, Q) diagonal holding each pair's answer
    for k in range(2, n + m + 1):
        lo, hi = max(1, k - m), min(n, k - 1)  # cells (i, k - i), i in [lo, hi]
        A, B = a[:, lo - 1:hi], b_rev[:, m - k + lo:m - k + hi + 1]  # (P, L, F), (Q, L, F)
        cost = (a2[:, None, lo - 1:hi] + b2[None, :, m - k + lo:m - k + hi + 1]
                - 2 * torch.einsum("plf,qlf->pql", A, B)).clamp(min=0)  # (P, Q, L)
        if window is not None:
            i = torch.arange(lo, hi + 1)
            cost = cost.masked_fill((2 * i - k).abs() > window, inf)
        best = torch.minimum(torch.minimum(prev2[:, :, lo - 1:hi], prev1[:, :, lo - 1:hi]), prev1[:, :, lo:hi + 1])
        cur = prev2  # diagonal k-2 is no longer needed: reuse its memory for diagonal k
        cur[:, :, :lo] = inf
        cur[:, :, hi + 1:] = inf
        cur[:, :, lo:hi + 1] = cost + best
        hit = target == k
        if bool(hit.any()):
            val = cur.gather(2, la[:, None, None].expand(P, Q, 1)).squeeze(2)
            out = torch.where(hit, val, out)
        prev2, prev1 = prev1, cur
    return out


def nn1_dtw(train_x: Sequence[np.ndarray], train_y: np.ndarray, test_x: Sequence[np.ndarray],
            window: int | None = None, max_cells: int = 20_000_000, use_native: bool = True) -> np.ndarray:
    """1-NN DTW predictions for ``test_x`` (each (T_i, F)); ``window`` = Sakoe-Chiba band (None: full).

    The native search when available (``use_native``), else the torch diagonals: test series then go
    in chunks so the (chunk, train, n) diagonals stay under ``max_cells``. Ties go to the first
    training series in both.
    """
    from rnnkit.layers import native

    if use_native and native.available_for(torch.empty(0, dtype=torch.float64)):  # CPU, built, switched on
        (a, la), (b, lb) = _pad(test_x, torch.float64), _pad(train_x, torch.float64)
        idx, _ = torch.ops.rnnkit_native.dtw_nn(a, la, b, lb, -1 if window is None else int(window))
        return train_y[idx.numpy()].astype(np.int64)
    b, lb = _pad(train_x)
    a_all, la_all = _pad(test_x)
    chunk = max(1, max_cells // max(len(train_x) * (a_all.shape[1] + 1), 1))
    preds = []
    for s in range(0, len(test_x), chunk):
        d = dtw_distances(a_all[s:s + chunk], la_all[s:s + chunk], b, lb, window)
        preds.append(train_y[d.argmin(1).numpy()])
    return np.concatenate(preds).astype(np.int64)


def nn1_euclidean(train_x: Sequence[np.ndarray], train_y: np.ndarray, test_x: Sequence[np.ndarray]) -> np.ndarray:
    """1-NN with Euclidean distance on equal-length series (flattened)."""
    xtr = torch.from_numpy(np.stack([x.reshape(-1) for x in train_x]).astype(np.float64))
    xte = torch.from_numpy(np.stack([x.reshape(-1) for x in test_x]).astype(np.float64))
    return train_y[torch.cdist(xte, xtr).argmin(1).numpy()].astype(np.int64)


__all__ = ["dtw_distances", "fit_tfidf_logreg", "flat_logreg", "majority", "nn1_dtw", "nn1_euclidean", "tfidf_logreg",
           "token_words"]
