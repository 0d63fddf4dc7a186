"""`History`: what one `fit()` reported, per evaluation, as Keras's ``History`` (and a callback).

``history.history`` maps every metric to its values at the evaluations (``loss`` and the training
metrics are the means over the steps since the previous log line; ``val_*`` come from the
validation pass), ``history.steps`` / ``history.epoch`` say when each was taken, and
``history.records`` holds every raw event (what ``metrics.jsonl`` holds in a model directory).
``history.plot(path)`` draws the curves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnkit.train.progress import FitResult, ProgressReporter


class History(ProgressReporter):
    """Records fit()'s events; pass it in ``fit(callbacks=[...])`` or read an estimator's ``history_``."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.history: dict[str, list[float]] = {}
        self.steps: list[int] = []
        self.epoch: list[int] = []
        self.result: FitResult | None = None
        self._train: dict[str, Any] = {}
        self._epoch = 0

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self._train = dict(metrics)
        self.records.append({"step": step, "kind": "train", **metrics})

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        self.records.append({"step": step, "kind": "eval", **metrics})
        row = {k: v for k, v in self._train.items() if k not in ("lr", "items_per_s", "count")}
        row.update(metrics)
        n = len(self.steps)
        for k, v in row.items():
            self.history.setdefault(k, [float("nan")] * n).append(float(v))
        for values in self.history.values():  # a metric missing this time is NaN, lists stay aligned
            values.extend([float("nan")] * (n + 1 - len(values)))
        self.steps.append(step)
        self.epoch.append(self._epoch)

    def epoch_end(self, epoch: int, step: int) -> None:
        self._epoch = epoch + 1
        if self.steps and self.steps[-1] == step:
            self.epoch[-1] = epoch  # the evaluation at this step closed this epoch

    def finish(self, result: FitResult) -> None:
        self.result = result

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> History:
        """A History rebuilt from ``metrics.jsonl`` records (e.g. of a loaded model directory)."""
        h = cls()
        for r in records:
            values = {k: v for k, v in r.items() if k not in ("step", "kind", "elapsed_s")}
            (h.log if r.get("kind") == "train" else lambda s, m: h.evaluated(s, m, False))(r["step"], values)
        return h

    @classmethod
    def from_jsonl(cls, path: str | Path) -> History:
        lines = Path(path).read_text(encoding="utf-8").splitlines() if Path(path).is_file() else []
        return cls.from_records([json.loads(ln) for ln in lines if ln.strip()])

    def plot(self, path: str | Path = "curves.png") -> Path:
        """Training loss and every validation metric against the step, as a PNG at ``path``."""
        from rnnkit.evaluation.curves import plot_records

        plot_records(self.records, path)
        return Path(path)

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items()} if self.steps else {}
        return f"History({len(self.steps)} evaluations, last: {last})"


__all__ = ["History"]
