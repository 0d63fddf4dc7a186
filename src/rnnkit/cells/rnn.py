"""Elman RNN cell (torch's ``nn.RNNCell``):

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh | relu
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.cells.base import CellBase, recurrent_projection
from rnnkit.cells.states import RNNState


class RNNCell(CellBase):
    """Simple recurrent cell with tanh."""

    num_gates = 1
    state_type = RNNState
    fused_kernel = "rnn_tanh"
    activation = staticmethod(torch.tanh)

    def step(self, xp: Tensor, state: RNNState, weight_hh: Tensor | None = None) -> tuple[Tensor, RNNState]:
        h = self.activation(xp + recurrent_projection(self, state.h, weight_hh))
        return h, RNNState(h)


class ReLURNNCell(RNNCell):
    """Simple recurrent cell with ReLU (Le et al. 2015 use it with identity init)."""

    fused_kernel = "rnn_relu"
    activation = staticmethod(torch.relu)
