"""What a person watching training sees: a rich progress bar, or one line per evaluation.

Both are `ProgressReporter`s fed by `fit()`'s events. The library itself never prints: these run
only when a caller asks for them, the CLI always and an estimator's ``fit(verbose=...)`` when the
user wants output (Keras's ``verbose``). Progress is the larger of the step fraction and the
time-budget fraction; "left" is the matching estimate of the remaining time.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from rnnkit.train.progress import FitResult, ProgressReporter


class RichProgress(ProgressReporter):
    """Shows step, loss and the task's chosen metrics (e.g. bpc, tok/s) and the time left."""

    def __init__(self, console: Console, fields: dict[str, str] | None = None, own_bar: bool = False) -> None:
        """``own_bar``: start the bar at `start` and stop it at `finish` (when not used as a context manager)."""
        self.console = console
        self.fields = fields or {}
        self.own_bar = own_bar
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                            TextColumn("left {task.fields[left]}"), TextColumn("{task.fields[info]}"),
                            console=console, transient=False)
        self.task_id: Any = None
        self.max_steps, self.max_s = 1, None
        self.t_start, self.step0, self.elapsed0 = 0.0, 0, 0.0

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()

    def start(self, *, start_step: int, max_steps: int | None, max_seconds: float | None, elapsed_s: float) -> None:
        self.max_steps, self.max_s = max_steps, max_seconds
        self.t_start, self.step0, self.elapsed0 = time.monotonic(), start_step, elapsed_s
        if self.own_bar:
            self.bar.start()
        self.task_id = self.bar.add_task("train", total=1000, left="?", info="")

    def _fraction(self, step: int, elapsed: float) -> float:
        frac = step / self.max_steps if self.max_steps else 0.0
        if self.max_s:
            frac = max(frac, elapsed / self.max_s)
        return min(1.0, frac)

    def step(self, step: int, elapsed_s: float) -> None:
        frac = self._fraction(step, elapsed_s)
        rate = (time.monotonic() - self.t_start) / max(1, step - self.step0)  # s per step
        left = (self.max_steps - step) * rate if self.max_steps else None
        if self.max_s:
            left = self.max_s - elapsed_s if left is None else min(left, self.max_s - elapsed_s)
        m, s = divmod(int(max(0.0, left or 0.0)), 60)
        self.bar.update(self.task_id, completed=int(frac * 1000), left="?" if left is None else f"{m}:{s:02d}",
                        description=f"step {step}")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        parts = [f"loss {metrics['loss']:.3f}"]
        for key, label in self.fields.items():
            if key in metrics:
                v = metrics[key]
                parts.append(f"{label} {v:,.0f}" if abs(v) >= 100 else f"{label} {v:.3f}")
        self.bar.update(self.task_id, info="  ".join(parts))

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        vals = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        self.bar.console.print(f"step {step}: {vals}{'  (best)' if improved else ''}", highlight=False)

    def finish(self, result: FitResult) -> None:
        if self.task_id is not None and result.stop_reason != "interrupted":
            self.bar.update(self.task_id, completed=1000, left="0:00")
        if self.own_bar:
            self.bar.stop()


class EvalLines(ProgressReporter):
    """One line per validation (Keras's ``verbose=2``): step, train loss and every validation metric."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.loss: float | None = None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self.loss = metrics.get("loss")

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        vals = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        loss = f"loss {self.loss:.4f}  " if self.loss is not None else ""
        self.console.print(f"step {step}: {loss}{vals}{'  (best)' if improved else ''}", highlight=False)

    def finish(self, result: FitResult) -> None:
        self.console.print(f"stopped: {result.stop_reason} after {result.steps} steps, {result.elapsed_s:.1f} s",
                           highlight=False)


def reporters_for(verbose: int | str, fields: dict[str, str] | None = None) -> list[ProgressReporter]:
    """Reporters for an estimator's ``verbose``: 0 none, 1 a progress bar, 2 one line per
    evaluation, "auto" a bar on a terminal or in a notebook and nothing otherwise; none on a torchrun
    worker other than rank 0 (it trains the same run)."""
    console = Console(stderr=True, emoji=False)
    if verbose == "auto":
        verbose = 1 if (console.is_terminal or console.is_jupyter) else 0
    if verbose not in (0, 1, 2):
        from rnnkit.errors import ConfigError

        raise ConfigError(f"verbose={verbose!r}; valid: 0 (silent), 1 (progress bar), 2 (a line per evaluation), auto")
    if os.environ.get("RANK", "0") != "0":
        return []
    if verbose == 1:
        return [RichProgress(console, fields, own_bar=True)]
    return [EvalLines(console)] if verbose == 2 else []
