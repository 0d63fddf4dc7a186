"""Layer-normalised LSTM and GRU cells (Ba, Kiros & Hinton 2016, "Layer Normalization", §3.1).

LN-LSTM normalises the input and recurrent pre-activations separately and the cell state
before the output non-linearity (the normalisers' betas take the place of the biases):

    [i f g o] = LN_ih(W_ih x_t) + LN_hh(W_hh h_{t-1})
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
    h_t = σ(o) ⊙ tanh(LN_c(c_t))

LN-GRU applies the same two normalisers to the GRU's input and recurrent parts (r, z, n as torch).
``LN_ih(W_ih x)`` has no recurrence, so the time loop computes it for the whole sequence at once.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import CellBase
from rnnkit.cells.gru import gru_update
from rnnkit.cells.states import LSTMState, RNNState


class _LayerNormGates(CellBase):
    """Gate matrices without biases plus LN_ih (with beta) and LN_hh (gain only)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=False)
        gh = self.num_gates * hidden_size
        self.ln_ih = nn.LayerNorm(gh, bias=bias)
        self.ln_hh = nn.LayerNorm(gh, bias=False)
        self.bias = bias

    def input_projection(self, x: Tensor) -> Tensor:
        return self.ln_ih(F.linear(x, self.weight_ih))

    def _hidden(self, h: Tensor, weight_hh: Tensor | None) -> Tensor:
        return self.ln_hh(F.linear(h, self.weight_hh if weight_hh is None else weight_hh))


class LayerNormLSTMCell(_LayerNormGates):
    """LSTM with layer normalisation of the gate pre-activations and of ``c`` (Ba et al. 2016)."""

    num_gates = 4
    state_type = LSTMState

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.ln_c = nn.LayerNorm(hidden_size, bias=bias)

    def step(self, xp: Tensor, state: LSTMState, weight_hh: Tensor | None = None) -> tuple[Tensor, LSTMState]:
        gates = xp + self._hidden(state.h, weight_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(self.ln_c(c))
        return h, LSTMState(h, c)


class LayerNormGRUCell(_LayerNormGates):
    """GRU with layer normalisation of the input and recurrent pre-activations."""

    num_gates = 3
    state_type = RNNState

    def step(self, xp: Tensor, state: RNNState, weight_hh: Tensor | None = None) -> tuple[Tensor, RNNState]:
        h = gru_update(xp, self._hidden(state.h, weight_hh), state.h)
        return h, RNNState(h)
