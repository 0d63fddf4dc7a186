"""Callbacks for ``fit(callbacks=[...])``, Keras style.

A callback is a :class:`Callback` (rnnkit's `ProgressReporter`): override any of ``start``,
``step``, ``log``, ``evaluated``, ``epoch_end``, ``finish``; set ``self.stop_training = True`` to end
the run after the current step. Plain functions are called with the step number after every step.
"""

from __future__ import annotations

import math
from typing import Any

from rnnkit.train.history import History
from rnnkit.train.progress import FitResult
from rnnkit.train.progress import ProgressReporter as Callback


class EarlyStopping(Callback):
    """Stop when ``monitor`` (any validation metric, e.g. ``val_accuracy``) has not improved by more
    than ``min_delta`` for ``patience`` evaluations. ``mode`` "auto" maximises metrics whose name
    contains acc, f1, r2, bleu or exact_match and minimises the rest. The weights kept at the end
    are the best by the task's own monitor (as always in rnnkit)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "auto") -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode={mode!r}; valid: auto, min, max")
        maximise = any(k in monitor for k in ("acc", "f1", "r2", "bleu", "exact_match"))
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.sign = -1.0 if (mode == "max" or (mode == "auto" and maximise)) else 1.0
        self.best, self.wait = math.inf, 0

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        if self.monitor not in metrics:
            raise KeyError(f"EarlyStopping: {self.monitor!r} is not among the validation metrics {sorted(metrics)}")
        value = self.sign * float(metrics[self.monitor])
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
        else:
            self.wait += 1
            self.stop_training = self.wait >= self.patience


__all__ = ["Callback", "EarlyStopping", "FitResult", "History"]
