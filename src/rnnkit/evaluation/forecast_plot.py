"""Plot a forecast (from `rnnkit.apps.forecast_ops.forecast_run`) with its interval and, if known, the actuals."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_forecast(fc: dict[str, Any], path: str | Path, history: int = 48, title: str | None = None) -> Path:
    """Write a PNG: the last ``history`` observed points, the forecast, its interval, the actuals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(fc["series"])
    fig, axes = plt.subplots(n, 1, figsize=(9, 3.2 * n), squeeze=False)
    h_times = fc["history_times"][-history:]
    times = list(fc["times"])
    x_hist = range(len(h_times))
    x_fc = range(len(h_times), len(h_times) + len(times))
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(x_hist, fc["history"][k][-history:], color="black", lw=1.2, label="observed")
        if "actual" in fc:
            ax.plot(x_fc, fc["actual"][k], color="black", lw=1.2, ls="--", label="actual (held out)")
        ax.plot(x_fc, fc["mean"][k], color="tab:blue", lw=1.8, label="forecast")
        if fc.get("lower") is not None and "lower" in fc:
            level = f"{100 * fc['interval']:.0f}% interval" if fc.get("interval") else "interval"
            ax.fill_between(x_fc, fc["lower"][k], fc["upper"][k], color="tab:blue", alpha=0.2, label=level)
        labels = h_times + times
        step = max(1, len(labels) // 8)
        ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, fontsize=8)
        ax.set_title(title or fc["series"][k], fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
