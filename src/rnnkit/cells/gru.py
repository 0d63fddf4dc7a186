"""GRU cells (Cho et al. 2014), gate order r, z, n as torch's ``nn.GRUCell``.

``gru``, the "reset after" form of torch / cuDNN / Keras ``reset_after=True``, equations exactly
as ``nn.GRUCell`` (the reset gate multiplies the recurrent projection):

    r = σ(W_r x + b_ir + U_r h + b_hr)
    z = σ(W_z x + b_iz + U_z h + b_hz)
    n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

``gru_reset_before``, the paper's original form and Keras ``reset_after=False`` (the reset gate
multiplies the state *before* the recurrent projection, so U_n cannot share one GEMM with U_r, U_z):

    n = tanh(W_n x + b_in + U_n (r ⊙ h) + b_hn)         (r, z and h_t as above)

K. Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical
Machine Translation", eq. (5)-(8).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import CellBase, recurrent_projection
from rnnkit.cells.states import RNNState


def gru_update(xp: Tensor, hp: Tensor, h: Tensor) -> Tensor:
    """The GRU equations given the input part ``xp`` and recurrent part ``hp`` (both (B, 3H))."""
    xr, xz, xn = xp.chunk(3, dim=1)
    hr, hz, hn = hp.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)  # == (1 - z) * n + z * h


class GRUCell(CellBase):
    """Standard GRU cell; same parameters and numbers as ``torch.nn.GRUCell``."""

    num_gates = 3
    state_type = RNNState
    fused_kernel = "gru"

    def step(self, xp: Tensor, state: RNNState, weight_hh: Tensor | None = None) -> tuple[Tensor, RNNState]:
        h = gru_update(xp, recurrent_projection(self, state.h, weight_hh), state.h)
        return h, RNNState(h)


class GRUResetBeforeCell(CellBase):
    """GRU with the reset gate applied before the recurrent projection (Keras ``reset_after=False``).

    Same parameters as ``GRUCell`` (``weight_hh`` rows r, z, n); no torch fused kernel computes it,
    so a ``Stack`` runs it on the explicit time loop.
    """

    num_gates = 3
    state_type = RNNState

    def step(self, xp: Tensor, state: RNNState, weight_hh: Tensor | None = None) -> tuple[Tensor, RNNState]:
        w = self.weight_hh if weight_hh is None else weight_hh  # (3H, H)
        w_rz, w_n = w.split([2 * self.hidden_size, self.hidden_size])
        b_rz, b_n = (None, None) if self.bias_hh is None else self.bias_hh.split([2 * self.hidden_size,
                                                                                  self.hidden_size])
        h = state.h
        xr, xz, xn = xp.chunk(3, dim=1)  # (B, H) each, input biases included
        hr, hz = F.linear(h, w_rz, b_rz).chunk(2, dim=1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + F.linear(r * h, w_n, b_n))
        h = n + z * (h - n)  # == (1 - z) * n + z * h
        return h, RNNState(h)
