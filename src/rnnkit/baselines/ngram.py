"""Count-based character language models, the honest baselines for a char-LM's bits per character.

* `unigram_bpc`: add-one smoothed character frequencies (no context at all).
* `KneserNey`: interpolated Kneser-Ney (Chen & Goodman 1998, eq. 17/20, one absolute discount per
  order D = n1 / (n1 + 2 n2)):

      P_k(w | h) = max(c_k(hw) - D_k, 0) / c_k(h.) + D_k N1+(h.) / c_k(h.) * P_{k-1}(w | h')

  with raw counts at the highest order, continuation counts N1+(.hw) (number of distinct
  left extensions) at lower orders, P_0 = uniform over the vocabulary, and a context never seen
  in training falling through to the next lower order.

Hand-written rather than a dependency: nltk's KneserNeyInterpolated is pure Python per query
(hours for 200k test characters with n=5), KenLM needs a C++ build and works on words. Here every
order is a few numpy passes: n-grams become int64 keys (base-V digits), counted with np.unique
and looked up with np.searchsorted, so fitting 4M characters and scoring the test split take
seconds.
"""

from __future__ import annotations

import math

import numpy as np


def unigram_bpc(train: np.ndarray, test: np.ndarray, vocab_size: int) -> float:
    """Bits per character of add-one smoothed unigram frequencies fitted on `train`."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-logp[test].mean())


def _keys(ids: np.ndarray, k: int, V: int) -> np.ndarray:
    """Key of the k-gram ending at each position i >= k-1 (digits base V, oldest first)."""
    n = len(ids) - k + 1
    key = np.zeros(n, dtype=np.int64)
    for j in range(k):
        key = key * V + ids[j:j + n]
    return key


def _lookup(table_keys: np.ndarray, table_vals: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """table_vals[key] for each query (0 where absent); table_keys sorted."""
    if len(table_keys) == 0:
        return np.zeros(len(queries))
    pos = np.searchsorted(table_keys, queries).clip(0, len(table_keys) - 1)
    return np.where(table_keys[pos] == queries, table_vals[pos], 0).astype(np.float64)


class KneserNey:
    """Interpolated Kneser-Ney character n-gram model over integer ids in [0, vocab_size)."""

    def __init__(self, order: int, vocab_size: int) -> None:
        if order < 1 or vocab_size ** order >= 2**62:
            raise ValueError(f"order {order} with vocabulary {vocab_size} does not fit int64 keys")
        self.order, self.V = order, vocab_size
        self.tables: list[dict[str, np.ndarray | float]] = []

    def fit(self, ids: np.ndarray) -> KneserNey:
        ids = np.asarray(ids, dtype=np.int64)
        V, N = self.V, self.order
        self.tables = []
        for k in range(1, N + 1):
            grams, raw = np.unique(_keys(ids, k, V), return_counts=True)
            if k == N:
                counts = raw.astype(np.float64)
            else:  # continuation counts: distinct left extensions of each k-gram
                longer = np.unique(_keys(ids, k + 1, V))
                grams, counts = np.unique(longer % V**k, return_counts=True)
                counts = counts.astype(np.float64)
            n1, n2 = (counts == 1).sum(), (counts == 2).sum()
            D = n1 / (n1 + 2 * n2) if n1 + n2 > 0 else 0.5
            ctx = grams // V  # context key (the k-1 older characters)
            ctx_keys, inv = np.unique(ctx, return_inverse=True)
            ctx_total = np.bincount(inv, weights=counts)
            ctx_types = np.bincount(inv).astype(np.float64)
            self.tables.append({"grams": grams, "counts": counts, "D": float(D),
                                "ctx": ctx_keys, "ctx_total": ctx_total, "ctx_types": ctx_types})
        return self

    def log2prob(self, ids: np.ndarray) -> np.ndarray:
        """log2 P(ids[i] | up to order-1 previous characters) for every position i."""
        ids = np.asarray(ids, dtype=np.int64)
        p = np.full(len(ids), 1.0 / self.V)
        for k, t in enumerate(self.tables, start=1):
            if len(ids) < k:
                break
            gram = _keys(ids, k, self.V)  # for positions k-1 .. end
            ctx = gram // self.V
            c = _lookup(t["grams"], t["counts"], gram)
            total = _lookup(t["ctx"], t["ctx_total"], ctx)
            types = _lookup(t["ctx"], t["ctx_types"], ctx)
            lower = p[k - 1:]
            seen = total > 0
            safe = np.where(seen, total, 1.0)
            mixed = np.maximum(c - t["D"], 0.0) / safe + t["D"] * types / safe * lower
            p[k - 1:] = np.where(seen, mixed, lower)
        return np.log2(p)

    def bpc(self, ids: np.ndarray) -> float:
        return float(-self.log2prob(ids).mean())


def ngram_baselines(train: np.ndarray, splits: dict[str, np.ndarray], vocab_size: int, order: int = 5,
                    kn: KneserNey | None = None) -> dict[str, dict[str, float]]:
    """Unigram and interpolated Kneser-Ney `order`-gram bits per character on each of ``splits``
    ({"valid": ids, "test": ids} -> ``valid_bpc``, ``test_bpc``); ``kn`` reuses a model already
    fitted on ``train``. Empty splits are left out."""
    kn = kn or KneserNey(order, vocab_size).fit(train)
    splits = {k: v for k, v in splits.items() if len(v)}
    out = {"unigram": {f"{k}_bpc": unigram_bpc(train, v, vocab_size) for k, v in splits.items()},
           f"kneser_ney_{order}gram": {f"{k}_bpc": kn.bpc(v) for k, v in splits.items()}}
    assert all(math.isfinite(v) for d in out.values() for v in d.values())
    return out
