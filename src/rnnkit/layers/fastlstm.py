"""A fast whole-sequence path for the LSTM family that torch has no kernel for (peephole and
layer-norm LSTM; the plain LSTM too, e.g. for comparison): one custom autograd node per sequence.

Why: the explicit time loop records ~15 autograd nodes per step and its backward replays them one
by one, with three small GEMMs per step (dh, dW_hh, dW_ih pieces). This module does what
``nn.LSTM``'s own kernels do:

- forward: the loop runs without autograd, one ``addmm`` per step into preallocated buffers,
  gate non-linearities in place, activated gates and cell states saved;
- backward: the adjoint loop. The gradients of all gate pre-activations are *linear* in the two
  carried adjoints (dh_t, dc_t) with coefficients that depend only on saved values, so the
  coefficients are computed for all T steps at once before the loop, and each step is one GEMM
  (``dh_{t-1} = dy_{t-1} + dpre_t @ W_hh``) plus four elementwise ops. ``dW_hh``, the peephole and
  layer-norm parameters come from ONE GEMM / reduction over all steps after the loop; ``dW_ih`` and
  the biases come from autograd of the hoisted input projection (also one GEMM).

Internally the gates are reordered (o, i, f, g) so the sigmoid gates are one contiguous slice in
the forward and the c-driven gates (i, f, g) one slice in the backward; the permutation is applied
to the weights (cheap), never to activations. Outputs, states and gradients match the explicit
cells (``time_loop``) to float rounding; see tests/test_fastlstm.py.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells import CellBase, LayerNormLSTMCell, LSTMCell, LSTMState, PeepholeLSTMCell
from rnnkit.layers.recurrent import reverse_padded, valid_mask
from rnnkit.layers.regularize import weight_drop

#: the cells this path computes exactly
FAST_CELLS: tuple[type[CellBase], ...] = (LSTMCell, PeepholeLSTMCell, LayerNormLSTMCell)
_ln_backward = torch.ops.aten.native_layer_norm_backward


def supports(cell: CellBase) -> bool:
    """True when ``fastlstm_forward`` computes this cell (exact type: subclasses may change a step)."""
    return type(cell) in FAST_CELLS


def _order(H: int, device: torch.device) -> Tensor:
    """Row permutation torch gate order (i, f, g, o) -> internal (o, i, f, g)."""
    return torch.cat([torch.arange(3 * H, 4 * H), torch.arange(0, 3 * H)]).to(device)


def _prepare_backward(dy: Tensor, dhT: Tensor, dcT: Tensor, last: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Fold the final-state gradients into the per-step ones at each sequence's last step.

    Returns ``(dy, inj)``: ``dy (T, B, H)`` with dh_T added at step ``last`` (outputs past the end
    get no gradient), ``inj (T, B, H)`` the dc_T injections (None when every sequence is full length,
    then dc_T simply starts the adjoint loop)."""
    T, B, _ = dy.shape
    dy = dy.contiguous().clone()
    if last is None:
        dy[-1] += dhT
        return dy, None
    dy *= (torch.arange(T, device=dy.device).unsqueeze(1) <= last.unsqueeze(0)).unsqueeze(-1)
    b = torch.arange(B, device=dy.device)
    dy.index_put_((last, b), dhT, accumulate=True)
    inj = torch.zeros_like(dy)
    inj[last, b] = dcT
    return dy, inj


def _final(buf: Tensor, last: Tensor | None) -> Tensor:
    """State after each sequence's own last step from ``buf (T+1, B, H)`` (buf[0] = initial)."""
    if last is None:
        return buf[-1].clone()
    return buf[last + 1, torch.arange(buf.shape[1], device=buf.device)]


class _LSTMLoop(torch.autograd.Function):
    """Plain (``peep is None``) or peephole LSTM over a sequence; xp holds both biases."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, peep: Tensor | None,  # type: ignore[override]
                last: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        xp = xp.contiguous()  # (T, B, 4H), gate order (o, i, f, g)
        T, B, G = xp.shape
        H = G // 4
        hs, cs = xp.new_empty(T + 1, B, H), xp.new_empty(T + 1, B, H)
        tcs, gates = xp.new_empty(T, B, H), xp.new_empty(T, B, G)
        hs[0], cs[0] = h0, c0
        wt = w_hh.t()
        for t in range(T):
            gt = torch.addmm(xp[t], hs[t], wt, out=gates[t])  # (B, 4H)
            o, i, f, g = gt.view(B, 4, H).unbind(1)
            if peep is None:
                gt[:, : 3 * H].sigmoid_()
            else:  # i, f see c_{t-1}; o sees c_t
                gif = gt.view(B, 4, H)[:, 1:3]
                gif.addcmul_(peep[1:], cs[t].unsqueeze(1)).sigmoid_()
            g.tanh_()
            c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, g)
            if peep is not None:
                o.addcmul_(peep[0], c).sigmoid_()
            torch.mul(o, torch.tanh(c, out=tcs[t]), out=hs[t + 1])
        ctx.save_for_backward(w_hh, peep, hs, cs, tcs, gates, last)
        return hs[1:], _final(hs, last), _final(cs, last)

    @staticmethod
    def backward(ctx, dy: Tensor, dhT: Tensor, dcT: Tensor):  # type: ignore[override]
        w_hh, peep, hs, cs, tcs, gates = ctx.saved_tensors[:6]
        last = ctx.saved_tensors[6]
        T, B, H = tcs.shape
        o, i, f, g = gates.view(T, B, 4, H).unbind(2)
        c_prev, tc = cs[:-1], tcs
        # dpre_o = dh*A; dc += dh*K; dpre_{i,f,g} = dc*C; dc_{t-1} = dc*Fp  (all T steps at once)
        A = tc * o * (1 - o)
        K = o * (1 - tc * tc)
        C = torch.stack([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)], 2)  # (T, B, 3, H)
        Fp = f
        if peep is not None:
            K = K + A * peep[0]
            Fp = f + C[:, :, 0] * peep[1] + C[:, :, 1] * peep[2]
        dy, inj = _prepare_backward(dy, dhT, dcT, last)
        dpre = dy.new_empty(T, B, 4 * H)
        d4 = dpre.view(T, B, 4, H)
        dh = dy[-1].clone()
        dc = (dcT if inj is None else inj[-1]).clone()
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                torch.addmm(dy[t], dpre[t + 1], w_hh, out=dh)
                dc = dc.mul_(Fp[t + 1]) if inj is None else torch.addcmul(inj[t], dc, Fp[t + 1])
            dc.addcmul_(dh, K[t])
            torch.mul(C[t], dc.unsqueeze(1), out=d4[t, :, 1:])
            torch.mul(dh, A[t], out=d4[t, :, 0])
        dh0, dc0 = dpre[0] @ w_hh, dc * Fp[0]
        dw = dpre.view(T * B, 4 * H).t() @ hs[:-1].reshape(T * B, H)  # ONE GEMM over all steps
        dpeep = None
        if peep is not None:
            dpeep = torch.stack([(d4[:, :, 0] * cs[1:]).sum((0, 1)), (d4[:, :, 1] * c_prev).sum((0, 1)),
                                 (d4[:, :, 2] * c_prev).sum((0, 1))])
        return dpre, dh0, dc0, dw, dpeep, None


class _LayerNormLSTMLoop(torch.autograd.Function):
    """Layer-norm LSTM over a sequence: gates = xp + LN_hh(h W_hh^T), h = σ(o) tanh(LN_c(c))."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, g_hh: Tensor,  # type: ignore[override]
                g_c: Tensor, b_c: Tensor | None, eps_hh: float, eps_c: float,
                last: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        xp = xp.contiguous()  # (T, B, 4H), gate order (o, i, f, g)
        T, B, G = xp.shape
        H = G // 4
        hs, cs = xp.new_empty(T + 1, B, H), xp.new_empty(T + 1, B, H)
        tls, gates, zs = xp.new_empty(T, B, H), xp.new_empty(T, B, G), xp.new_empty(T, B, G)
        stats = xp.new_empty(4, T, B, 1)  # mean/rstd of LN_hh, mean/rstd of LN_c
        hs[0], cs[0] = h0, c0
        wt = w_hh.t()
        for t in range(T):
            z = torch.mm(hs[t], wt, out=zs[t])
            ln, stats[0, t], stats[1, t] = torch.native_layer_norm(z, (G,), g_hh, None, eps_hh)
            gt = torch.add(xp[t], ln, out=gates[t])
            o, i, f, g = gt.view(B, 4, H).unbind(1)
            gt[:, : 3 * H].sigmoid_()
            g.tanh_()
            c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, g)
            lc, stats[2, t], stats[3, t] = torch.native_layer_norm(c, (H,), g_c, b_c, eps_c)
            torch.mul(o, torch.tanh(lc, out=tls[t]), out=hs[t + 1])
        ctx.save_for_backward(w_hh, g_hh, g_c, b_c, hs, cs, tls, gates, zs, stats, last)
        return hs[1:], _final(hs, last), _final(cs, last)

    @staticmethod
    def backward(ctx, dy: Tensor, dhT: Tensor, dcT: Tensor):  # type: ignore[override]
        w_hh, g_hh, g_c, b_c, hs, cs, tls, gates, zs, stats, last = ctx.saved_tensors
        T, B, H = tls.shape
        G = 4 * H
        o, i, f, g = gates.view(T, B, 4, H).unbind(2)
        A = tls * o * (1 - o)  # dpre_o = dh*A
        Kc = o * (1 - tls * tls)  # d LN_c(c) = dh*Kc
        C = torch.stack([g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g)], 2)  # (T, B, 3, H)
        dy, inj = _prepare_backward(dy, dhT, dcT, last)
        dpre, dz = dy.new_empty(T, B, G), dy.new_empty(T, B, G)
        d4, dlc = dpre.view(T, B, 4, H), dy.new_empty(T, B, H)
        dh = dy[-1].clone()
        dc = (dcT if inj is None else inj[-1]).clone()
        mask = [True, False, False]
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                torch.addmm(dy[t], dz[t + 1], w_hh, out=dh)
            torch.mul(dh, Kc[t], out=dlc[t])
            dcl = _ln_backward(dlc[t], cs[t + 1], [H], stats[2, t], stats[3, t], g_c, b_c, mask)[0]
            if t < T - 1:
                dc = torch.addcmul(dcl, dc, f[t + 1])
                if inj is not None:
                    dc.add_(inj[t])
            else:
                dc = dcl.add_(dc)
            torch.mul(C[t], dc.unsqueeze(1), out=d4[t, :, 1:])
            torch.mul(dh, A[t], out=d4[t, :, 0])
            dz[t] = _ln_backward(dpre[t], zs[t], [G], stats[0, t], stats[1, t], g_hh, None, mask)[0]
        dh0, dc0 = dz[0] @ w_hh, dc * f[0]
        dw = dz.view(T * B, G).t() @ hs[:-1].reshape(T * B, H)  # ONE GEMM over all steps
        dg_hh = (dpre * (zs - stats[0]) * stats[1]).sum((0, 1))
        dg_c = (dlc * (cs[1:] - stats[2]) * stats[3]).sum((0, 1))
        db_c = dlc.sum((0, 1)) if b_c is not None else None
        return dpre, dh0, dc0, dw, dg_hh, dg_c, db_c, None, None, None


def fastlstm_forward(
    cell: CellBase,
    x: Tensor,
    state: LSTMState | None = None,
    lengths: Tensor | None = None,
    reverse: bool = False,
    weight_dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, LSTMState]:
    """Same contract and numbers as ``time_loop(cell, ...)`` for the cells in ``FAST_CELLS``
    (no zoneout: that needs the per-step loop). ``x (B, T, I)`` -> ``(y (B, T, H), LSTMState)``."""
    if not supports(cell):
        raise ValueError(f"fastlstm supports {[c.__name__ for c in FAST_CELLS]}, got {type(cell).__name__}")
    if reverse:
        y, st = fastlstm_forward(cell, reverse_padded(x, lengths), state, lengths, False, weight_dropout, training)
        return reverse_padded(y, lengths), st
    B, T, _ = x.shape
    H = cell.hidden_size
    if state is None:
        state = LSTMState(*([x.new_zeros(B, H)] * 2))
    order = _order(H, x.device)
    w_hh = cell.weight_hh if weight_dropout <= 0 else weight_drop(cell.weight_hh, weight_dropout, training)
    w_hh = w_hh[order]
    last = None if lengths is None or bool((lengths == T).all()) else lengths.to(x.device).long() - 1
    xt = x.transpose(0, 1)  # (T, B, I)
    if isinstance(cell, LayerNormLSTMCell):
        ln = cell.ln_ih
        xp = F.layer_norm(F.linear(xt, cell.weight_ih[order]), ln.normalized_shape, ln.weight[order],
                          None if ln.bias is None else ln.bias[order], ln.eps)
        hs, hT, cT = _LayerNormLSTMLoop.apply(xp, state.h, state.c, w_hh, cell.ln_hh.weight[order],
                                              cell.ln_c.weight, cell.ln_c.bias, cell.ln_hh.eps, cell.ln_c.eps, last)
    else:
        bias = (cell.bias_ih + cell.bias_hh)[order] if cell.bias else None
        xp = F.linear(xt, cell.weight_ih[order], bias)
        peep = None
        if isinstance(cell, PeepholeLSTMCell):
            peep = torch.stack([cell.weight_co, cell.weight_ci, cell.weight_cf])  # (3, H) in (o, i, f)
        hs, hT, cT = _LSTMLoop.apply(xp, state.h, state.c, w_hh, peep, last)
    y = hs.transpose(0, 1)  # (B, T, H)
    if last is not None:
        y = y * valid_mask(lengths, T, x.device).unsqueeze(-1)
    return y, LSTMState(hT, cT)


__all__ = ["FAST_CELLS", "fastlstm_forward", "supports"]
