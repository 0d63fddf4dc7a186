"""What `fit()` reports while it runs, and to whom.

The library never prints. `fit()` calls the methods of an optional `ProgressReporter`; the CLI
passes one that drives a rich progress bar, tests pass none (or a recorder). Subclass and override
what you need; every method has a no-op default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FitResult:
    """Summary of one `fit()` call."""

    steps: int  # optimizer steps completed in total (including before a resume)
    best_step: int | None  # step of the best validation value (None without validation)
    best_value: float | None  # best value of the monitored metric
    monitor: str
    stop_reason: str  # "max_steps" | "max_minutes" | "early_stopping" | "interrupted"
    elapsed_s: float
    items_per_s: float  # throughput over the whole run, in the model's `count` units (e.g. tokens)
    last_train: dict[str, float] = field(default_factory=dict)
    last_eval: dict[str, float] = field(default_factory=dict)


class ProgressReporter:
    """Receives progress events from `fit()`; all methods are optional no-ops."""

    def start(self, *, start_step: int, max_steps: int, max_seconds: float | None,
              elapsed_s: float) -> None:
        """Training begins (or resumes at `start_step`, `elapsed_s` already spent)."""

    def step(self, step: int, elapsed_s: float) -> None:
        """Called after every optimizer step (cheap: no metric values, no device sync)."""

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Every `log_every` steps: mean training metrics (loss, lr, items_per_s, task metrics)."""

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        """After each validation pass."""

    def finish(self, result: FitResult) -> None:
        """Training is over (also after an interrupt, before KeyboardInterrupt propagates)."""
