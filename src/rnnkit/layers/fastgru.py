"""One-node sequence loops for the GRU, the layer-norm GRU and the Elman RNN (tanh / relu).

Why, when torch has GRU and RNN kernels: on CPU torch's ``nn.GRU`` / ``nn.RNN`` backward is not
fused — autograd replays ~10 small nodes per step — so at batch 1 it runs at ~5% of the machine's
GEMM rate and at batch 64 below the LSTM's (docs/benchmarks.md). The layer-norm GRU has no torch
kernel at all. This module does for them what ``fastlstm.py`` does for the LSTM family: a forward
loop without autograd into preallocated buffers and the adjoint loop by hand, each step one GEMM
plus one fused pass over the row (the native C++ loops of ``layers/native/gru.cpp``; the Python
loops here are their reference and the fallback), ``dW_hh`` from ONE GEMM over all steps and
``dW_ih`` / biases from autograd of the hoisted input projection (one GEMM too).

Gate order is torch's (r, z, n), so no permutation is needed. The GRU's recurrent n bias stays
inside ``r * (U_n h + b_hn)`` (the "reset after" form of ``nn.GRU``); the r and z parts of
``bias_hh`` are folded into the input projection, as the RNN's whole ``bias_hh`` is. Outputs,
states and gradients match the explicit cells (``time_loop``) and torch's modules to float
rounding; see tests/test_fastgru.py.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from rnnkit.cells import CellBase, GRUCell, LayerNormGRUCell, ReLURNNCell, RNNCell, RNNState
from rnnkit.layers import native
from rnnkit.layers.fastlstm import final_state, fold_final
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.recurrent import reverse_padded
from rnnkit.layers.regularize import weight_drop

#: the cells this path computes exactly (exact types: a subclass may change a step)
FAST_CELLS: tuple[type[CellBase], ...] = (GRUCell, LayerNormGRUCell, RNNCell, ReLURNNCell)
_ops = torch.ops.rnnkit_native  # resolved on first call, after ``native.load()`` registered them


def supports(cell: CellBase) -> bool:
    """True when ``fastgru_forward`` computes this cell."""
    return type(cell) in FAST_CELLS


# ----------------------------------------------------------------------------- GRU
def _gru_loop(xp: Tensor, h0: Tensor, w_hh: Tensor, bn: Tensor | None, keep: bool = True
              ) -> tuple[Tensor, Tensor]:
    """Python twin of the native ``gru_fwd``: -> (hs (T+1, B, H), gates (T, B, 4H) = r, z, n, U_n h + b_hn).
    (``keep`` lets the native loop skip writing the gates in inference; here they are scratch anyway.)"""
    T, B, G = xp.shape
    H = G // 3
    hs, gates = xp.new_empty(T + 1, B, H), xp.new_empty(T, B, 4 * H)
    hs[0] = h0
    wt = w_hh.t()
    for t in range(T):
        hp = torch.mm(hs[t], wt)
        r, z, n, hn = gates[t].view(B, 4, H).unbind(1)
        hn.copy_(hp[:, 2 * H:] if bn is None else hp[:, 2 * H:] + bn)
        torch.sigmoid(xp[t, :, : 2 * H] + hp[:, : 2 * H], out=gates[t, :, : 2 * H])
        torch.tanh(xp[t, :, 2 * H:] + r * hn, out=n)
        torch.addcmul(n, z, hs[t] - n, out=hs[t + 1])
    return hs, gates


def _gru_adjoint(dy: Tensor, w_hh: Tensor, hs: Tensor, gates: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Python twin of the native ``gru_bwd``: -> (dxp, dhp (T, B, 3H), dh0). The coefficients that
    depend only on saved values are computed for all steps at once; each step is one GEMM."""
    T, B, H = dy.shape
    r, z, n, hn = gates.view(T, B, 4, H).unbind(2)
    kn = (1 - z) * (1 - n * n)  # dpre_n = dh * kn
    kz = (hs[:-1] - n) * z * (1 - z)  # dpre_z = dh * kz
    kr = kn * hn * r * (1 - r)  # dpre_r = dh * kr
    dxp, dhp = dy.new_empty(T, B, 3 * H), dy.new_empty(T, B, 3 * H)
    dh = dy[-1].clone()
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            dh = torch.addmm(torch.addcmul(dy[t], dh, z[t + 1]), dhp[t + 1], w_hh)
        torch.stack([dh * kr[t], dh * kz[t], dh * kn[t]], 1, out=dxp[t].view(B, 3, H))
        dhp[t] = dxp[t]
        dhp[t, :, 2 * H:] *= r[t]
    return dxp, dhp, torch.addmm(dh * z[0], dhp[0], w_hh)


class _GRULoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, bn: Tensor | None,  # type: ignore[override]
                last: Tensor | None) -> tuple[Tensor, Tensor]:
        xp = xp.contiguous()  # (T, B, 3H)
        ctx.native = native.available_for(xp)  # the backward runs the same kind of loop
        loop = _ops.gru_fwd if ctx.native else _gru_loop
        keep = any(ctx.needs_input_grad)  # inference: the native loop need not write the gates
        hs, gates = loop(xp, h0.contiguous(), w_hh.contiguous(), bn, keep)
        ctx.has_bn = bn is not None
        ctx.save_for_backward(w_hh, hs, gates, last)
        return hs[1:], final_state(hs, last)

    @staticmethod
    @once_differentiable  # the saved tensors come from a no-grad loop: a double backward must refuse
    def backward(ctx, dy: Tensor, dhT: Tensor):  # type: ignore[override]
        w_hh, hs, gates, last = ctx.saved_tensors
        T, B, H = dy.shape
        adjoint = _ops.gru_bwd if ctx.native else _gru_adjoint
        dxp, dhp, dh0 = adjoint(fold_final(dy, dhT, last), w_hh.contiguous(), hs, gates)
        dw = dhp.view(T * B, 3 * H).t() @ hs[:-1].reshape(T * B, H)  # ONE GEMM over all steps
        dbn = dhp[:, :, 2 * H:].sum((0, 1)) if ctx.has_bn else None
        return dxp, dh0, dw, dbn, None


# ----------------------------------------------------------------------------- layer-norm GRU
def _lngru_loop(xp: Tensor, h0: Tensor, w_hh: Tensor, g_hh: Tensor, eps: float
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Python twin of ``lngru_fwd``: -> (hs, zs = h W_hh^T (T, B, 3H), stats (T, B, 2) = mean and
    1/std of each zs row, gates (T, B, 3H) = r, z, n)."""
    T, B, G = xp.shape
    H = G // 3
    hs, zs, gates = xp.new_empty(T + 1, B, H), xp.new_empty(T, B, G), xp.new_empty(T, B, G)
    stats = xp.new_empty(T, B, 2)
    hs[0] = h0
    wt = w_hh.t()
    for t in range(T):
        ln, m, rs = torch.native_layer_norm(torch.mm(hs[t], wt, out=zs[t]), (G,), g_hh, None, eps)
        stats[t] = torch.cat([m, rs], 1)
        r, z, n = gates[t].view(B, 3, H).unbind(1)
        torch.sigmoid(xp[t, :, : 2 * H] + ln[:, : 2 * H], out=gates[t, :, : 2 * H])
        torch.tanh(xp[t, :, 2 * H:] + r * ln[:, 2 * H:], out=n)
        torch.addcmul(n, z, hs[t] - n, out=hs[t + 1])
    return hs, zs, stats, gates


def _lngru_adjoint(dy: Tensor, w_hh: Tensor, g_hh: Tensor, hs: Tensor, zs: Tensor, stats: Tensor, gates: Tensor
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Python twin of ``lngru_bwd``: -> (dxp, dzs = dLoss/d(h W_hh^T) (T, B, 3H), dh0, dg_hh)."""
    T, B, H = dy.shape
    G = 3 * H
    m, rs = stats.unsqueeze(-1).unbind(2)  # (T, B, 1) each
    zh = (zs - m) * rs
    r, z, n = gates.view(T, B, 3, H).unbind(2)
    hn = zh[:, :, 2 * H:] * g_hh[2 * H:]
    kn = (1 - z) * (1 - n * n)
    kz = (hs[:-1] - n) * z * (1 - z)
    kr = kn * hn * r * (1 - r)
    dxp, dzs = dy.new_empty(T, B, G), dy.new_empty(T, B, G)
    dg = dy.new_zeros(G)
    dh = dy[-1].clone()
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            dh = torch.addmm(torch.addcmul(dy[t], dh, z[t + 1]), dzs[t + 1], w_hh)
        torch.stack([dh * kr[t], dh * kz[t], dh * kn[t]], 1, out=dxp[t].view(B, 3, H))
        dln = dxp[t].clone()
        dln[:, 2 * H:] *= r[t]
        dg += (dln * zh[t]).sum(0)
        d = dln * g_hh  # layer-norm backward over each 3H row
        dzs[t] = rs[t] * (d - d.mean(1, keepdim=True) - zh[t] * (d * zh[t]).mean(1, keepdim=True))
    return dxp, dzs, torch.addmm(dh * z[0], dzs[0], w_hh), dg


class _LayerNormGRULoop(torch.autograd.Function):
    """[hr hz hn] = LN_hh(h W_hh^T) inside the loop; ``xp = LN_ih(x W_ih^T)`` comes from autograd
    (it has no recurrence: one layer norm over all steps)."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, g_hh: Tensor, eps: float,  # type: ignore[override]
                last: Tensor | None) -> tuple[Tensor, Tensor]:
        xp = xp.contiguous()
        ctx.native = native.available_for(xp)
        loop = _ops.lngru_fwd if ctx.native else _lngru_loop
        hs, zs, stats, gates = loop(xp, h0.contiguous(), w_hh.contiguous(), g_hh.contiguous(), eps)
        ctx.save_for_backward(w_hh, g_hh, hs, zs, stats, gates, last)
        return hs[1:], final_state(hs, last)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor, dhT: Tensor):  # type: ignore[override]
        w_hh, g_hh, hs, zs, stats, gates, last = ctx.saved_tensors
        T, B, H = dy.shape
        adjoint = _ops.lngru_bwd if ctx.native else _lngru_adjoint
        dxp, dzs, dh0, dg = adjoint(fold_final(dy, dhT, last), w_hh.contiguous(), g_hh.contiguous(), hs, zs, stats,
                                    gates)
        dw = dzs.view(T * B, 3 * H).t() @ hs[:-1].reshape(T * B, H)
        return dxp, dh0, dw, dg, None, None


# ----------------------------------------------------------------------------- Elman RNN
def _rnn_loop(xp: Tensor, h0: Tensor, w_hh: Tensor, relu: bool) -> Tensor:
    """Python twin of ``rnn_fwd``: -> hs (T+1, B, H)."""
    T, B, H = xp.shape
    hs = xp.new_empty(T + 1, B, H)
    hs[0] = h0
    wt, act = w_hh.t(), (torch.relu_ if relu else torch.tanh_)
    for t in range(T):
        act(torch.addmm(xp[t], hs[t], wt, out=hs[t + 1]))
    return hs


def _rnn_adjoint(dy: Tensor, w_hh: Tensor, hs: Tensor, relu: bool) -> tuple[Tensor, Tensor]:
    """Python twin of ``rnn_bwd``: -> (dpre (T, B, H) = dLoss/dxp, dh0)."""
    T = dy.shape[0]
    deriv = (hs[1:] > 0).to(hs.dtype) if relu else 1 - hs[1:] * hs[1:]
    dpre = dy.new_empty(dy.shape)
    for t in range(T - 1, -1, -1):
        d = dy[t] if t == T - 1 else torch.addmm(dy[t], dpre[t + 1], w_hh)
        torch.mul(d, deriv[t], out=dpre[t])
    return dpre, dpre[0] @ w_hh


class _RNNLoop(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, w_hh: Tensor, relu: bool,  # type: ignore[override]
                last: Tensor | None) -> tuple[Tensor, Tensor]:
        xp = xp.contiguous()
        ctx.native, ctx.relu = native.available_for(xp), relu
        hs = (_ops.rnn_fwd if ctx.native else _rnn_loop)(xp, h0.contiguous(), w_hh.contiguous(), relu)
        ctx.save_for_backward(w_hh, hs, last)
        return hs[1:], final_state(hs, last)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor, dhT: Tensor):  # type: ignore[override]
        w_hh, hs, last = ctx.saved_tensors
        T, B, H = dy.shape
        adjoint = _ops.rnn_bwd if ctx.native else _rnn_adjoint
        dpre, dh0 = adjoint(fold_final(dy, dhT, last), w_hh.contiguous(), hs, ctx.relu)
        dw = dpre.view(T * B, H).t() @ hs[:-1].reshape(T * B, H)
        return dpre, dh0, dw, None, None


# ----------------------------------------------------------------------------- entry point
def fastgru_forward(
    cell: CellBase,
    x: Tensor,
    state: RNNState | None = None,
    lengths: Tensor | None = None,
    reverse: bool = False,
    weight_dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, RNNState]:
    """Same contract and numbers as ``time_loop(cell, ...)`` for the cells in ``FAST_CELLS`` (no
    zoneout: that needs the per-step loop). ``x (B, T, I)`` -> ``(y (B, T, H), RNNState)``."""
    if not supports(cell):
        raise ValueError(f"fastgru supports {[c.__name__ for c in FAST_CELLS]}, got {type(cell).__name__}")
    if reverse:
        y, st = fastgru_forward(cell, reverse_padded(x, lengths), state, lengths, False, weight_dropout, training)
        return reverse_padded(y, lengths), st
    B, T, _ = x.shape
    H = cell.hidden_size
    h0 = x.new_zeros(B, H) if state is None else state.h
    w_hh = cell.weight_hh if weight_dropout <= 0 else weight_drop(cell.weight_hh, weight_dropout, training)
    last = None if lengths is None or bool((lengths == T).all()) else lengths.to(x.device).long() - 1
    xt = x.transpose(0, 1)  # (T, B, I)
    if isinstance(cell, LayerNormGRUCell):
        hs, hT = _LayerNormGRULoop.apply(cell.input_projection(xt), h0, w_hh, cell.ln_hh.weight, cell.ln_hh.eps, last)
    elif isinstance(cell, GRUCell):
        bias, bn = None, None
        if cell.bias:  # r, z parts of bias_hh join the input projection; b_hn stays inside r * (...)
            bias = cell.bias_ih + torch.cat([cell.bias_hh[: 2 * H], cell.bias_hh.new_zeros(H)])
            bn = cell.bias_hh[2 * H:]
        hs, hT = _GRULoop.apply(F.linear(xt, cell.weight_ih, bias), h0, w_hh, bn, last)
    else:
        bias = cell.bias_ih + cell.bias_hh if cell.bias else None
        hs, hT = _RNNLoop.apply(F.linear(xt, cell.weight_ih, bias), h0, w_hh, isinstance(cell, ReLURNNCell), last)
    y = hs.transpose(0, 1)  # (B, T, H)
    if last is not None:
        y = y * lengths_to_mask(lengths, T, x.device).unsqueeze(-1)
    return y, RNNState(hT)


__all__ = ["FAST_CELLS", "fastgru_forward", "supports"]
