"""Plots of evaluations that are not tied to one task's metrics: attention alignments."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_alignment_matrix(weights: np.ndarray, src_tokens: Sequence[str], out_tokens: Sequence[str],
                          path: str | Path, title: str = "attention") -> Path:
    """A seq2seq attention alignment as a PNG heat map: rows are output tokens, columns source tokens."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(3.0, 0.35 * len(src_tokens) + 1.5), max(2.5, 0.35 * len(out_tokens) + 1.2)))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(src_tokens)), [t if t != " " else "␣" for t in src_tokens], fontsize=8)
    ax.set_yticks(range(len(out_tokens)), list(out_tokens), fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


__all__ = ["plot_alignment_matrix"]
