"""The CLI's progress reporter: a rich progress bar fed by `fit()`'s ProgressReporter events.

Lives beside cli.py because only the CLI touches the console. Progress is the larger of the step
fraction and the time-budget fraction; "left" is the matching estimate of the remaining time.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from rnnkit.train.progress import FitResult, ProgressReporter


class RichProgress(ProgressReporter):
    """Shows step, loss and the task's chosen metrics (e.g. bpc, tok/s) and the time left."""

    def __init__(self, console: Console, fields: dict[str, str] | None = None) -> None:
        self.console = console
        self.fields = fields or {}
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

    def start(self, *, start_step: int, max_steps: int, max_seconds: float | None, elapsed_s: float) -> None:
        self.max_steps, self.max_s = max_steps, max_seconds
        self.t_start, self.step0, self.elapsed0 = time.monotonic(), start_step, elapsed_s
        self.task_id = self.bar.add_task("train", total=1000, left="?", info="")

    def _fraction(self, step: int, elapsed: float) -> float:
        frac = step / self.max_steps
        if self.max_s:
            frac = max(frac, elapsed / self.max_s)
        return min(1.0, frac)

    def step(self, step: int, elapsed_s: float) -> None:
        frac = self._fraction(step, elapsed_s)
        rate = (time.monotonic() - self.t_start) / max(1, step - self.step0)  # s per step
        left = (self.max_steps - step) * rate
        if self.max_s:
            left = min(left, self.max_s - elapsed_s)
        m, s = divmod(int(max(0.0, left)), 60)
        self.bar.update(self.task_id, completed=int(frac * 1000), left=f"{m}:{s:02d}",
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
