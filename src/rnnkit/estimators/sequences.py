"""Input handling shared by the estimators that read one sequence per example (classifier, regressor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.data.sequences import InputEncoder, kind_of
from rnnkit.errors import DataError
from rnnkit.estimators.inputs import as_examples, describe, examples_and_targets, from_torch_data

#: what each input kind is called in messages
KIND_NAMES = {"text": "texts", "tokens": "integer token ids", "series": "numeric series", "image": "numeric series"}


def where(prefix: str, n: int) -> list[str]:
    """Row descriptions ``X[0]``, ``X[1]``, ... for error messages."""
    return [f"{prefix}[{i}]" for i in range(n)]


def json_scalar(v: Any) -> Any:
    """A label as a JSON scalar (numpy scalars unwrapped), so labels.json can give it back unchanged."""
    v = v.item() if isinstance(v, np.generic) else v
    return v if isinstance(v, (str, int, float, bool)) else str(v)


def check_labels(labels: list[Any]) -> None:
    """Missing labels (None / NaN) are an error naming the first row, never a class of their own."""
    for i, v in enumerate(labels):
        if v is None or (isinstance(v, float) and v != v) or (isinstance(v, np.ndarray) and v.ndim > 0):
            what = "a missing label" if not isinstance(v, np.ndarray) else f"an array label of shape {v.shape}"
            raise DataError(f"y[{i}]: {what}; classification needs one label per example")


class SequenceInputs:
    """Mixin: ``X`` -> examples -> encoded sequences with the fitted model's own input encoder."""

    def _examples(self, X: Any, y: Any, what: str = "X") -> tuple[list[Any], list[Any]]:
        items, targets = examples_and_targets(X, y, what)
        if targets is None:
            raise DataError(f"{what}: targets y are required for training / scoring (got X of {describe(X)} only)")
        return items, targets

    @staticmethod
    def _kind(items: list[Any]) -> str:
        return kind_of(items)

    def _encode(self, X: Any) -> list[Any]:
        """Examples of ``X`` encoded as the model was trained (vocabulary / scaler / feature count)."""
        self._check_fitted()
        from torch.utils.data import DataLoader, Dataset

        items = from_torch_data(X)[0] if isinstance(X, (Dataset, DataLoader)) else as_examples(X)
        enc = InputEncoder.from_artifacts(self.artifacts_, self._input_meta(), self.config_.data.max_len)
        got = kind_of(items)
        if KIND_NAMES[got] != KIND_NAMES[enc.kind]:
            raise DataError(f"X: this model reads {KIND_NAMES[enc.kind]}, but X holds {KIND_NAMES[got]} "
                            f"({describe(X)})")
        return enc.encode(items, where("X", len(items)))

    def _input_meta(self) -> dict[str, Any]:
        return self.artifacts_["labels.json"]


__all__ = ["KIND_NAMES", "SequenceInputs", "check_labels", "json_scalar", "where"]
