"""Where classification data comes from: bundled names and files, read into one `RawClassData`.

``source`` is either a bundled name of the dataset registry (``digits``, ``mnist-5k``,
``ucr:<Name>``, ``rt-sentiment``, ``reuters-r8``) or a path:

* ``.csv`` / ``.tsv`` / ``.jsonl``: one example per row with a text column and a label column. In
  JSONL the "text" may also be a list of numbers (a univariate series) or a list of lists (T, F). A CSV
  with no text column whose other columns all hold numbers is one univariate series per row (the UCR
  archive's CSV layout).
* ``.npz``: ``X_train, y_train, X_test, y_test`` or ``X, y`` (split by seed); X is (N, T) or (N, T, F).
* ``.ts``: a UCR/UEA file (``rnnkit.data.ucr.read_ts``).

Files without their own test split get a fixed-seed stratified one (``test_fraction``), unless
``test_source`` names a separate test file. Rows are described as ``file:line`` (or
``name:split[i]``) so that every data error points at the offending example.
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.classify import stratified_val_split
from rnnkit.data.sequences import MISSING_POLICIES, kind_of
from rnnkit.data.tables import TABLE_SUFFIXES, column, read_rows, shown
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SETS = ("digits", "mnist-5k")


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
    # an explicit validation set (e.g. an estimator's validation_data); None: carve one from training
    val_x: list[Any] | None = None
    val_y: list[str] | None = None
    val_where: list[str] | None = None
    # the labels' own values (JSON scalars, in label_order), so predictions come back as given
    label_values: list[Any] | None = None


#: cells read as a missing label or target (pandas' default NA strings)
MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                     "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})


def is_missing(value: Any) -> bool:
    """None, a float NaN, or a cell pandas would read as missing ("", "NaN", "NA", "null", ...)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return isinstance(value, (str, np.str_)) and value.strip() in MISSING


def _keep(values: list[Any] | None, idx: list[int]) -> list[Any] | None:
    return None if values is None else [values[i] for i in idx]


def handle_missing_labels(raw: RawClassData, policy: str = "error",
                          option: str = "data.missing_labels") -> RawClassData:
    """``raw`` without examples whose label/target is missing: an error naming those rows (``error``,
    the default: a missing label must not become a class "nan"), or dropped with a warning (``drop``)."""
    splits = {}
    for split in ("train", "val", "test"):
        y, where = getattr(raw, f"{split}_y"), getattr(raw, f"{split}_where")
        if y is None:
            continue
        bad = [i for i, v in enumerate(y) if is_missing(v)]
        if not bad:
            continue
        rows = ", ".join(where[i] for i in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        if policy != "drop":
            raise DataError(f"{rows}: missing label ({len(bad)} row(s)); fill them in or set {option}=drop")
        log.warning("%s: dropped %d example(s) with a missing label (%s=drop)", rows, len(bad), option)
        dropped = set(bad)
        keep = [i for i in range(len(y)) if i not in dropped]
        splits.update({f"{split}_{k}": _keep(getattr(raw, f"{split}_{k}"), keep) for k in ("x", "y", "where")})
    return replace(raw, **splits) if splits else raw


def _where(prefix: str, n: int) -> list[str]:
    return [f"{prefix}[{i}]" for i in range(n)]


def _from_container(name: str, d: Any, numeric: bool = False) -> RawClassData:
    names = list(d.label_names)
    if numeric:
        if hasattr(d, "train_texts") or names:
            raise DataError(f"{name} is a classification set (class labels {names[:5]}...); regress needs "
                            "numeric targets")
        return RawClassData("series", list(d.train_x), list(np.asarray(d.train_y, np.float64)), list(d.test_x),
                            list(np.asarray(d.test_y, np.float64)), _where(f"{name}:train", len(d.train_x)),
                            _where(f"{name}:test", len(d.test_x)), name)
    if hasattr(d, "train_texts"):
        tx, ty, vx, vy, kind = d.train_texts, d.train_labels, d.test_texts, d.test_labels, "text"
    else:
        if not names:
            raise DataError(f"{name} is a regression set (no class labels); classify needs class labels")
        tx, ty, vx, vy = list(d.train_x), d.train_y, list(d.test_x), d.test_y
        kind = "image" if name in IMAGE_SETS else "series"
    return RawClassData(kind, list(tx), [names[int(i)] for i in ty], list(vx), [names[int(i)] for i in vy],
                        _where(f"{name}:train", len(tx)), _where(f"{name}:test", len(vx)), name, names)


def _number(cell: Any) -> float | None:
    """A cell's value as a finite number, or None."""
    try:
        v = float(cell)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def wide_series(rows: list[tuple[Any, str]], text_column: str, label_column: str) -> list[np.ndarray] | None:
    """The examples of a table without ``text_column`` whose other columns all hold numbers: one univariate
    series per row, its steps in column order (the UCR archive's CSV layout, or a saved ``X`` matrix beside
    its labels). Empty cells at the end of a row end a shorter series; any other cell that is not a number
    is an error naming its row and column. None when the table has the text column or the first row's other
    cells are not all numbers (the table is then read as texts, and a missing text column is the error)."""
    first = rows[0][0]
    if not isinstance(first, dict) or text_column in first:
        return None
    steps = [c for c in first if c is not None and c != label_column]  # (new inputs to predict may have no label)
    filled = [first[c] for c in steps if first[c] not in (None, "")]
    if len(filled) < 2 or any(_number(v) is None for v in filled):
        return None
    out = []
    for row, where in rows:
        if row.get(None):
            width = len([c for c in first if c is not None])
            raise DataError(f"{where}: {width + len(row[None])} cells, more than the header's {width} (one numeric "
                            f"series per row: each column but {label_column!r} a step)")
        cells = [row[c] for c in steps]
        while cells and cells[-1] in (None, ""):
            cells.pop()
        values = []
        for c, cell in zip(steps, cells):
            v = _number(cell)
            if v is None:
                raise DataError(f"{where}: column {shown(c)!r} holds {cell!r}, not a number (read as one numeric "
                                f"series per row: each column but {label_column!r} is a step; only cells at the end "
                                "of a row may be empty)")
            values.append(v)
        if not values:
            raise DataError(f"{where}: no values (one numeric series per row)")
        out.append(np.asarray(values, dtype=np.float32))
    return out


def read_table(path: str | Path, text_column: str, label_column: str) -> tuple[list[Any], list[Any], list[str]]:
    """(texts, labels, row descriptions) of a CSV/TSV/JSONL file; missing columns list the valid ones
    (missing labels are kept here, as None or their cell text, for :func:`handle_missing_labels`). A CSV
    without the text column whose other columns are all numbers is one numeric series per row
    (:func:`wide_series`)."""
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: no data rows")
    wide = wide_series(rows, text_column, label_column)
    if wide is not None:
        log.info("%s: no column %r and every other column holds numbers: one series of up to %d steps per row",
                 path, text_column, max(map(len, wide)))
    texts = wide if wide is not None else column(rows, text_column, "--text-column / --label-column")
    labels = column(rows, label_column, "--text-column / --label-column")
    where = [w for _, w in rows]
    return texts, [v if (isinstance(v, (int, float)) and not isinstance(v, bool)) or v is None else str(v).strip()
                   for v in labels], where


def _split(x: list, y: list, where: list[str], fraction: float, seed: int, numeric: bool = False) -> tuple:
    """A fixed-seed (train, test) split for sources that do not ship one: stratified by label, or
    plain random for numeric targets."""
    if numeric:
        order = np.random.default_rng(seed).permutation(len(x))
        k = int(round(fraction * len(x)))
        te, tr = np.sort(order[:k]), np.sort(order[k:])
    else:
        codes = np.unique(np.asarray([str(v) for v in y]), return_inverse=True)[1]
        tr, te = stratified_val_split(codes, fraction, seed)
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    return (pick(x, tr), pick(y, tr), pick(where, tr)), (pick(x, te), pick(y, te), pick(where, te))


#: what a broken or foreign .npz raises inside numpy and zipfile (zip, zlib, header and pickle refusals;
#: zipfile says NotImplementedError for a damaged compression method, RuntimeError for an encrypted entry)
NPZ_ERRORS = (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error,
              NotImplementedError, RuntimeError)


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz (never unpickling); a file numpy cannot read is a DataError."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise DataError(f"{path}: a single .npy array, not an .npz archive of named arrays")
            return {k: z[k] for k in z.files}
    except NPZ_ERRORS as e:
        reason = "it holds Python objects (object dtype)" if "allow_pickle" in str(e) else str(e).split("\n")[0]
        raise DataError(f"{path}: not a readable .npz of numeric arrays ({reason})") from None
    except AttributeError:
        raise DataError(f"{path}: not an .npz archive of named arrays") from None


def check_npz_splits(path: Path, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray | None,
                     yte: np.ndarray | None, numeric: bool) -> None:
    """Everything training would trip over later, found before it starts: X numeric (N, T) or
    (N, T, F) with N >= 1, y one target per example (1-D for classes), equal feature counts."""
    names = ("X_train", "y_train", "X_test", "y_test") if xte is not None else ("X", "y", None, None)
    for name, x, y in ((names[0], xtr, ytr), (names[2], xte, yte)):
        if x is None:
            continue
        if x.dtype.kind not in "biuf":
            raise DataError(f"{path}: {name} must hold numbers, got dtype {x.dtype}")
        if x.ndim not in (2, 3) or x.shape[0] == 0 or x.shape[1] == 0:
            raise DataError(f"{path}: {name} must be (N, T) or (N, T, F) with N, T >= 1, got shape {x.shape}")
        yname = names[names.index(name) + 1]
        if y.ndim == 0 or len(y) != len(x):
            raise DataError(f"{path}: {name} has {len(x)} examples but {yname} has "
                            f"{y.shape[0] if y.ndim else 'no'} targets; they must match")
        if (y.ndim != 1 and not numeric) or (numeric and y.dtype.kind not in "biuf"):
            raise DataError(f"{path}: {yname} must be one {'number' if numeric else 'class label'} per example, "
                            f"got dtype {y.dtype} and shape {y.shape}")
    if xte is not None:
        f_tr, f_te = (1 if a.ndim == 2 else a.shape[2] for a in (xtr, xte))
        if f_tr != f_te:
            raise DataError(f"{path}: X_train has {f_tr} feature(s) per step but X_test has {f_te}; they must match")


def _load_npz(path: Path, fraction: float, seed: int, numeric: bool = False) -> RawClassData:
    z = _npz_arrays(path)
    keys = set(z)
    if {"X_train", "y_train", "X_test", "y_test"} <= keys:
        xtr, ytr, xte, yte = (z[k] for k in ("X_train", "y_train", "X_test", "y_test"))
    elif {"X", "y"} <= keys:
        xtr, ytr, xte, yte = z["X"], z["y"], None, None
    else:
        raise DataError(f"{path}: expected arrays X_train, y_train, X_test, y_test (or X, y); "
                        f"found {', '.join(sorted(keys)) or 'none'}")
    check_npz_splits(path, xtr, ytr, xte, yte, numeric)
    targets = (lambda y: list(y.astype(np.float64))) if numeric else (lambda y: [str(v) for v in y.tolist()])  # noqa: E731
    ytr_s = targets(ytr)
    wtr = _where(f"{path}:X_train" if xte is not None else f"{path}:X", len(xtr))
    if xte is None:
        (xtr_l, ytr_s, wtr), (xte_l, yte_s, wte) = _split(list(xtr), ytr_s, wtr, fraction, seed, numeric)
    else:
        xtr_l, xte_l, yte_s = list(xtr), list(xte), targets(yte)
        wte = _where(f"{path}:X_test", len(xte))
    return RawClassData("series", xtr_l, ytr_s, xte_l, yte_s, wtr, wte, str(path))


def _load_ts(path: Path, numeric: bool = False) -> tuple[list, list, list[str]]:
    from rnnkit.data.ucr import read_ts

    X, y, meta = read_ts(path, allow_missing=True)  # NaN then reported per row by check_series
    regression = bool(meta.get("target_label")) or meta.get("class_labels") is None
    if regression != numeric:
        need = "a @targetLabel header; regress needs numeric targets" if numeric else \
            "a @classLabel header; classify needs class labels"
        raise DataError(f"{path}: no {need}")
    return X, (list(np.asarray(y, np.float64)) if numeric else y), _where(str(path), len(X))


def as_numbers(values: list[Any], where: list[str], column_name: str) -> list[float]:
    """Numeric targets of a table column; a cell that is not a number is an error naming its row."""
    out = []
    for v, w in zip(values, where):
        if is_missing(v):
            out.append(float("nan"))  # handle_missing_labels names or drops it
            continue
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            raise DataError(f"{w}: {column_name!r} holds {v!r}, not a number") from None
        if not np.isfinite(out[-1]):
            raise DataError(f"{w}: {column_name!r} holds {v!r}; targets must be finite numbers")
    return out


def _read_file(path: Path, text_column: str, label_column: str, numeric: bool = False) -> tuple[list, list, list[str]]:
    if path.suffix in TABLE_SUFFIXES:
        x, y, where = read_table(path, text_column, label_column)
        return x, (as_numbers(y, where, label_column) if numeric else [str(v) for v in y]), where
    if path.suffix == ".ts":
        return _load_ts(path, numeric)
    raise DataError(f"{path}: unsupported file type {path.suffix!r}; use .csv, .tsv, .jsonl, .npz or .ts")


def load_raw(source: str, *, test_source: str | None = None, text_column: str = "text",
             label_column: str = "label", test_fraction: float = 0.2, split_seed: int = 0,
             numeric: bool = False) -> RawClassData:
    """Resolve ``source`` (bundled name or path) into train/test examples with string labels, or
    with numeric targets (``numeric=True``, for regression)."""
    path = Path(source)
    if not path.exists() and "/" not in source and path.suffix not in (*TABLE_SUFFIXES, ".npz", ".ts"):
        from rnnkit.data.registry import load_dataset

        return _from_container(source, load_dataset(source), numeric)
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        return _load_npz(path, test_fraction, split_seed, numeric)
    x, y, where = _read_file(path, text_column, label_column, numeric)
    if test_source:
        tx, ty, tw = _read_file(Path(test_source), text_column, label_column, numeric)
    else:
        (x, y, where), (tx, ty, tw) = _split(x, y, where, test_fraction, split_seed, numeric)
        log.info("%s: no test file given; held out a %s%.0f%% test split (seed %d)",
                 source, "" if numeric else "stratified ", 100 * test_fraction, split_seed)
    return RawClassData(kind_of(x + tx), x, y, tx, ty, where, tw, str(path))


__all__ = ["IMAGE_SETS", "MISSING", "MISSING_POLICIES", "RawClassData", "check_npz_splits", "handle_missing_labels",
           "is_missing", "load_raw", "read_table", "wide_series"]
