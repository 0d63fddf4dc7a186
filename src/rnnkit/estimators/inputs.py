"""What an estimator's ``fit`` / ``predict`` accept, turned into one plain form: a list of examples.

Accepted ``X`` (every error names the expected and the received shape or type):

* a list of strings (or a numpy array / pandas Series of strings): texts;
* numpy ``(N, T, F)`` floats: N series of T steps with F features; ``(N, T)`` floats: one feature
  per step; trailing all-NaN steps are padding, so variable-length series can share one array
  (the UCR/sktime convention);
* numpy ``(N, T)`` integers: token ids already encoded (0 = padding, as Keras's ``pad_sequences``);
* a list of arrays of different lengths ``(T_i,)`` / ``(T_i, F)``: lengths are inferred and used;
* a pandas DataFrame: one text column, or numeric columns read as the steps of one series per row;
* a torch ``Dataset`` of ``(x, y)`` items or a ``DataLoader`` over one (its batches are split into
  items; a third element, when present, gives each item's length).

Targets ``y`` are a sequence of N labels / values, or ``None`` when X is a Dataset/DataLoader
(its items carry them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnkit.errors import DataError


def _is_pandas(obj: Any, name: str) -> bool:
    return type(obj).__module__.split(".")[0] == "pandas" and type(obj).__name__ == name


def _is_torch_data(obj: Any) -> bool:
    try:
        from torch.utils.data import DataLoader, Dataset
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(obj, (Dataset, DataLoader))


def describe(obj: Any) -> str:
    """A short description of ``obj`` for error messages: type and shape."""
    shape = getattr(obj, "shape", None)
    if shape is not None:
        return f"{type(obj).__name__} of shape {tuple(shape)} and dtype {getattr(obj, 'dtype', '?')}"
    if isinstance(obj, (list, tuple)):
        return f"{type(obj).__name__} of {len(obj)} items"
    return type(obj).__name__


def _strip_nan_padding(row: np.ndarray) -> np.ndarray:
    """A float series without its trailing all-NaN steps (how equal-shape arrays hold shorter series)."""
    bad = np.isnan(row).reshape(len(row), -1).all(axis=1)
    n = len(row) - int(np.argmin(bad[::-1])) if not bad.all() else 0
    return row[:n] if bad.any() and n else row


def from_array(X: np.ndarray, what: str = "X") -> list[Any]:
    """Examples of a numpy array (see the module docstring for the layouts)."""
    if X.dtype.kind in "USO" and X.ndim > 1:
        try:  # numbers that arrived as objects (e.g. from a mixed-type table)
            X = X.astype(np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{what}: an array of texts must be 1-D (one per example); this {describe(X)} "
                            "holds values that are not numbers") from None
    if X.dtype.kind in "USO":
        items = X.tolist()
        if all(isinstance(v, str) for v in items):
            return items
        return [np.asarray(v) for v in items]
    if X.dtype.kind == "c":
        raise DataError(f"{what}: Complex data not supported; expected real numbers, got {describe(X)}")
    if X.dtype.kind == "b":
        X = X.astype(np.float32)
    if X.ndim == 1:
        raise DataError(f"{what}: expected one sequence per example, got {describe(X)}. Reshape your data: "
                        "X.reshape(-1, 1) for N sequences of one step, X.reshape(1, -1) for one sequence")
    if X.shape[0] == 0:
        raise DataError(f"{what}: 0 sample(s) (shape={X.shape}) while a minimum of 1 is required")
    if X.shape[0] and X.ndim >= 2 and X.shape[1] == 0:
        raise DataError(f"{what}: 0 feature(s) (shape={X.shape[:2]}) while a minimum of 1 is required "
                        "(every sequence needs at least one step)")
    if X.ndim == 2 and X.dtype.kind in "iu":
        return list(X.astype(np.int64))  # token ids, one row per example
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise DataError(f"{what}: expected (N, T) or (N, T, F) numbers, a list of (T, F) arrays or a list of texts; "
                        f"got {describe(X)}")
    X = X.astype(np.float32, copy=False)
    return [_strip_nan_padding(row) for row in X] if np.isnan(X).any() else list(X)


def from_frame(X: Any, what: str = "X") -> list[Any]:
    """Examples of a pandas DataFrame (one text column, or numeric columns = the steps) or Series."""
    if _is_pandas(X, "Series"):
        return as_examples(X.to_numpy(), what)
    texty = [c for c in X.columns if X[c].dtype.kind in "OSU" or str(X[c].dtype) in ("string", "str")]
    if texty and len(X.columns) == 1:
        return [str(v) if v is not None and v == v else "" for v in X[texty[0]].tolist()]
    if texty:
        raise DataError(f"{what}: a DataFrame must hold one text column or only numeric columns (steps); "
                        f"got text column(s) {texty} beside {len(X.columns) - len(texty)} others; select one")
    return from_array(X.to_numpy(), what)  # integer columns stay token ids, as in a numpy array


def as_examples(X: Any, what: str = "X") -> list[Any]:
    """``X`` as a list of examples: strings, 1-D integer id arrays or float arrays ``(T, F)``."""
    if isinstance(X, str):
        raise DataError(f"{what}: got one string; pass a list of texts (e.g. [text])")
    if X is None:
        raise DataError(f"{what}: got None; expected the examples")
    if type(X).__module__.startswith("scipy.sparse"):
        raise DataError(f"{what}: sparse input is not supported; pass a dense array (X.toarray())")
    if _is_pandas(X, "DataFrame") or _is_pandas(X, "Series"):
        return from_frame(X, what)
    if not isinstance(X, (np.ndarray, Sequence)) and hasattr(X, "__array__"):
        X = np.asarray(X)
    if type(X).__module__.startswith("torch") and hasattr(X, "numpy") and not _is_torch_data(X):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        return from_array(X, what)
    if not isinstance(X, Sequence) or isinstance(X, bytes):
        raise DataError(f"{what}: expected an array, a list of sequences or texts, a DataFrame or a torch "
                        f"Dataset/DataLoader; got {describe(X)}")
    if len(X) == 0:
        raise DataError(f"{what}: no examples")
    if all(isinstance(v, str) for v in X):
        return list(X)
    out = []
    for i, v in enumerate(X):
        arr = np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
        if arr.dtype.kind not in "iuf" or arr.ndim not in (1, 2) or len(arr) == 0:
            raise DataError(f"{what}[{i}]: expected a non-empty (T,) or (T, F) numeric sequence or a text, "
                            f"got {describe(arr)}")
        out.append(arr if arr.dtype.kind in "iu" and arr.ndim == 1 else arr.astype(np.float32, copy=False))
    return out


def from_torch_data(data: Any, what: str = "X") -> tuple[list[Any], list[Any]]:
    """(examples, targets) of a torch Dataset of ``(x, y)`` items or a DataLoader (batches split)."""
    from torch.utils.data import DataLoader

    xs: list[Any] = []
    ys: list[Any] = []
    if isinstance(data, DataLoader):
        for b, batch in enumerate(data):
            if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
                raise DataError(f"{what}: batch {b} of the DataLoader must be (x, y) or (x, y, lengths), "
                                f"got {describe(batch)}")
            x, y = np.asarray(batch[0]), np.asarray(batch[1])
            lengths = np.asarray(batch[2]) if len(batch) == 3 else None
            for i in range(len(x)):
                xs.append(x[i] if lengths is None else x[i][: int(lengths[i])])
                ys.append(y[i].item() if y[i].ndim == 0 else y[i])
        return as_examples(xs, what), ys
    for i in range(len(data)):
        item = data[i]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise DataError(f"{what}[{i}]: Dataset items must be (x, y) pairs, got {describe(item)}")
        x, y = item
        xs.append(x if isinstance(x, str) else np.asarray(x))
        ys.append(y.item() if hasattr(y, "item") and np.ndim(y) == 0 else np.asarray(y) if hasattr(y, "shape") else y)
    return as_examples(xs, what), ys


def examples_and_targets(X: Any, y: Any, what: str = "X") -> tuple[list[Any], list[Any] | None]:
    """(examples, targets) from ``X`` and ``y``; a torch Dataset/DataLoader brings its own targets."""
    if _is_torch_data(X):
        if y is not None:
            raise DataError(f"{what} is a torch Dataset/DataLoader whose items carry the targets; do not pass y")
        return from_torch_data(X, what)
    items = as_examples(X, what)
    if y is None:
        return items, None
    ys = as_targets(y, "y")
    if len(ys) != len(items):
        raise DataError(f"{what} has {len(items)} examples but y has {len(ys)} targets; they must match")
    return items, ys


def as_targets(y: Any, what: str = "y") -> list[Any]:
    """Targets as a list (numpy scalars kept; per-step target arrays kept as arrays)."""
    if isinstance(y, str):
        raise DataError(f"{what}: got one string; pass one target per example")
    if _is_pandas(y, "DataFrame"):
        y = y.to_numpy()
    elif _is_pandas(y, "Series"):
        y = y.to_numpy()
    if type(y).__module__.startswith("torch") and hasattr(y, "numpy"):
        y = y.detach().cpu().numpy()
    if not isinstance(y, (np.ndarray, Sequence)) and hasattr(y, "__array__"):
        y = np.asarray(y)
    if isinstance(y, np.ndarray):
        return list(y) if y.ndim > 1 or y.dtype.kind == "O" else y.tolist()
    if not isinstance(y, Sequence):
        raise DataError(f"{what}: expected one target per example (a list or array), got {describe(y)}")
    return list(y)


__all__ = ["as_examples", "as_targets", "describe", "examples_and_targets", "from_array", "from_frame",
           "from_torch_data"]
