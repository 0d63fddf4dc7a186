"""Plain containers for parsed data sets (python / numpy only, no torch) and their on-disk cache.

Every parser returns one of these frozen dataclasses. ``save_result`` / ``load_result`` store
them as a single ``.npz`` (``allow_pickle=False``): numpy fields as arrays, lists of arrays
(variable-length series) as concatenation + lengths, everything else as one JSON blob.
"""

from __future__ import annotations

import dataclasses
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.archive import atomic_write_bytes


@dataclass(frozen=True)
class TextCorpus:
    """A character-level corpus already split into train / valid / test strings."""

    train: str
    valid: str
    test: str
    source: str
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TextClassData:
    """Labelled texts; labels are indices into ``label_names``."""

    train_texts: list[str]
    train_labels: list[int]
    test_texts: list[str]
    test_labels: list[int]
    label_names: list[str]
    source: str = ""


@dataclass(frozen=True)
class SeqClassData:
    """Sequences for classification (or regression when ``label_names`` is empty).

    ``train_x`` is an ndarray ``(N, T, D)`` when all sequences have one length, else a list of
    ``(T_i, D)`` float32 arrays. ``train_y`` holds int64 indices into ``label_names`` (float32
    targets for regression sets).
    """

    train_x: Any
    train_y: np.ndarray
    test_x: Any
    test_y: np.ndarray
    label_names: list[str]
    source: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Series:
    """A (possibly multivariate) time series: ``values`` is ``(T,)`` or ``(T, K)``."""

    name: str
    time: list[str]
    values: np.ndarray
    columns: list[str]
    freq: str
    seasonal_period: int
    source: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PairsData:
    """Source -> target pairs: ``(src string, tgt token list)``."""

    train: list[tuple[str, list[str]]]
    valid: list[tuple[str, list[str]]]
    test: list[tuple[str, list[str]]]
    source: str = ""
    #: every accepted target of a source that has several (e.g. CMUdict's alternate pronunciations)
    references: dict[str, list[list[str]]] = field(default_factory=dict)

    @classmethod
    def _from_cache(cls, kw: dict) -> PairsData:
        for k in ("train", "valid", "test"):
            kw[k] = [(s, list(t)) for s, t in kw[k]]
        return cls(**kw)


CONTAINERS = {c.__name__: c for c in (TextCorpus, TextClassData, SeqClassData, Series, PairsData)}


def save_result(obj: Any, path: Path) -> None:
    """Serialise a container to ``path`` (.npz, atomic write)."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray):
            arrays[f.name], kinds[f.name] = v, "array"
        elif isinstance(v, list) and v and all(isinstance(a, np.ndarray) for a in v):
            arrays[f.name + ".cat"] = np.concatenate(v, axis=0)
            arrays[f.name + ".len"] = np.array([len(a) for a in v], dtype=np.int64)
            kinds[f.name] = "ragged"
        else:
            plain[f.name], kinds[f.name] = v, "json"
    header = json.dumps({"type": type(obj).__name__, "kinds": kinds, "plain": plain})
    arrays["__header__"] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_result(path: Path) -> Any:
    """Inverse of :func:`save_result`."""
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(bytes(z["__header__"]).decode("utf-8"))
        kw: dict[str, Any] = {}
        for name, kind in header["kinds"].items():
            if kind == "array":
                kw[name] = z[name]
            elif kind == "ragged":
                cat, lens = z[name + ".cat"], z[name + ".len"]
                kw[name] = np.split(cat, np.cumsum(lens)[:-1])
            else:
                kw[name] = header["plain"][name]
    cls = CONTAINERS[header["type"]]
    return cls._from_cache(kw) if hasattr(cls, "_from_cache") else cls(**kw)
