"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We Needed?").

The gates see only the input, so every step is a linear recurrence h_t = a_t ⊙ h_{t-1} + b_t
whose coefficients come from one GEMM over the whole sequence, and the sequence can be solved
by a scan (``rnnkit.cells.scan``) instead of a time loop:

    minGRU:  z = σ(W_z x + b_z)   h̃ = g(W_h x + b_h)     a = 1 - z      b = z ⊙ h̃
    minLSTM: f = σ(W_f x + b_f)   i = σ(W_i x + b_i)   h̃ = g(W_h x + b_h)
             f' = f / (f + i)     i' = i / (f + i)      a = f'          b = i' ⊙ h̃

with g(x) = x + 0.5 for x >= 0 and σ(x) otherwise (positive, so the log-space scan applies).
Parameters: ``weight_ih (G*H, I)``, ``bias_ih``; no recurrent weights.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import CellBase
from rnnkit.cells.states import RNNState


def g(x: Tensor) -> Tensor:
    """The paper's positive activation: x + 0.5 for x >= 0, σ(x) below."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """log g(x), computed without forming g for the negative branch."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def _g_and_slope(kh: Tensor) -> tuple[Tensor, Tensor]:
    """g(kh) and g'(kh) (1 for kh >= 0, σ'(kh) below)."""
    s = torch.sigmoid(kh)
    pos = kh >= 0
    return torch.where(pos, kh + 0.5, s), torch.where(pos, 1.0, s * (1 - s))


class _MinGRUCoefficients(torch.autograd.Function):
    """(a, b) of minGRU from the projected input in one autograd node. Why: autograd records ~8
    elementwise nodes here and replays each in backward; on CPU these passes over (B, T, H)
    tensors are most of a minGRU layer's time. The backward is the closed form below, written
    straight into the slices of one gradient tensor (no concatenation)."""

    @staticmethod
    def forward(ctx, xp: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        kz, kh = xp.chunk(2, dim=-1)
        z = torch.sigmoid(kz)
        gk, gp = _g_and_slope(kh)
        ctx.save_for_backward(z, gk, gp)
        return 1 - z, z * gk

    @staticmethod
    def backward(ctx, ga: Tensor, gb: Tensor) -> Tensor:  # type: ignore[override]
        z, gk, gp = ctx.saved_tensors
        out = gb.new_empty(*gb.shape[:-1], 2 * gb.shape[-1])
        gkz, gkh = out.chunk(2, dim=-1)
        torch.mul(gb, gk, out=gkz).sub_(ga).mul_(z).mul_(1 - z)  # a = 1 - z, b = z g
        torch.mul(gb, z, out=gkh).mul_(gp)
        return out


class _MinLSTMCoefficients(torch.autograd.Function):
    """(a, b) of minLSTM from the projected input in one autograd node (see minGRU's)."""

    @staticmethod
    def forward(ctx, xp: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        kf, ki, kh = xp.chunk(3, dim=-1)
        a = torch.sigmoid(F.softplus(-ki) - F.softplus(-kf))  # σ(-d), d = sp(-kf) - sp(-ki)
        ia = 1 - a  # σ(d)
        gk, gp = _g_and_slope(kh)
        ctx.save_for_backward(a, ia, gk, gp, kf, ki)
        return a, ia * gk

    @staticmethod
    def backward(ctx, ga: Tensor, gb: Tensor) -> Tensor:  # type: ignore[override]
        a, ia, gk, gp, kf, ki = ctx.saved_tensors
        out = gb.new_empty(*gb.shape[:-1], 3 * gb.shape[-1])
        gkf, gki, gkh = out.chunk(3, dim=-1)
        gd = (gb * gk).sub_(ga).mul_(a).mul_(ia)  # dL/dd: a = σ(-d), b = σ(d) g
        # dd/dkf = -σ(-kf) = σ(kf) - 1, dd/dki = σ(-ki)
        torch.mul(gd, torch.sigmoid(kf).sub_(1), out=gkf)
        torch.mul(gd, torch.sigmoid(ki.neg()), out=gki)
        torch.mul(gb, ia, out=gkh).mul_(gp)
        return out


class _MinimalCell(CellBase):
    num_gates = 2
    state_type = RNNState
    has_weight_hh = False

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of h_t = a ⊙ h_{t-1} + b from projected inputs ``(..., G*H)``."""
        raise NotImplementedError

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)``, computed in log space for the log-space scan."""
        raise NotImplementedError

    def step(self, xp: Tensor, state: RNNState, weight_hh: Tensor | None = None) -> tuple[Tensor, RNNState]:
        a, b = self.coefficients(xp)
        h = torch.addcmul(b, a, state.h)
        return h, RNNState(h)


class MinGRUCell(_MinimalCell):
    """minGRU: h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ g(W_h x_t + b_h)."""

    num_gates = 2

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        if torch.is_grad_enabled() and xp.requires_grad:
            return _MinGRUCoefficients.apply(xp)
        # inference: the same equations without g' and the saved tensors the backward needs
        # (one path for both wastes a g' pass at inference; recomputing g' in the backward instead
        # made training 10-25% slower, measured 2026-11-23)
        kz, kh = xp.chunk(2, dim=-1)
        z = torch.sigmoid(kz)
        return 1 - z, z * g(kh)

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        kz, kh = xp.chunk(2, dim=-1)
        return -F.softplus(kz), -F.softplus(-kz) + log_g(kh)


class MinLSTMCell(_MinimalCell):
    """minLSTM: h_t = f'_t ⊙ h_{t-1} + i'_t ⊙ g(W_h x_t + b_h) with normalised f', i'."""

    num_gates = 3

    def coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        if torch.is_grad_enabled() and xp.requires_grad:
            return _MinLSTMCoefficients.apply(xp)
        # inference: the same equations without g' and the saved tensors the backward needs
        # (one path for both wastes a g' pass at inference; recomputing g' in the backward instead
        # made training 10-25% slower, measured 2026-11-23)
        kf, ki, kh = xp.chunk(3, dim=-1)
        # f' = σ(f)/(σ(f)+σ(i)) = σ(-d) with d = softplus(-k_f) - softplus(-k_i): no cancellation.
        d = F.softplus(-kf) - F.softplus(-ki)
        return torch.sigmoid(-d), torch.sigmoid(d) * g(kh)

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, kh = xp.chunk(3, dim=-1)
        d = F.softplus(-kf) - F.softplus(-ki)
        return -F.softplus(d), -F.softplus(-d) + log_g(kh)
