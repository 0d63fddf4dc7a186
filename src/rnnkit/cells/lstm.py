"""LSTM cells (Hochreiter & Schmidhuber 1997; gate order i, f, g, o as torch):

    i = σ(W_i x + U_i h + b_i)        f = σ(W_f x + U_f h + b_f)
    g = tanh(W_g x + U_g h + b_g)     o = σ(W_o x + U_o h + b_o)
    c_t = f ⊙ c_{t-1} + i ⊙ g         h_t = o ⊙ tanh(c_t)

Peephole LSTM (Gers & Schmidhuber 2000), diagonal peepholes: i and f also see c_{t-1},
o sees the new c_t:

    i = σ(... + w_ci ⊙ c_{t-1})   f = σ(... + w_cf ⊙ c_{t-1})   o = σ(... + w_co ⊙ c_t)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells.base import CellBase, recurrent_projection
from rnnkit.cells.states import LSTMState


class LSTMCell(CellBase):
    """Standard LSTM cell; same parameters and numbers as ``torch.nn.LSTMCell``."""

    num_gates = 4
    state_type = LSTMState
    fused_kernel = "lstm"

    def step(self, xp: Tensor, state: LSTMState, weight_hh: Tensor | None = None) -> tuple[Tensor, LSTMState]:
        gates = xp + recurrent_projection(self, state.h, weight_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, LSTMState(h, c)


class PeepholeLSTMCell(CellBase):
    """LSTM with diagonal peephole connections ``weight_ci, weight_cf, weight_co`` (each (H,))."""

    num_gates = 4
    state_type = LSTMState

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.weight_ci = nn.Parameter(torch.empty(hidden_size))
        self.weight_cf = nn.Parameter(torch.empty(hidden_size))
        self.weight_co = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def step(self, xp: Tensor, state: LSTMState, weight_hh: Tensor | None = None) -> tuple[Tensor, LSTMState]:
        gates = xp + recurrent_projection(self, state.h, weight_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        i = torch.sigmoid(i + self.weight_ci * state.c)
        f = torch.sigmoid(f + self.weight_cf * state.c)
        c = f * state.c + i * torch.tanh(g)
        o = torch.sigmoid(o + self.weight_co * c)
        h = o * torch.tanh(c)
        return h, LSTMState(h, c)
