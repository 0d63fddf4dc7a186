"""GRU cell (Cho et al. 2014; gate order r, z, n and equations exactly as torch's ``nn.GRUCell``):

    r = σ(W_r x + b_ir + U_r h + b_hr)
    z = σ(W_z x + b_iz + U_z h + b_hz)
    n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
    h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
"""

from __future__ import annotations

import torch
from torch import Tensor

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
