"""What `fit()` reports while it runs, and to whom.

The library never prints. `fit()` calls the methods of an optional `ProgressReporter`; the CLI
passes one that drives a rich progress bar, tests pass none (or a recorder). Subclass and override
what you need; every method has a no-op default. The same class is rnnkit's callback type
(`rnnkit.callbacks.Callback`): any number of them go to `fit(callbacks=[...])`, and one that sets
``stop_training = True`` ends the run after the current step (stop reason ``"callback"``).
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
    stop_reason: str  # "max_steps" | "epochs" | "max_minutes" | "early_stopping" | "callback" | "interrupted"
    elapsed_s: float
    items_per_s: float  # throughput over the whole run, in the model's `count` units (e.g. tokens)
    last_train: dict[str, float] = field(default_factory=dict)
    last_eval: dict[str, float] = field(default_factory=dict)


class ProgressReporter:
    """Receives progress events from `fit()`; all methods are optional no-ops.

    Setting ``stop_training = True`` in any event asks `fit()` to stop after the current step."""

    stop_training: bool = False

    def start(self, *, start_step: int, max_steps: int | None, max_seconds: float | None,
              elapsed_s: float) -> None:
        """Training begins (or resumes at `start_step`, `elapsed_s` already spent). `max_steps` is the
        run's step budget (from max_steps or epochs x batches per epoch), None for a time-only budget."""

    def step(self, step: int, elapsed_s: float) -> None:
        """Called after every optimizer step (cheap: no metric values, no device sync)."""

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        """Every `log_every` steps: mean training metrics (loss, lr, items_per_s, task metrics)."""

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        """After each validation pass."""

    def epoch_end(self, epoch: int, step: int) -> None:
        """After the last batch of epoch `epoch` (0-based) and its evaluation, if one was due."""

    def finish(self, result: FitResult) -> None:
        """Training is over (also after an interrupt, before KeyboardInterrupt propagates)."""


class Fanout(ProgressReporter):
    """Forwards every event to several reporters (the progress bar and the user's callbacks);
    asks to stop as soon as one of them does."""

    def __init__(self, reporters: list[ProgressReporter]) -> None:
        self.reporters = reporters

    @property  # type: ignore[override]
    def stop_training(self) -> bool:
        return any(r.stop_training for r in self.reporters)

    def start(self, **kw: Any) -> None:
        for r in self.reporters:
            r.start(**kw)

    def step(self, step: int, elapsed_s: float) -> None:
        for r in self.reporters:
            r.step(step, elapsed_s)

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        for r in self.reporters:
            r.log(step, metrics)

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        for r in self.reporters:
            r.evaluated(step, metrics, improved)

    def epoch_end(self, epoch: int, step: int) -> None:
        for r in self.reporters:
            r.epoch_end(epoch, step)

    def finish(self, result: FitResult) -> None:
        for r in self.reporters:
            r.finish(result)
