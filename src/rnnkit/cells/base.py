"""Shared plumbing for cells: parameters named as torch's, init as torch's, the hoisted input GEMM.

Every cell splits one time step into ``input_projection(x)`` (no recurrence, so the time loop
computes it for the whole sequence in one GEMM) and ``step(xp_t, state, weight_hh)`` (the
recurrence). ``forward(x_t, state)`` composes the two for single-step use.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.states import LSTMState, RNNState, State


class CellBase(nn.Module):
    """Base for the gate-matrix cells: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``, biases.

    Subclasses set ``num_gates``, ``state_type`` and implement ``step``.
    """

    num_gates = 1
    state_type: type = RNNState
    has_weight_hh = True
    #: torch's fused kernel that computes exactly this cell ("lstm", "gru", "rnn_tanh", ...), or None
    fused_kernel: str | None = None

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size} and {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        gh = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gh, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gh, hidden_size)) if self.has_weight_hh else None
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gh))
            self.bias_hh = nn.Parameter(torch.empty(gh)) if self.has_weight_hh else None
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's RNN init: every direct parameter ~ U(-1/sqrt(H), 1/sqrt(H)).

        Submodules (layer norms) keep their own init (gain 1, bias 0)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self._parameters.values():
            if p is not None:
                nn.init.uniform_(p, -k, k)

    def init_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        """The zero state for a batch."""
        z = torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)
        return self.state_type(*([z] * len(self.state_type._fields)))

    def input_projection(self, x: Tensor) -> Tensor:
        """``x @ W_ih^T + b_ih`` for any leading shape: ``(..., I) -> (..., G*H)``."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, xp: Tensor, state: State, weight_hh: Tensor | None = None) -> tuple[Tensor, State]:
        """One recurrence step from the projected input ``xp (B, G*H)``; ``weight_hh`` overrides
        the parameter (DropConnect passes a dropped copy)."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One time step: ``x (B, I)`` -> ``(h (B, H), state)``."""
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects x of shape (batch, {self.input_size}), got {tuple(x.shape)}"
            )
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        return self.step(self.input_projection(x), state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


def recurrent_projection(cell: CellBase, h: Tensor, weight_hh: Tensor | None) -> Tensor:
    """``h @ W_hh^T + b_hh`` with an optional replacement weight."""
    return F.linear(h, cell.weight_hh if weight_hh is None else weight_hh, cell.bias_hh)


__all__ = ["CellBase", "LSTMState", "RNNState", "State", "recurrent_projection"]
