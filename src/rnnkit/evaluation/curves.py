"""Training curves: `curves.png` drawn from `metrics.jsonl` (train loss and every eval metric)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rnnkit.checkpoint import atomic_write


def plot_curves(metrics_path: str | Path, out_path: str | Path) -> None:
    """Plot training loss and validation metrics of a ``metrics.jsonl`` into a PNG (written atomically)."""
    plot_records([json.loads(ln) for ln in Path(metrics_path).read_text().splitlines() if ln.strip()], out_path)


def plot_records(records: list[dict[str, Any]], out_path: str | Path) -> None:
    """Plot training loss and validation metrics of metric records against step into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    eval_keys = sorted({k for r in evals for k, v in r.items()
                        if k not in ("step", "kind", "elapsed_s") and isinstance(v, (int, float))})
    fig, axes = plt.subplots(1, 2 if eval_keys else 1, figsize=(10 if eval_keys else 5, 3.6), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    if eval_keys:
        ax = axes[0][1]
        for k in eval_keys:
            pts = [(r["step"], r[k]) for r in evals if k in r]
            ax.plot(*zip(*pts), marker="o", label=k)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    atomic_write(out_path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
