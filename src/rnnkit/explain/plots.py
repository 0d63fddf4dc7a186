"""The figures of ``rnnkit explain`` (matplotlib, Agg backend: no display needed, PNG files)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

TINY = 1e-30  # float32 gradients underflow to exactly 0 far back; drawn at the floor of the log axis


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    return path


def _show(c: str) -> str:
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(c, c)


def plot_gradient_flow(flows: Sequence[Any], path: str | Path, dpi: int = 110) -> Path:
    """||dL_T/dh_{T-k}|| against k (log scale), mean and quartile band per cell, trained solid and
    fresh dashed; beside it the per-step gradient norm of each training run with clipping marked."""
    plt = _plt()
    trained = any(f.training for f in flows)
    fig, axes = plt.subplots(1, 2 if trained else 1, figsize=(12 if trained else 6.5, 4.2), squeeze=False)
    ax = axes[0, 0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, f in enumerate(flows):
        col = colours[i % len(colours)]
        for g, style in ((f.fresh, "--"), (f.trained, "-")):
            if g is None:
                continue
            ax.plot(g.k, np.maximum(g.mean, TINY), style, color=col, lw=1.6 if style == "-" else 1.0,
                    label=g.label)
            if style == "-" or f.trained is None:
                ax.fill_between(g.k, np.maximum(g.quantile(0.25), TINY), np.maximum(g.quantile(0.75), TINY),
                                color=col, alpha=0.15, lw=0)
    ax.set_yscale("log")
    lo = min(max(float(np.min(np.maximum(g.mean, TINY))), 1e-20) for f in flows for g in (f.fresh, f.trained) if g)
    ax.set_ylim(bottom=lo / 10)
    ax.set_xlabel("k (steps back from the last one)")
    ax.set_ylabel("||dL_T / dh_(T-k)||  (mean, band: quartiles)")
    ax.set_title("gradient flow through time (solid: trained, dashed: fresh)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    if trained:
        ax2 = axes[0, 1]
        for i, f in enumerate(flows):
            if not f.training:
                continue
            col = colours[i % len(colours)]
            steps = np.array([r["step"] for r in f.training])
            norms = np.array([r.get("grad_norm", np.nan) for r in f.training])
            clipped = np.array([r.get("clipped", 0.0) for r in f.training]) > 0
            ax2.plot(steps, norms, color=col, lw=1, label=f.cell)
            ax2.plot(steps[clipped], norms[clipped], "x", color=col, ms=4)
        clip = next((f.grad_clip for f in flows if f.grad_clip), None)
        if clip:
            ax2.axhline(clip, color="k", ls=":", lw=1, label=f"clip at {clip:g} (x: clipped)")
        ax2.set_yscale("log")
        ax2.set_xlabel("training step")
        ax2.set_ylabel("global gradient norm (before clipping)")
        ax2.set_title("gradient norm during training", fontsize=10)
        ax2.legend(fontsize=7)
    return _save(fig, path, dpi)


def plot_gates(chars: Sequence[str], values: dict[str, np.ndarray], path: str | Path, units: int = 16,
               title: str = "") -> Path:
    """One heat map per gate / state (rows: the first ``units`` units, columns: characters)."""
    plt = _plt()
    names = list(values)
    T = len(chars)
    fig, axes = plt.subplots(len(names), 1, figsize=(min(24, max(6, 0.16 * T + 2)), 1.1 + 0.9 * len(names)),
                             squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        v = values[name][:, :units].T  # (units, T)
        signed = name in ("h", "c", "candidate")
        lim = max(float(np.abs(v).max()), 1e-6) if signed else 1.0
        im = ax.imshow(v, aspect="auto", cmap="RdBu_r" if signed else "viridis", interpolation="nearest",
                       vmin=-lim if signed else 0.0, vmax=lim)
        ax.set_ylabel(name, fontsize=8)
        ax.set_yticks([])
        ax.set_xticks(range(T), [_show(c) for c in chars], fontsize=6 if T > 60 else 8)
        fig.colorbar(im, ax=ax, fraction=0.015, pad=0.01)
    if title:
        axes[0, 0].set_title(title, fontsize=10)
    return _save(fig, path)


def plot_units(chars: Sequence[str], series: list[tuple[str, np.ndarray]], path: str | Path) -> Path:
    """Each listed unit's activation over the text as a strip of colour under the characters."""
    plt = _plt()
    T = min(len(chars), 240)  # the strip stays legible; the HTML page shows the whole text
    fig, axes = plt.subplots(len(series), 1, figsize=(min(24, max(6, 0.1 * T + 2)), 0.75 * len(series) + 0.6),
                             squeeze=False)
    for ax, (name, v) in zip(axes[:, 0], series):
        lim = max(float(np.abs(v[:T]).max()), 1e-6)
        ax.imshow(v[None, :T], aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_yticks([0], [name], fontsize=7)
        ax.set_xticks(range(T), [_show(c) for c in chars[:T]], fontsize=5)
    return _save(fig, path)


def plot_weights(labels: Sequence[str], weights: np.ndarray, path: str | Path, title: str,
                 occlusion: np.ndarray | None = None, ylabel: str = "weight") -> Path:
    """Bars over the steps (attention weights or attributions); occlusion beside them as a line."""
    plt = _plt()
    T = len(labels)
    fig, ax = plt.subplots(figsize=(min(24, max(6, 0.22 * T + 2)), 3.4))
    colours = np.where(weights >= 0, "tab:red", "tab:blue")
    ax.bar(range(T), weights, color=colours, label=ylabel)
    if occlusion is not None:
        ax.plot(range(T), occlusion, "k.-", lw=0.8, ms=3, label="occlusion")
        ax.legend(fontsize=7)
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xticks(range(T), [_show(t) for t in labels], fontsize=7 if T < 80 else 5,
                  rotation=90 if max(map(len, labels), default=1) > 2 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def plot_series_saliency(values: np.ndarray, attributions: np.ndarray, path: str | Path, title: str) -> Path:
    """A forecaster's context window (scaled target) with each step's attribution as bars below."""
    plt = _plt()
    t = np.arange(-len(values), 0)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 4.6), sharex=True)
    a1.plot(t, values, "k.-", lw=1)
    a1.set_ylabel("context (scaled)")
    a1.set_title(title, fontsize=10)
    a2.bar(t, attributions, color=np.where(attributions >= 0, "tab:red", "tab:blue"))
    a2.axhline(0, color="grey", lw=0.5)
    a2.set_ylabel("attribution")
    a2.set_xlabel("step relative to the forecast origin")
    return _save(fig, path)


__all__ = ["plot_gates", "plot_gradient_flow", "plot_series_saliency", "plot_units", "plot_weights"]
