"""Classification metrics and plots: accuracy, macro-F1, confusion matrix (PNG), attention heat map (PNG).

Plain numpy so the numbers can be checked against scikit-learn in tests; matplotlib is imported
inside the plotting functions (Agg backend) so that importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts: row = true class, column = predicted class."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, Any]:
    """accuracy and macro-F1 (the mean F1 over classes present in y_true or y_pred, as sklearn)."""
    m = confusion(y_true, y_pred, num_classes)
    tp = np.diag(m).astype(float)
    prec_den, rec_den = m.sum(0), m.sum(1)
    present = (prec_den + rec_den) > 0
    f1 = np.where(present, 2 * tp / np.maximum(prec_den + rec_den, 1), 0.0)
    return {"accuracy": float(tp.sum() / max(m.sum(), 1)),
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
            "confusion_matrix": m.tolist()}


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "confusion matrix (test)") -> Path:
    """Write the confusion matrix as a PNG heat map with counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    n = len(labels)
    size = min(12.0, 2.5 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n), [str(s)[:14] for s in labels], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(s)[:14] for s in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        hi = m.max() if m.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > hi / 2 else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_attention(weights: Sequence[float], path: str | Path, tokens: Sequence[str] | None = None,
                   series: np.ndarray | None = None, title: str = "attention") -> Path:
    """Attention weights over one input as a PNG: a heat strip under the tokens (text), or the
    series drawn with the weights as a heat band beneath it. ``weights`` are over the RNN's steps;
    with a pooling front-end they cover the input in equal blocks and are stretched to fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = np.asarray(weights, dtype=float)
    n_in = len(tokens) if tokens is not None else (len(series) if series is not None else len(w))
    if len(w) != n_in and len(w) > 0:  # front-end pooling: each weight covers a block of inputs
        w = np.repeat(w, int(np.ceil(n_in / len(w))))[:n_in]
    if tokens is not None:
        fig, ax = plt.subplots(figsize=(min(24, 1.0 + 0.45 * len(tokens)), 1.6))
        ax.imshow(w[None, :], cmap="Reds", aspect="auto", vmin=0)
        ax.set_xticks(range(len(tokens)), [t if t != " " else "␣" for t in tokens], rotation=60, fontsize=8)
        ax.set_yticks([])
    else:
        s = np.asarray(series, dtype=float)
        s = s[:, None] if s.ndim == 1 else s
        fig, (ax0, ax) = plt.subplots(2, 1, figsize=(10, 3.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
        ax0.plot(s)
        ax0.set_title(title)
        ax.imshow(w[None, :], cmap="Reds", aspect="auto", vmin=0, extent=(-0.5, len(w) - 0.5, 0, 1))
        ax.set_yticks([])
        ax.set_xlabel("time step")
    if tokens is not None:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


__all__ = ["confusion", "plot_attention", "plot_confusion", "scores"]
