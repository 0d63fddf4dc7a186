"""Regression targets: one value (or K values) per sequence, or one per step; scaled on training only.

:func:`as_target_arrays` turns whatever the user gave into float arrays ``(K,)`` (many-to-one) or
``(T_i, K)`` (many-to-many, one row per input step) and decides which, by ``per_step`` or, when
that is None, by the data: targets with exactly one value per input step of every example are
per-step. :class:`TargetScaler` standardises each output with the mean and standard deviation of
the training part, so one learning rate suits targets in any units; predictions are mapped back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnkit.data.padding import pad
from rnnkit.data.tables import json_artifact, json_floats
from rnnkit.errors import DataError

log = logging.getLogger(__name__)


def _lengths(items: Sequence[Any]) -> list[int | None]:
    return [None if isinstance(x, str) else len(x) for x in items]


def _decide_per_step(ys: list[np.ndarray], lengths: list[int | None]) -> bool:
    fits = all(y.ndim >= 1 and n is not None and len(y) == n for y, n in zip(ys, lengths))
    if fits and any(len(y) > 1 for y in ys):
        log.info("y has one value per input step for every example: a many-to-many regressor "
                 "(set per_step=False for that many outputs per sequence)")
        return True
    return False


def as_target_arrays(targets: Sequence[Any], items: Sequence[Any], where: Sequence[str],
                     per_step: bool | None) -> tuple[list[np.ndarray], bool]:
    """(float32 arrays ``(K,)`` or ``(T_i, K)``, per_step); NaN/inf, ragged K or a per-step target
    whose length differs from its input are errors naming the example."""
    ys = []
    for y, w in zip(targets, where):
        try:
            arr = np.asarray(y, dtype=np.float32)
        except (TypeError, ValueError):
            raise DataError(f"{w}: target {y!r} is not numeric") from None
        if not np.isfinite(arr).all():
            raise DataError(f"{w}: missing (NaN) or infinite target; drop or fill the example")
        ys.append(arr)
    if per_step is None:
        per_step = _decide_per_step(ys, _lengths(items))
    if per_step:
        out = [y.reshape(len(y), -1) if y.ndim >= 1 else y.reshape(1, 1) for y in ys]
        for y, n, w in zip(out, _lengths(items), where):
            if n is None:
                raise DataError(f"{w}: per-step targets need numeric or token-id inputs, not text")
            if len(y) != n:
                raise DataError(f"{w}: {len(y)} per-step targets for an input of {n} steps; they must match")
    else:
        out = [y.reshape(-1) for y in ys]
    widths = {y.shape[-1] for y in out}
    if len(widths) > 1:
        raise DataError(f"targets have different numbers of values per {'step' if per_step else 'example'}: "
                        f"{sorted(widths)}; every example needs the same")
    return out, per_step


@dataclass
class TargetScaler:
    """Per-output standardisation fitted on the training targets."""

    mean: np.ndarray  # (K,)
    std: np.ndarray  # (K,)

    @classmethod
    def fit(cls, targets: Sequence[np.ndarray]) -> TargetScaler:
        flat = np.concatenate([y.reshape(-1, y.shape[-1]) for y in targets]).astype(np.float64)
        std = flat.std(0)
        return cls(flat.mean(0), np.where(std > 1e-12, std, 1.0))

    def transform(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return z * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    @json_artifact("targets.json")
    def from_dict(cls, d: dict[str, Any]) -> TargetScaler:
        mean = json_floats(d["mean"], "targets.json mean")
        return cls(mean, json_floats(d["std"], "targets.json std", len(mean), positive=True))


@dataclass(frozen=True)
class collate_targets:  # noqa: N801 - used as a function; a class so that estimators stay picklable
    """The batch builder's collate for targets: ``(B, K)``, or ``(B, T, K)`` padded with zeros."""

    per_step: bool

    def __call__(self, ys: list[np.ndarray]) -> torch.Tensor:
        if self.per_step:
            return pad([np.asarray(y, np.float32) for y in ys])[0]
        return torch.from_numpy(np.stack(ys).astype(np.float32))


__all__ = ["TargetScaler", "as_target_arrays", "collate_targets"]
