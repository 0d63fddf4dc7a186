"""torch's fused RNN kernels (oneDNN on CPU, cuDNN on CUDA) behind the Stack contract.

The kernels take the cells' own parameters as the flat weight list, so an explicit cell and the
fused path share one state_dict and one set of gradients. This is the call ``nn.LSTM.forward``
itself makes (``torch._VF.lstm``); going to it directly avoids a second copy of the weights.
Variable lengths go through ``pack_padded_sequence`` so each sequence's final state is the
state at its own last step, in both directions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import CellBase, LSTMState, RNNState, State
from rnnkit.layers.regularize import weight_drop

KERNELS = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}


def flat_weights(cells: Sequence[CellBase], weight_dropout: float, training: bool) -> list[Tensor]:
    """Per layer and direction: w_ih, w_hh, b_ih, b_hh — torch's ``_flat_weights`` order."""
    out: list[Tensor] = []
    for c in cells:
        w_hh = weight_drop(c.weight_hh, weight_dropout, training) if weight_dropout > 0 else c.weight_hh
        out += [c.weight_ih, w_hh]
        if c.bias:
            out += [c.bias_ih, c.bias_hh]
    return out


def fused_forward(
    cells: Sequence[CellBase],
    x: Tensor,
    state: State | None,
    lengths: Tensor | None,
    num_layers: int,
    bidirectional: bool,
    dropout: float = 0.0,
    training: bool = False,
    weight_dropout: float = 0.0,
) -> tuple[Tensor, State]:
    """Run ``num_layers`` layers (x directions) in one kernel call. ``state`` fields (L*D, B, H)."""
    first = cells[0]
    kernel = first.fused_kernel
    assert kernel is not None
    B, T, _ = x.shape
    D = 2 if bidirectional else 1
    if state is None:
        z = x.new_zeros(num_layers * D, B, first.hidden_size)
        state = first.state_type(*([z] * len(first.state_type._fields)))
    weights = flat_weights(cells, weight_dropout, training)
    hx: Tensor | tuple[Tensor, ...] = tuple(state) if kernel == "lstm" else state.h
    args = (weights, first.bias, num_layers, dropout, training, bidirectional)
    if lengths is None or bool((lengths == T).all()):
        res = KERNELS[kernel](x, hx, *args, True)  # batch_first=True
        y = res[0]
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        idx = packed.sorted_indices.to(x.device)
        hx = tuple(h.index_select(1, idx) for h in hx) if kernel == "lstm" else hx.index_select(1, idx)
        res = KERNELS[kernel](packed.data, packed.batch_sizes, hx, *args)
        out = PackedSequence(res[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        y, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        back = packed.unsorted_indices.to(x.device)
        res = (res[0],) + tuple(h.index_select(1, back) for h in res[1:])
    new_state: State = LSTMState(res[1], res[2]) if kernel == "lstm" else RNNState(res[1])
    return y, new_state


def fused_available() -> str:
    """Which library runs the fused kernel on this machine, for ``explain_backend``."""
    if torch.cuda.is_available() and torch.backends.cudnn.is_available():
        return "cuDNN on CUDA, oneDNN/ATen on CPU"
    return "oneDNN/ATen on CPU" if torch.backends.mkldnn.is_available() else "ATen on CPU"
