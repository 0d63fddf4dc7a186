"""Sequence classification data: tokenisation, labels, normalisation, padded batches.

* Text: :func:`tokenize` (``word`` or ``char``) and :class:`Vocab` (built from the training split
  only, ``min_freq`` / ``max_size`` limits, index 0 = ``<pad>``, 1 = ``<unk>``).
* Labels: :class:`LabelEncoder`, fitted on training labels; an unseen label is an error naming the row.
* Series: :func:`check_series` (NaN / ragged rows / empty -> error naming the row) and
  :class:`Scaler` (``none`` | ``per_series`` z-normalisation | ``global`` statistics of the training split).
* Batches: :class:`ClassBatches` satisfies ``rnnkit.train.fit.TrainData``; :func:`pad_batch` pads
  variable-length sequences and returns their ``lengths`` (never truncates).

Raw files (CSV/TSV/JSONL, ``.npz``, ``.ts``) and bundled names are read in
``rnnkit.data.classify_sources``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from rnnkit.data.padding import pad, pool_sorted_batches
from rnnkit.data.tables import json_artifact, json_choice, json_floats
from rnnkit.errors import DataError

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]", re.UNICODE)
TOKENIZERS = ("word", "char")
NORMALIZATIONS = ("none", "per_series", "global")


def tokenize(text: str, mode: str = "word", lowercase: bool = True) -> list[str]:
    """Split ``text`` into words (``\\w+`` runs and single punctuation marks) or characters."""
    if mode not in TOKENIZERS:
        raise DataError(f"unknown tokenizer {mode!r}; valid: {', '.join(TOKENIZERS)}")
    if lowercase:
        text = text.lower()
    return _WORD.findall(text) if mode == "word" else list(text)


class Vocab:
    """Token <-> index map; ``<pad>`` = 0 and ``<unk>`` = 1 always."""

    def __init__(self, itos: Sequence[str], mode: str = "word", lowercase: bool = True) -> None:
        if list(itos[:2]) != [PAD, UNK]:
            raise DataError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {list(itos[:2])}")
        self.itos, self.mode, self.lowercase = list(itos), mode, lowercase
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, texts: Sequence[str], mode: str = "word", lowercase: bool = True, min_freq: int = 1,
              max_size: int | None = None) -> Vocab:
        """Count tokens of ``texts`` (the training split only); keep those seen >= ``min_freq`` times,
        the ``max_size`` most frequent (ties broken alphabetically so the result is deterministic)."""
        counts = Counter(t for text in texts for t in tokenize(text, mode, lowercase))
        kept = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - 2)]
        return cls([PAD, UNK, *kept], mode, lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(t, 1) for t in tokenize(text, self.mode, self.lowercase)]

    def tokens(self, text: str) -> list[str]:
        """The tokens the model sees for ``text`` (unknown ones shown as ``<unk>``), e.g. for plots."""
        return [t if t in self.stoi else UNK for t in tokenize(text, self.mode, self.lowercase)]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "vocab", "mode": self.mode, "lowercase": self.lowercase, "itos": self.itos}

    @classmethod
    @json_artifact("tokenizer.json")
    def from_dict(cls, d: dict[str, Any]) -> Vocab:
        return cls(d["itos"], d.get("mode", "word"), d.get("lowercase", True))


class LabelEncoder:
    """Class names <-> indices, fitted on the training labels (sorted, so stable across runs)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = [str(n) for n in names]
        self.index = {n: i for i, n in enumerate(self.names)}

    @classmethod
    def fit(cls, labels: Sequence[Any]) -> LabelEncoder:
        return cls(sorted({str(v) for v in labels}, key=_natural_key))

    def encode(self, labels: Sequence[Any], where: Sequence[str] | None = None) -> np.ndarray:
        """Indices of ``labels``; a label absent from training raises an error naming its row."""
        out = np.empty(len(labels), np.int64)
        for i, v in enumerate(labels):
            k = self.index.get(str(v))
            if k is None:
                row = where[i] if where is not None else f"row {i}"
                raise DataError(f"{row}: label {str(v)!r} never occurs in the training split "
                                f"(known labels: {', '.join(self.names)})")
            out[i] = k
        return out


def _natural_key(s: str) -> tuple:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


def check_texts(texts: Sequence[str], where: Sequence[str]) -> None:
    """Empty or whitespace-only texts cannot be classified: error naming the first such row."""
    for t, w in zip(texts, where):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"{w}: empty text (remove the row or fill it in)")


def check_series(x: Any, where: str) -> np.ndarray:
    """One series as float32 ``(T, F)``: a 1-D list is one feature; ragged rows, NaN/inf and empty
    series raise an error naming ``where``."""
    if isinstance(x, np.ndarray):
        arr = x
    else:
        rows = list(x)
        if rows and isinstance(rows[0], (list, tuple, np.ndarray)):
            widths = [len(r) for r in rows]
            if len(set(widths)) > 1:
                bad = next(t for t, w in enumerate(widths) if w != widths[0])
                raise DataError(f"{where}: ragged series: step 0 has {widths[0]} values, step {bad} has "
                                f"{widths[bad]}")
        try:
            arr = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise DataError(f"{where}: not a numeric series ({e})") from None
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"{where}: a series must be (T,) or (T, F) with T >= 1, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        t = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise DataError(f"{where}: NaN or infinite value at step {t}; fill or drop missing values first")
    return arr


class Scaler:
    """Normalisation of numeric series: ``none``, ``per_series`` (each series and feature to zero
    mean / unit variance, the UCR convention) or ``global`` (per-feature mean/std of the training
    split, stored so new inputs get exactly the same transform)."""

    def __init__(self, mode: str = "none", mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None) -> None:
        if mode not in NORMALIZATIONS:
            raise DataError(f"unknown normalization {mode!r}; valid: {', '.join(NORMALIZATIONS)}")
        self.mode = mode
        self.mean = None if mean is None else np.asarray(mean, np.float32)
        self.std = None if std is None else np.asarray(std, np.float32)

    @classmethod
    def fit(cls, mode: str, train: Sequence[np.ndarray]) -> Scaler:
        if mode != "global":
            return cls(mode)
        cat = np.concatenate(list(train), axis=0)  # every valid step of every training series
        std = cat.std(0)
        return cls(mode, cat.mean(0), np.where(std > 1e-8, std, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "global":
            return (x - self.mean) / self.std
        if self.mode == "per_series":
            std = x.std(0)
            return (x - x.mean(0)) / np.where(std > 1e-8, std, 1.0)
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist()}

    @classmethod
    @json_artifact("scaler.json")
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        mode = json_choice(d["mode"], "scaler.json mode", NORMALIZATIONS)
        if mode != "global":  # the other modes need no statistics
            return cls(mode)
        mean = json_floats(d["mean"], "scaler.json mean")
        return cls(mode, mean, json_floats(d["std"], "scaler.json std", len(mean), positive=True))


class ClassBatch(NamedTuple):
    """A padded batch: ``x`` (B, T) token ids or (B, T, F) floats, ``lengths`` (B,), ``y`` (B,)."""

    x: torch.Tensor
    lengths: torch.Tensor
    y: torch.Tensor


def pad_batch(seqs: Sequence[Any], labels: Sequence[Any] | np.ndarray) -> ClassBatch:
    """Right-pad sequences (lists of token ids, or (T, F) arrays) to the longest one, with lengths;
    ``labels`` are class indices (B,), or any targets already collated into a tensor."""
    x, lengths = pad(seqs)  # token ids: 0 = <pad>
    y = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels), dtype=torch.long)
    return ClassBatch(x, lengths, y)


class ClassBatches:
    """Shuffled padded batches of one split (``rnnkit.train.fit.TrainData``; no state carried).

    Each epoch's order comes from its own generator seeded by ``(seed, epoch)``, so a resumed run
    sees the same batches. With ``bucket`` the shuffled examples are grouped by length inside pools
    of 50 batches (``pool_sorted_batches``), so long texts are not padded to one another's lengths.
    ``labels`` are class indices; other targets (regression values, per-step targets) come with a
    ``collate`` function that turns a batch's list of targets into one tensor.
    """

    carries_state = False

    def __init__(self, seqs: Sequence[Any], labels: Any, batch_size: int, seed: int = 0,
                 shuffle: bool = True, collate: Callable[[list[Any]], torch.Tensor] | None = None,
                 bucket: bool = False) -> None:
        self.seqs, self.collate, self.bucket = list(seqs), collate, bucket
        self.labels = list(labels) if collate is not None else np.asarray(labels, np.int64)
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle

    def __len__(self) -> int:
        return math.ceil(len(self.seqs) / self.batch_size)

    def _batches(self, epoch: int) -> list[Any]:
        n = len(self.seqs)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucket:
            return pool_sorted_batches(order.tolist(), [len(s) for s in self.seqs], self.batch_size, rng.shuffle)
        return [order[b * self.batch_size:(b + 1) * self.batch_size] for b in range(len(self))]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[ClassBatch]:
        for idx in self._batches(epoch)[start:]:
            idx = np.asarray(idx)
            targets = self.labels[idx] if self.collate is None else self.collate([self.labels[i] for i in idx])
            yield pad_batch([self.seqs[i] for i in idx], targets)


def stratified_val_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with about ``fraction`` of every class in val (at least one per class
    that has >= 2 examples); carved from the training data so the test split stays untouched."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx))) if fraction > 0 else 0
        if fraction > 0 and len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        va.extend(idx[:k])
        tr.extend(idx[k:])
    return np.sort(np.asarray(tr, np.int64)), np.sort(np.asarray(va, np.int64))


__all__ = ["NORMALIZATIONS", "PAD", "TOKENIZERS", "UNK", "ClassBatch", "ClassBatches", "LabelEncoder",
           "Scaler", "Vocab", "check_series", "check_texts", "pad_batch", "stratified_val_split", "tokenize"]
