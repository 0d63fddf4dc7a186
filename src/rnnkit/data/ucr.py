"""UCR/UEA time-series classification archive: a ``.ts`` reader and the sktime-shipped sets.

The ``.ts`` format (sktime / timeseriesclassification.com)::

    # comments
    @problemName GunPoint
    @timeStamps false
    @univariate true            # @dimensions D for multivariate sets
    @equalLength true
    @classLabel true 1 2        # or @targetLabel true (regression)
    @data
    v,v,v,...:v,v,...:label     # one case per line, dimensions separated by ':'

Supported: univariate and multivariate, equal and unequal length, class or regression targets,
``?``/``NaN`` missing values. Missing values are never silently filled: the reader raises an
error naming the file and line unless ``allow_missing=True``, in which case they stay NaN and
``meta["missing_count"]`` says how many there were. ``@timeStamps true`` is not supported (error).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.archive import DatasetError, list_members, read_member
from rnnkit.data.containers import SeqClassData

log = logging.getLogger(__name__)

UCR_DIR = "sktime/datasets/data"
_MISSING = {"?", "nan", "NaN", "NAN"}


def _text_and_source(path_or_text: str | Path | bytes, source: str | None) -> tuple[str, str]:
    if isinstance(path_or_text, bytes):
        return path_or_text.decode("utf-8"), source or "<bytes>"
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        p = Path(path_or_text)
        return p.read_text(encoding="utf-8"), source or str(p)
    return path_or_text, source or "<text>"


def _bool(value: str, where: str) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise DatasetError(f"{where}: expected true/false, got {value!r}")
    return v == "true"


def _parse_header(key: str, rest: str, meta: dict, where: str) -> None:
    words = rest.split()
    if key == "problemname":
        meta["problem_name"] = rest.strip()
    elif key == "timestamps":
        if _bool(rest, where):
            raise DatasetError(f"{where}: @timeStamps true is not supported (only timestamps=false)")
    elif key in ("univariate", "equallength", "missing"):
        meta[{"equallength": "equal_length"}.get(key, key)] = _bool(rest, where)
    elif key in ("dimensions", "serieslength"):
        meta[{"serieslength": "series_length"}.get(key, key)] = int(words[0])
    elif key == "classlabel":
        meta["class_labels"] = words[1:] if words and _bool(words[0], where) else None
    elif key == "targetlabel":
        meta["target_label"] = bool(words) and _bool(words[0], where)
    else:
        log.debug("%s: ignoring header @%s", where, key)


def _parse_case(line: str, has_label: bool, where: str, allow_missing: bool) -> tuple[np.ndarray, str, int]:
    fields = line.split(":")
    label = fields.pop().strip() if has_label else ""
    if has_label and not label:
        raise DatasetError(f"{where}: missing class label at the end of the line")
    dims = []
    n_missing = 0
    for d, field_text in enumerate(fields):
        tokens = [t.strip() for t in field_text.split(",")]
        if tokens and tokens[-1] == "" and len(tokens) > 1:
            tokens.pop()  # tolerate a trailing comma
        values = []
        for t in tokens:
            if t in _MISSING:
                if not allow_missing:
                    raise DatasetError(
                        f"{where}: missing value {t!r} in dimension {d}; "
                        "pass allow_missing=True to keep it as NaN"
                    )
                n_missing += 1
                values.append(np.nan)
                continue
            try:
                values.append(float(t))
            except ValueError:
                raise DatasetError(f"{where}: not a number {t!r} in dimension {d}") from None
        dims.append(values)
    lengths = {len(v) for v in dims}
    if len(lengths) != 1 or 0 in lengths:
        raise DatasetError(f"{where}: dimensions have different or zero lengths {[len(v) for v in dims]}")
    return np.asarray(dims, dtype=np.float32).T, label, n_missing  # (T, D)


def read_ts(
    path_or_text: str | Path | bytes, *, allow_missing: bool = False, source: str | None = None
) -> tuple[list[np.ndarray], list[str], dict[str, Any]]:
    """Read a ``.ts`` file (a path, or its text) -> ``(X, y, meta)``.

    ``X`` is a list of ``(T_i, D)`` float32 arrays, ``y`` the label strings ("" when the file has
    no labels), ``meta`` the header (problem_name, univariate, dimensions, equal_length,
    class_labels, target_label) plus ``missing_count``. Errors name the file and line.
    """
    text, src = _text_and_source(path_or_text, source)
    meta: dict[str, Any] = {"class_labels": None, "target_label": False, "missing_count": 0}
    X: list[np.ndarray] = []
    y: list[str] = []
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{src}:{lineno}"
        if not line or line.startswith(("#", "%")):  # ARFF-style % comments occur too
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DatasetError(f"{where}: expected a @header or @data before data, got {line[:40]!r}")
            key, _, rest = line[1:].partition(" ")
            if key.lower() == "data":
                in_data = True
            else:
                _parse_header(key.lower(), rest, meta, where)
            continue
        has_label = meta["class_labels"] is not None or meta["target_label"]
        x, label, n_missing = _parse_case(line, has_label, where, allow_missing)
        expected_d = meta.get("dimensions") or (1 if meta.get("univariate") else None)
        if expected_d is not None and x.shape[1] != expected_d:
            raise DatasetError(f"{where}: {x.shape[1]} dimensions, header says {expected_d}")
        if X and x.shape[1] != X[0].shape[1]:
            raise DatasetError(f"{where}: {x.shape[1]} dimensions, earlier cases have {X[0].shape[1]}")
        labels = meta["class_labels"]
        if labels and label not in labels:
            raise DatasetError(f"{where}: class label {label!r} not in @classLabel {labels}")
        meta["missing_count"] += n_missing
        X.append(x)
        y.append(label)
    if not in_data:
        raise DatasetError(f"{src}: no @data section")
    if meta["missing_count"]:
        log.warning("%s: %d missing values kept as NaN", src, meta["missing_count"])
    return X, y, meta


def ucr_names_in(archive: Path) -> list[str]:
    """UCR/UEA set names shipped in the sktime archive (folders with both _TRAIN.ts and _TEST.ts)."""
    members = set(list_members(archive))
    names = {m.split("/")[-2] for m in members if m.startswith(UCR_DIR + "/") and m.endswith("_TRAIN.ts")}
    return sorted(n for n in names if f"{UCR_DIR}/{n}/{n}_TEST.ts" in members)


def _stack_if_equal(xs: list[np.ndarray]) -> Any:
    return np.stack(xs) if len({x.shape for x in xs}) == 1 else xs


def ucr_members(name: str) -> tuple[str, str]:
    """Archive paths of the official TRAIN and TEST files of UCR/UEA set ``name``."""
    return f"{UCR_DIR}/{name}/{name}_TRAIN.ts", f"{UCR_DIR}/{name}/{name}_TEST.ts"


def parse_ucr(
    archive: Path, train_member: str, test_member: str, allow_missing: bool = False
) -> SeqClassData:
    """Load a UCR/UEA set's TRAIN / TEST ``.ts`` files from the archive (the official split)."""
    parts = {}
    for split, member in (("TRAIN", train_member), ("TEST", test_member)):
        parts[split] = read_ts(read_member(archive, member), allow_missing=allow_missing, source=member)
    (xtr, ytr, meta), (xte, yte, meta_te) = parts["TRAIN"], parts["TEST"]
    if meta["target_label"]:
        labels: list[str] = []
        ytr_a, yte_a = np.asarray(ytr, np.float32), np.asarray(yte, np.float32)
    else:
        labels = meta["class_labels"] or sorted(set(ytr) | set(yte))
        index = {lab: i for i, lab in enumerate(labels)}
        ytr_a = np.array([index[v] for v in ytr], np.int64)
        yte_a = np.array([index[v] for v in yte], np.int64)
    equal = len({x.shape for x in xtr + xte}) == 1
    meta = {**meta, "missing_count": meta["missing_count"] + meta_te["missing_count"], "equal_length": equal}
    return SeqClassData(
        train_x=_stack_if_equal(xtr) if equal else xtr, train_y=ytr_a,
        test_x=_stack_if_equal(xte) if equal else xte, test_y=yte_a,
        label_names=labels, source=f"{archive.name}:{train_member.rsplit('/', 1)[0]}", meta=meta,
    )
