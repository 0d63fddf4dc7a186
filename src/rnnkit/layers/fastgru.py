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
from rnnkit.layers.fastlstm import _graph_kept, final_state, fold_final
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
def _update_coefficients(r: Tensor, z: Tensor, n: Tensor, hn: Tensor, h_prev: Tensor
                         ) -> tuple[Tensor, Tensor, Tensor]:
    """(kr, kz, kn): the gradients of the r, z, n pre-activations per unit dLoss/dh_t, for all steps
    at once (they depend only on saved values); the Python twin of gru.cpp's ``gru_update_bwd``."""
    kn = (1 - z) * (1 - n * n)
    kz = (h_prev - n) * z * (1 - z)
    kr = kn * hn * r * (1 - r)
    return kr, kz, kn


def _gate_grads(dh: Tensor, k: tuple[Tensor, Tensor, Tensor], r: Tensor, dx: Tensor, dp: Tensor) -> None:
    """One step: dLoss/d(xr, xz, xn) into ``dx`` and dLoss/d(hr, hz, hn) into ``dp`` (both (B, 3H));
    they differ only in the n part, which reaches hn through r."""
    B, H = dh.shape
    torch.stack([dh * k[0], dh * k[1], dh * k[2]], 1, out=dx.view(B, 3, H))
    torch.cat([dx[:, : 2 * H], dx[:, 2 * H:] * r], 1, out=dp)


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
    kr, kz, kn = _update_coefficients(r, z, n, hn, hs[:-1])
    dxp, dhp = dy.new_empty(T, B, 3 * H), dy.new_empty(T, B, 3 * H)
    dh = dy[-1].clone()
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            dh = torch.addmm(torch.addcmul(dy[t], dh, z[t + 1]), dhp[t + 1], w_hh)
        _gate_grads(dh, (kr[t], kz[t], kn[t]), r[t], dxp[t], dhp[t])
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
def _lngru_loop(xr: Tensor, h0: Tensor, w_hh: Tensor, g_ih: Tensor, b_ih: Tensor | None, g_hh: Tensor,
                eps_ih: float, eps_hh: float) -> tuple[Tensor, Tensor, Tensor]:
    """Python twin of ``lngru_fwd``: from the raw input projection ``xr = x W_ih^T`` -> (hs, zs =
    h W_hh^T (T, B, 3H), stats (T, B, 4) = mean and 1/std of each xr row (LN_ih) and zs row (LN_hh))."""
    T, B, G = xr.shape
    H = G // 3
    xp, mx, rx = torch.native_layer_norm(xr, (G,), g_ih, b_ih, eps_ih)  # LN_ih of all steps at once
    hs, zs, gates = xr.new_empty(T + 1, B, H), xr.new_empty(T, B, G), xr.new_empty(B, G)
    stats = xr.new_empty(T, B, 4)
    stats[:, :, 0:1], stats[:, :, 1:2] = mx, rx
    hs[0] = h0
    wt = w_hh.t()
    r, z, n = gates.view(B, 3, H).unbind(1)
    for t in range(T):
        ln, m, rs = torch.native_layer_norm(torch.mm(hs[t], wt, out=zs[t]), (G,), g_hh, None, eps_hh)
        stats[t, :, 2:] = torch.cat([m, rs], 1)
        torch.sigmoid(xp[t, :, : 2 * H] + ln[:, : 2 * H], out=gates[:, : 2 * H])
        torch.tanh(xp[t, :, 2 * H:] + r * ln[:, 2 * H:], out=n)
        torch.addcmul(n, z, hs[t] - n, out=hs[t + 1])
    return hs, zs, stats


def _lngru_adjoint(dy: Tensor, w_hh: Tensor, g_ih: Tensor, b_ih: Tensor | None, g_hh: Tensor, hs: Tensor,
                   xr: Tensor, zs: Tensor, stats: Tensor) -> tuple[Tensor, ...]:
    """Python twin of ``lngru_bwd`` -> (dxr, dzs = dLoss/d(h W_hh^T), dh0, dg_ih, db_ih, dg_hh); the gates
    are recomputed from xr, zs and the statistics, as the native loop does."""
    T, B, H = dy.shape
    G = 3 * H
    mx, rx, mz, rz = stats.unsqueeze(-1).unbind(2)  # (T, B, 1) each
    xh, zh = (xr - mx) * rx, (zs - mz) * rz
    xp = xh * g_ih if b_ih is None else xh * g_ih + b_ih
    hp = zh * g_hh
    r = torch.sigmoid(xp[..., :H] + hp[..., :H])
    z = torch.sigmoid(xp[..., H:2 * H] + hp[..., H:2 * H])
    n = torch.tanh(xp[..., 2 * H:] + r * hp[..., 2 * H:])
    kr, kz, kn = _update_coefficients(r, z, n, hp[..., 2 * H:], hs[:-1])
    dxp, dzs, dln = dy.new_empty(T, B, G), dy.new_empty(T, B, G), dy.new_empty(B, G)
    dg = dy.new_zeros(G)
    dh = dy[-1].clone()
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            dh = torch.addmm(torch.addcmul(dy[t], dh, z[t + 1]), dzs[t + 1], w_hh)
        _gate_grads(dh, (kr[t], kz[t], kn[t]), r[t], dxp[t], dln)  # dln: dLoss/d(LN_hh output)
        dg += (dln * zh[t]).sum(0)
        d = dln * g_hh  # layer-norm backward over each 3H row
        dzs[t] = rz[t] * (d - d.mean(1, keepdim=True) - zh[t] * (d * zh[t]).mean(1, keepdim=True))
    # LN_ih has no recurrence: its backward runs over all steps at once
    dxr, dg_ih, db_ih = torch.ops.aten.native_layer_norm_backward(dxp, xr, [G], mx.contiguous(), rx.contiguous(),
                                                                  g_ih, b_ih, [True, True, b_ih is not None])
    return dxr, dzs, torch.addmm(dh * z[0], dzs[0], w_hh), dg_ih, db_ih, dg


class _LayerNormGRULoop(torch.autograd.Function):
    """Layer-norm GRU over a sequence from the input ``x (T, B, I)``: [xr xz xn] = LN_ih(x W_ih^T),
    [hr hz hn] = LN_hh(h W_hh^T), then the GRU update.

    As the layer-norm LSTM's node (``fastlstm._LayerNormLSTMLoop``), the input projection and LN_ih
    live inside, so that only two (T, B, 3H) buffers exist: the raw projection ``xr`` and ``zs = h
    W_hh^T``, both saved; the backward recomputes the gates and, unless the graph is retained, writes
    the gradients of xr and zs over them. The version with LN_ih outside (torch's layer norm over
    all steps, the gates saved) ran at 0.82x nn.GRU's time and 48% of the GEMM rate at B=64."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, g_ih: Tensor, b_ih: Tensor | None,  # type: ignore[override]
                h0: Tensor, w_hh: Tensor, g_hh: Tensor, eps: tuple[float, float], last: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, _ = x.shape
        x2 = x.reshape(T * B, -1)
        xr = torch.mm(x2, w_ih.t()).view(T, B, -1)
        ctx.native = native.available_for(xr)
        loop = _ops.lngru_fwd if ctx.native else _lngru_loop
        hs, zs, stats = loop(xr, h0.contiguous(), w_hh.contiguous(), g_ih.contiguous(), b_ih, g_hh.contiguous(), *eps)
        ctx.save_for_backward(x2, w_ih, g_ih, b_ih, w_hh, g_hh, hs, xr, zs, stats, last)
        return hs[1:], final_state(hs, last)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor, dhT: Tensor):  # type: ignore[override]
        x2, w_ih, g_ih, b_ih, w_hh, g_hh, hs, xr, zs, stats, last = ctx.saved_tensors
        T, B, H = dy.shape
        args = (fold_final(dy, dhT, last), w_hh.contiguous(), g_ih.contiguous(), b_ih, g_hh.contiguous(), hs, xr, zs,
                stats)
        if ctx.native:  # over xr and zs when this backward is the graph's last use of them
            dxr, dz = (torch.empty_like(xr), torch.empty_like(zs)) if _graph_kept() else (xr, zs)
            dh0, dg_ih, db_ih, dg_hh = _ops.lngru_bwd(*args, dxr, dz)
            db_ih = db_ih if b_ih is not None else None
        else:
            dxr, dz, dh0, dg_ih, db_ih, dg_hh = _lngru_adjoint(*args)
        dxr2, dz2 = dxr.view(T * B, 3 * H), dz.view(T * B, 3 * H)
        dx = (dxr2 @ w_ih).view(T, B, -1) if ctx.needs_input_grad[0] else None
        dw_ih = dxr2.t() @ x2 if ctx.needs_input_grad[1] else None  # ONE GEMM over all steps, as dW_hh:
        dw_hh = dz2.t() @ hs[:-1].reshape(T * B, H)
        return dx, dw_ih, dg_ih, db_ih, dh0, dw_hh, dg_hh, None, None


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
        ln = cell.ln_ih
        hs, hT = _LayerNormGRULoop.apply(xt, cell.weight_ih, ln.weight, ln.bias, h0, w_hh, cell.ln_hh.weight,
                                         (ln.eps, cell.ln_hh.eps), last)
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
