"""Where classification data comes from: bundled names and files, read into one `RawClassData`.

``source`` is either a bundled name of the dataset registry (``digits``, ``mnist-5k``,
``ucr:<Name>``, ``rt-sentiment``, ``reuters-r8``) or a path:

* ``.csv`` / ``.tsv`` / ``.jsonl``: one example per row with a text column and a label column. In
  JSONL the "text" may also be a list of numbers (a univariate series) or a list of lists (T, F).
* ``.npz``: ``X_train, y_train, X_test, y_test`` or ``X, y`` (split by seed); X is (N, T) or (N, T, F).
* ``.ts``: a UCR/UEA file (``rnnkit.data.ucr.read_ts``).

Files without their own test split get a fixed-seed stratified one (``test_fraction``), unless
``test_source`` names a separate test file. Rows are described as ``file:line`` (or
``name:split[i]``) so that every data error points at the offending example.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.classify import stratified_val_split
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SETS = ("digits", "mnist-5k")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


@dataclass
class RawClassData:
    """Examples before encoding: texts (str) or series (arrays / nested lists), string labels."""

    kind: str  # "text" | "series" | "image"
    train_x: list[Any]
    train_y: list[str]
    test_x: list[Any]
    test_y: list[str]
    train_where: list[str]
    test_where: list[str]
    source: str
    label_order: list[str] | None = None  # the source's own class order, when it has one


def _where(prefix: str, n: int) -> list[str]:
    return [f"{prefix}[{i}]" for i in range(n)]


def _from_container(name: str, d: Any) -> RawClassData:
    names = list(d.label_names)
    if hasattr(d, "train_texts"):
        tx, ty, vx, vy, kind = d.train_texts, d.train_labels, d.test_texts, d.test_labels, "text"
    else:
        if not names:
            raise DataError(f"{name} is a regression set (no class labels); classify needs class labels")
        tx, ty, vx, vy = list(d.train_x), d.train_y, list(d.test_x), d.test_y
        kind = "image" if name in IMAGE_SETS else "series"
    return RawClassData(kind, list(tx), [names[int(i)] for i in ty], list(vx), [names[int(i)] for i in vy],
                        _where(f"{name}:train", len(tx)), _where(f"{name}:test", len(vx)), name, names)


def read_table(path: str | Path, text_column: str, label_column: str) -> tuple[list[Any], list[str], list[str]]:
    """(texts, labels, row descriptions) of a CSV/TSV/JSONL file; missing columns list the valid ones."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    rows: list[tuple[dict, str]] = []
    if path.suffix in (".jsonl", ".json"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((json.loads(line), f"{path}:{n}"))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
    else:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            for row in reader:
                rows.append((row, f"{path}:{reader.line_num}"))
    if not rows:
        raise DataError(f"{path}: no data rows")
    texts, labels, where = [], [], []
    for row, w in rows:
        for col in (text_column, label_column):
            if col not in row:
                raise DataError(f"{w}: no column {col!r}; columns: {', '.join(map(str, row))} "
                                "(set --text-column / --label-column)")
        label = row[label_column]
        if label is None or str(label).strip() == "":
            raise DataError(f"{w}: empty label in column {label_column!r}")
        texts.append(row[text_column])
        labels.append(str(label).strip())
        where.append(w)
    return texts, labels, where


def _split(x: list, y: list[str], where: list[str], fraction: float, seed: int) -> tuple:
    """A fixed-seed stratified (train, test) split for sources that do not ship one."""
    codes = np.unique(np.asarray(y), return_inverse=True)[1]
    tr, te = stratified_val_split(codes, fraction, seed)
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    return (pick(x, tr), pick(y, tr), pick(where, tr)), (pick(x, te), pick(y, te), pick(where, te))


def _kind_of(values: list[Any]) -> str:
    return "text" if all(isinstance(v, str) or v is None for v in values) else "series"


def _load_npz(path: Path, fraction: float, seed: int) -> RawClassData:
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if {"X_train", "y_train", "X_test", "y_test"} <= keys:
            xtr, ytr, xte, yte = (z[k] for k in ("X_train", "y_train", "X_test", "y_test"))
        elif {"X", "y"} <= keys:
            xtr, ytr, xte, yte = z["X"], z["y"], None, None
        else:
            raise DataError(f"{path}: expected arrays X_train, y_train, X_test, y_test (or X, y); "
                            f"found {', '.join(sorted(keys))}")
    for name, a in (("X", xtr), ("X_test", xte)):
        if a is not None and a.ndim not in (2, 3):
            raise DataError(f"{path}: {name} must be (N, T) or (N, T, F), got shape {a.shape}")
    ytr_s = [str(v) for v in ytr.tolist()]
    wtr = _where(f"{path}:X_train" if xte is not None else f"{path}:X", len(xtr))
    if xte is None:
        (xtr_l, ytr_s, wtr), (xte_l, yte_s, wte) = _split(list(xtr), ytr_s, wtr, fraction, seed)
    else:
        xtr_l, xte_l, yte_s = list(xtr), list(xte), [str(v) for v in yte.tolist()]
        wte = _where(f"{path}:X_test", len(xte))
    return RawClassData("series", xtr_l, ytr_s, xte_l, yte_s, wtr, wte, str(path))


def _load_ts(path: Path) -> tuple[list, list[str], list[str]]:
    from rnnkit.data.ucr import read_ts

    X, y, meta = read_ts(path, allow_missing=True)  # NaN then reported per row by check_series
    if meta.get("target_label") or meta.get("class_labels") is None:
        raise DataError(f"{path}: no @classLabel header; classify needs class labels")
    return X, y, _where(str(path), len(X))


def _read_file(path: Path, text_column: str, label_column: str) -> tuple[list, list[str], list[str]]:
    if path.suffix in TABLE_SUFFIXES:
        return read_table(path, text_column, label_column)
    if path.suffix == ".ts":
        return _load_ts(path)
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv, .jsonl, .npz or .ts")


def load_raw(source: str, *, test_source: str | None = None, text_column: str = "text",
             label_column: str = "label", test_fraction: float = 0.2, split_seed: int = 0) -> RawClassData:
    """Resolve ``source`` (bundled name or path) into train/test examples with string labels."""
    path = Path(source)
    if not path.exists() and "/" not in source and path.suffix not in (*TABLE_SUFFIXES, ".npz", ".ts"):
        from rnnkit.data.registry import load_dataset

        return _from_container(source, load_dataset(source))
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        return _load_npz(path, test_fraction, split_seed)
    x, y, where = _read_file(path, text_column, label_column)
    if test_source:
        tx, ty, tw = _read_file(Path(test_source), text_column, label_column)
    else:
        (x, y, where), (tx, ty, tw) = _split(x, y, where, test_fraction, split_seed)
        log.info("%s: no test file given; held out a stratified %.0f%% test split (seed %d)",
                 source, 100 * test_fraction, split_seed)
    return RawClassData(_kind_of(x + tx), x, y, tx, ty, where, tw, str(path))


__all__ = ["IMAGE_SETS", "RawClassData", "load_raw", "read_table"]
