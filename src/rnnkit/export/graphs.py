"""What gets exported: each model type as one or more graphs with named inputs, outputs and dynamic axes.

A graph is a small ``nn.Module`` around the trained model whose ``forward`` takes and returns plain
tensors (``GraphSpec``). ``GRAPHS[task](model)`` lists a model's graphs:

    charlm / nextelement   model        tokens (batch, time), state -> logits (batch, time, V), state
                           step         token (batch, 1), state     -> logits (batch, V), state   (generation)
    classify               model        x (batch, time[, F]), lengths (batch,) -> logits, probs
    regress                model        x, lengths -> pred
    forecast               model        x (batch, time, n_in), xf (batch, H, n_known), sid -> mean[, lower, upper]
    seq2seq                encoder      src (batch, source), src_len -> memory, initial decoder state
                           decoder_step y_prev (batch,), state, memory  -> logits (batch, V), state
    keras                  model        x (batch, time[, F]) -> y

Recurrences keep the time axis dynamic inside :func:`export_mode`: a stack whose layers torch can
fuse and that reads no ``lengths`` becomes ONNX's own LSTM / GRU / RNN operator; every other stack
(custom cells, or padded batches where each sequence must stop at its own length) becomes an
ONNX ``Scan`` over the cell's one-step equations (``torch._higher_order_ops.scan``), with
mask-based lengths (``pack_padded_sequence`` does not export). A plain Python time loop would be
unrolled to the example's length: that is what :func:`rnnkit.export.core.verify` catches.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.layers.fused import fused_forward
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.recurrent import reverse_padded
from rnnkit.layers.stack import MERGES, Stack


@dataclass
class GraphSpec:
    """One graph to export: ``module(*example(B, T))`` returns the tensors named ``outputs``."""

    name: str  # file stem: model.onnx, step.onnx, ...
    module: nn.Module
    inputs: list[str]
    outputs: list[str]
    axes: dict[str, dict[int, str]]  # input name -> {dim: "batch" | "time" | "source"}
    example: Callable[[int, int], tuple[Tensor, ...]]  # (batch, time) -> inputs
    meta: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- recurrences
def _scan_layer(cell: nn.Module, x: Tensor, st: Any, mask: Tensor | None) -> tuple[Tensor, Any]:
    """One direction of one layer as an ONNX Scan: the cell's step over time, frozen past each length."""
    from torch._higher_order_ops.scan import scan

    kind = cell.state_type
    st = cell.init_state(x.shape[0], x.device, x.dtype) if st is None else st
    init = [s.clone() for s in st]  # distinct tensors: scan rejects aliased carries
    xp = cell.input_projection(x).transpose(0, 1)  # (T, B, G*H)
    xs = [xp] if mask is None else [xp, mask.t().unsqueeze(-1)]  # (T, B, 1)

    def body(carry: list[Tensor], inp: list[Tensor]) -> tuple[list[Tensor], Tensor]:
        h, new = cell.step(inp[0], kind(*carry))
        if mask is None:
            return [n.clone() for n in new], h.clone()
        m = inp[1]
        return [torch.where(m, n, o) for n, o in zip(new, carry)], h * m

    carry, ys = scan(body, init, xs)
    return ys.transpose(0, 1), kind(*carry)  # (B, T, H)


def _stack_forward(stack: Stack, x: Tensor, state: Any = None, lengths: Tensor | None = None) -> tuple[Tensor, Any]:
    """``Stack.forward`` in eval mode with every recurrence exportable at any time length."""
    if state is not None and not isinstance(state, tuple):
        state = stack.cells[0].state_type(state)
    T = x.shape[1]
    if stack.one_call and lengths is None:  # ONNX's LSTM / GRU / RNN operator
        return fused_forward(stack.cells, x, state, None, stack.num_layers, stack.bidirectional)
    if isinstance(T, int) and T == 1:  # the step graph: one step, no Scan needed
        lengths = None
    mask = None if lengths is None else lengths_to_mask(lengths, T)
    D, finals = stack.num_directions, []
    for layer in range(stack.num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            cell = stack.cells[k]
            st = None if state is None else type(state)(*(s[k] for s in state))
            if isinstance(T, int) and T == 1:
                st = cell.init_state(x.shape[0], x.device, x.dtype) if st is None else st
                h, st = cell.step(cell.input_projection(x[:, 0]), st)
                y = h[:, None]
            elif d == 1:
                y, st = _scan_layer(cell, reverse_padded(x, lengths), st, mask)
                y = reverse_padded(y, lengths)
            else:
                y, st = _scan_layer(cell, x, st, mask)
            outs.append(y)
            finals.append(st)
        x = MERGES[stack.merge][0](*outs) if D == 2 else outs[0]
    return x, type(finals[0])(*(torch.stack(f, 0) for f in zip(*finals)))


@contextlib.contextmanager
def export_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Every ``Stack`` in ``model`` runs :func:`_stack_forward` (and the model is in eval mode) inside."""
    stacks = [m for m in model.modules() if isinstance(m, Stack)]
    was_training = model.training
    model.eval()
    for s in stacks:
        s.forward = functools.partial(_stack_forward, s)
    try:
        yield model
    finally:
        for s in stacks:
            del s.forward
        model.train(was_training)


# ---------------------------------------------------------------------------- shared helpers
def _state_names(stack: Stack) -> list[str]:
    return list(stack.cells[0].state_type._fields)  # ["h"] or ["h", "c"]


def _lengths(B: int, T: int) -> Tensor:
    """Varied lengths in [T//2 + 1, T], the longest exactly T (as a padded batch has)."""
    g = torch.Generator().manual_seed(B * 1000 + T)
    ln = torch.randint(T // 2 + 1, T + 1, (B,), generator=g)
    ln[0] = T
    return ln


def _sequence_input(embedding: nn.Embedding | None, n_features: int) -> Callable[[int, int], Tensor]:
    def make(B: int, T: int) -> Tensor:
        g = torch.Generator().manual_seed(B * 31 + T)
        if embedding is not None:
            return torch.randint(1, embedding.num_embeddings, (B, T), generator=g)
        return torch.randn(B, T, n_features, generator=g)
    return make


__all__ = ["GraphSpec", "export_mode"]
