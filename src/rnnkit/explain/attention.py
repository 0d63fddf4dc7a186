"""Attention weights: a classifier's attention pooling over its steps, a seq2seq model's alignments.

Attention pooling (``model.pooling = "attention"``) scores every recurrent output against a learned
query and sums the outputs with the softmax of the scores; the weights say which steps the summary
reads. A seq2seq model's additive or dot attention gives one distribution over the source per
output token (rows: output tokens, columns: source tokens). A model without attention is an error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnnkit.errors import ConfigError


def classifier_attention(model: Any, x: torch.Tensor, labels: list[str] | None = None
                         ) -> tuple[np.ndarray, list[str], int]:
    """(weights (T',), step labels, predicted class) of one example ``x (T,)`` or ``(T, F)``."""
    model = getattr(model, "model_", model)
    pooling = getattr(getattr(model, "config", None), "pooling", None)
    if pooling != "attention":
        raise ConfigError(f"this classifier pools with {pooling!r}, not attention: it has no attention weights "
                          "(train with --set model.pooling=attention)")
    model.eval()
    with torch.no_grad():
        out = model(x[None].to(next(model.parameters()).device), torch.tensor([x.shape[0]]))
    w = out.attention[0, : int(out.lengths[0])].double().cpu().numpy()
    if labels is None or len(labels) != len(w):  # a conv front-end shortens the sequence
        labels = [str(t) for t in range(len(w))]
    return w, labels, int(out.logits[0].argmax())


def seq2seq_alignment(model: Any, text: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(weights (output tokens, source tokens), source tokens, output tokens) of a greedy decode; the
    output tokens end with ``<eos>`` when the decoder emitted it within its maximum length."""
    from rnnkit.apps.seq2seq_plot import alignment

    model = getattr(model, "model_", model)
    if getattr(model, "attn", None) is None:
        raise ConfigError("this seq2seq model was trained with model.attention='none': it has no alignment")
    src, out, w = alignment(model, text)
    return w.double().numpy(), src, out


__all__ = ["classifier_attention", "seq2seq_alignment"]
