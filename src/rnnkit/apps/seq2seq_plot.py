"""Attention alignment plot: which source tokens each output token attended to (PNG heat map)."""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data.seq2seq import pad, tokenize
from rnnkit.errors import DataError
from rnnkit.models.seq2seq_decode import greedy


def alignment(model, text: str) -> tuple[list[str], list[str], torch.Tensor]:
    """Greedy-decode ``text`` -> (source tokens, output tokens, weights (len(out), len(src))).

    One row per decoder step: each output token, then ``<eos>`` when the decoder emitted it (a decode
    cut off at the maximum length ends without one)."""
    if model.attn is None:
        raise DataError("this model was trained with model.attention='none': there is no alignment to plot")
    src_tokens = tokenize(text.strip(), model.src_vocab.level)
    if not src_tokens:
        raise DataError("cannot plot the alignment of an empty input")
    limit = getattr(model, "max_len", None)
    if limit is not None and len(src_tokens) > limit:
        raise DataError(f"the input has {len(src_tokens)} tokens, more than the model's max_len={limit}")
    src, src_len = pad([model.src_vocab.encode(src_tokens)])
    dev = next(model.parameters()).device
    max_len = model.config.max_decode_len or len(src_tokens) * 2 + 10
    ids, weights = greedy(model, src.to(dev), src_len.to(dev), max_len)
    out_tokens = model.tgt_vocab.decode(ids[0])
    stopped = weights.shape[1] > len(out_tokens)  # the last step emitted <eos>
    w = weights[0, : len(out_tokens) + 1].cpu()
    return src_tokens, [*out_tokens, "<eos>"] if stopped else out_tokens, w


def plot_alignment(model, text: str, path: str | Path) -> Path:
    """Draw the alignment heat map of ``text`` (rows: outputs, columns: source tokens) to ``path``."""
    from rnnkit.evaluation.plots import plot_alignment_matrix

    src_tokens, out_tokens, w = alignment(model, text)
    return plot_alignment_matrix(w.numpy(), src_tokens, out_tokens, path, title=f"attention ({model.config.attention})")


__all__ = ["alignment", "plot_alignment"]
