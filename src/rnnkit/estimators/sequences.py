"""Input handling shared by the estimators that read one sequence per example (classifier, regressor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.data.sequences import InputEncoder, kind_of
from rnnkit.errors import DataError
from rnnkit.estimators.inputs import _is_torch_data, as_examples, describe, examples_and_targets, from_torch_data

#: what each input kind is called in messages
KIND_NAMES = {"text": "texts", "tokens": "integer token ids", "series": "numeric series", "image": "numeric series"}


def where(prefix: str, n: int) -> list[str]:
    """Row descriptions ``X[0]``, ``X[1]``, ... for error messages."""
    return [f"{prefix}[{i}]" for i in range(n)]


def json_scalar(v: Any) -> Any:
    """A label as a JSON scalar (numpy scalars unwrapped), so labels.json can give it back unchanged."""
    v = v.item() if isinstance(v, np.generic) else v
    return v if isinstance(v, (str, int, float, bool)) else str(v)


def check_labels(labels: list[Any]) -> list[Any]:
    """Class labels as a flat list: a column vector is flattened (with scikit-learn's
    DataConversionWarning); continuous values and missing labels (None / NaN) are errors naming
    the first row, never classes of their own."""
    import warnings

    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils.multiclass import type_of_target

    if labels and all(isinstance(v, np.ndarray) and v.shape == (1,) for v in labels):
        warnings.warn("A column-vector y was passed when a 1d array was expected; flattening it",
                      DataConversionWarning, stacklevel=3)
        labels = [v[0].item() if isinstance(v[0], np.generic) else v[0] for v in labels]
    numeric = [v for v in labels if isinstance(v, (float, np.floating))]
    if numeric and all(v == v for v in numeric) and type_of_target(np.asarray(numeric)) == "continuous":
        raise DataError("Unknown label type: continuous values in y; a classifier needs class labels "
                        "(use rnnkit.SequenceRegressor for numeric targets)")
    for i, v in enumerate(labels):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, np.ndarray) and v.ndim > 0):
            what = "a missing label" if not isinstance(v, np.ndarray) else f"an array label of shape {v.shape}"
            raise DataError(f"y[{i}]: {what}; classification needs one label per example")
    return labels


class SequenceInputs:
    """Mixin: ``X`` -> examples -> encoded sequences with the fitted model's own input encoder."""

    def _examples(self, X: Any, y: Any, what: str = "X") -> tuple[list[Any], list[Any]]:
        if y is None and not _is_torch_data(X):
            raise DataError(f"{type(self).__name__} requires y to be passed, but the target y is None "
                            f"(X is a {describe(X)})")
        return examples_and_targets(X, y, what)

    @staticmethod
    def _kind(items: list[Any]) -> str:
        return kind_of(items)

    def _encode(self, X: Any, with_items: bool = False) -> Any:
        """Examples of ``X`` encoded as the model was trained (vocabulary / scaler / feature count); with
        ``with_items``, ``(raw examples, encoded)``."""
        self._check_fitted()
        from torch.utils.data import DataLoader, Dataset

        items = from_torch_data(X)[0] if isinstance(X, (Dataset, DataLoader)) else as_examples(X)
        enc = InputEncoder.from_artifacts(self.artifacts_, self._input_meta(), self.config_.data.max_len)
        got = kind_of(items)
        if KIND_NAMES[got] != KIND_NAMES[enc.kind]:
            raise DataError(f"X: this model reads {KIND_NAMES[enc.kind]}, but X holds {KIND_NAMES[got]} "
                            f"({describe(X)})")
        seqs = enc.encode(items, where("X", len(items)))
        return (items, seqs) if with_items else seqs

    def _input_meta(self) -> dict[str, Any]:
        return self.artifacts_["labels.json"]


__all__ = ["KIND_NAMES", "SequenceInputs", "check_labels", "json_scalar", "where"]
