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
  the biases come from autograd of the hoisted input projection (also one GEMM). The layer-norm
  node computes that projection and LN_ih itself, so that it owns every (T, B, 4H) buffer and
  needs only two (see ``_LayerNormLSTMLoop``).

Internally the gates are reordered (o, i, f, g) so the sigmoid gates are one contiguous slice in
the forward and the c-driven gates (i, f, g) one slice in the backward; the permutation is applied
to the weights (cheap), never to activations. Outputs, states and gradients match the explicit
cells (``time_loop``) to float rounding; see tests/test_fastlstm.py.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from rnnkit.cells import CellBase, LayerNormLSTMCell, LSTMCell, LSTMState, PeepholeLSTMCell
from rnnkit.layers import native
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.recurrent import reverse_padded
from rnnkit.layers.regularize import weight_drop

#: the cells this path computes exactly
FAST_CELLS: tuple[type[CellBase], ...] = (LSTMCell, PeepholeLSTMCell, LayerNormLSTMCell)
_ln_backward = torch.ops.aten.native_layer_norm_backward
_ops = torch.ops.rnnkit_native  # resolved on first call, after ``native.load()`` registered them


def supports(cell: CellBase) -> bool:
    """True when ``fastlstm_forward`` computes this cell (exact type: subclasses may change a step)."""
    return type(cell) in FAST_CELLS


def _order(H: int, device: torch.device) -> Tensor:
    """Row permutation torch gate order (i, f, g, o) -> internal (o, i, f, g)."""
    return torch.cat([torch.arange(3 * H, 4 * H), torch.arange(0, 3 * H)]).to(device)


def fold_final(dy: Tensor, dhT: Tensor, last: Tensor | None) -> Tensor:
    """``dy (T, B, H)`` with the final-state gradient dh_T added at each sequence's last step and
    the outputs past the end given no gradient (a fresh, contiguous tensor the loops may overwrite)."""
    T, B, _ = dy.shape
    dy = dy.contiguous().clone()
    if last is None:
        dy[-1] += dhT
        return dy
    dy *= (torch.arange(T, device=dy.device).unsqueeze(1) <= last.unsqueeze(0)).unsqueeze(-1)
    dy.index_put_((last, torch.arange(B, device=dy.device)), dhT, accumulate=True)
    return dy


def _prepare_backward(dy: Tensor, dhT: Tensor, dcT: Tensor, last: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Fold the final-state gradients into the per-step ones at each sequence's last step.

    Returns ``(dy, inj)``: ``dy`` from ``fold_final``, ``inj (T, B, H)`` the dc_T injections (None
    when every sequence is full length, then dc_T simply starts the adjoint loop)."""
    dy = fold_final(dy, dhT, last)
    if last is None:
        return dy, None
    inj = torch.zeros_like(dy)
    inj[last, torch.arange(dy.shape[1], device=dy.device)] = dcT
    return dy, inj


def final_state(buf: Tensor, last: Tensor | None) -> Tensor:
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
        ctx.native = native.available_for(xp)  # the backward runs the same kind of loop
        if ctx.native:  # the same loop in C++: same saved tensors, same numbers
            hs, cs, tcs, gates = _ops.lstm_fwd(xp, h0.contiguous(), c0.contiguous(), w_hh.contiguous(), peep)
            ctx.save_for_backward(w_hh, peep, hs, cs, tcs, gates, last)
            return hs[1:], final_state(hs, last), final_state(cs, last)
        T, B, G = xp.shape
        H = G // 4
        hs, cs = xp.new_empty(T + 1, B, H), xp.new_empty(T + 1, B, H)
        tcs, gates = xp.new_empty(T, B, H), xp.new_empty(T, B, G)
        hs[0], cs[0] = h0, c0
        wt = w_hh.t()
        # per-step views made once (indexing a tensor in the loop costs as much as a small kernel)
        g4 = gates.view(T, B, 4, H)
        h_, c_, tc_, x_, gt_ = hs.unbind(0), cs.unbind(0), tcs.unbind(0), xp.unbind(0), gates.unbind(0)
        o_, i_, f_, g_ = (v.unbind(0) for v in g4.unbind(2))
        sig_ = (gates[:, :, : 3 * H] if peep is None else g4[:, :, 1:3]).unbind(0)
        c3_ = cs.unsqueeze(2).unbind(0)
        for t in range(T):
            torch.addmm(x_[t], h_[t], wt, out=gt_[t])  # (B, 4H)
            if peep is None:
                sig_[t].sigmoid_()  # o, i, f
            else:  # i, f see c_{t-1}; o sees c_t
                sig_[t].addcmul_(peep[1:], c3_[t]).sigmoid_()
            g_[t].tanh_()
            c = torch.mul(f_[t], c_[t], out=c_[t + 1]).addcmul_(i_[t], g_[t])
            if peep is not None:
                o_[t].addcmul_(peep[0], c).sigmoid_()
            torch.mul(o_[t], torch.tanh(c, out=tc_[t]), out=h_[t + 1])
        ctx.save_for_backward(w_hh, peep, hs, cs, tcs, gates, last)
        return hs[1:], final_state(hs, last), final_state(cs, last)

    @staticmethod
    @once_differentiable  # the saved tensors come from a no-grad loop: a double backward must refuse
    def backward(ctx, dy: Tensor, dhT: Tensor, dcT: Tensor):  # type: ignore[override]
        w_hh, peep, hs, cs, tcs, gates, last = ctx.saved_tensors
        T, B, H = tcs.shape
        dy, inj = _prepare_backward(dy, dhT, dcT, last)
        adjoint = _ops.lstm_bwd if ctx.native else _lstm_adjoint  # one contract, C++ or Python
        dpre, dc0, dpeep = adjoint(dy, inj, dcT.contiguous(), w_hh.contiguous(), peep, cs, tcs, gates)
        dw = dpre.view(T * B, 4 * H).t() @ hs[:-1].reshape(T * B, H)  # ONE GEMM over all steps
        return dpre, dpre[0] @ w_hh, dc0, dw, dpeep if peep is not None else None, None


def _lstm_adjoint(dy: Tensor, inj: Tensor | None, dcT: Tensor, w_hh: Tensor, peep: Tensor | None, cs: Tensor,
                  tcs: Tensor, gates: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
    """The adjoint loop of ``_LSTMLoop`` in Python, same contract as the native ``lstm_bwd``:
    ``dy`` with dh_T folded in, ``inj`` the dc_T injections (or None: then ``dcT`` starts the loop)
    -> (dpre (T, B, 4H), dc0, dpeep (3, H) or None)."""
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
    dpre = dy.new_empty(T, B, 4 * H)
    d4 = dpre.view(T, B, 4, H)
    dh = dy[-1].clone()
    dc = (dcT if inj is None else inj[-1]).clone()
    dc3 = dc.unsqueeze(1)  # a view: follows the in-place updates of dc
    dy_, dp_, Fp_, K_, C_, A_ = dy.unbind(0), dpre.unbind(0), Fp.unbind(0), K.unbind(0), C.unbind(0), A.unbind(0)
    dcg_, dco_ = d4[:, :, 1:].unbind(0), d4[:, :, 0].unbind(0)
    inj_ = inj.unbind(0) if inj is not None else None
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            torch.addmm(dy_[t], dp_[t + 1], w_hh, out=dh)
            if inj_ is None:
                dc.mul_(Fp_[t + 1])
            else:
                torch.addcmul(inj_[t], dc, Fp_[t + 1], out=dc)
        dc.addcmul_(dh, K_[t])
        torch.mul(C_[t], dc3, out=dcg_[t])
        torch.mul(dh, A_[t], out=dco_[t])
    dpeep = None
    if peep is not None:
        dpeep = torch.stack([(d4[:, :, 0] * cs[1:]).sum((0, 1)), (d4[:, :, 1] * c_prev).sum((0, 1)),
                             (d4[:, :, 2] * c_prev).sum((0, 1))])
    return dpre, dc * Fp[0], dpeep


class _LayerNormLSTMLoop(torch.autograd.Function):
    """Layer-norm LSTM over a sequence from the input ``x (T, B, I)``:
    gates = LN_ih(x W_ih^T) + LN_hh(h W_hh^T), h = σ(o) tanh(LN_c(c)).

    The input projection and LN_ih live inside this node so that, at a large batch, the node owns
    every (T, B, 4H) buffer: only two of them exist, the raw projection ``xr`` and ``zs = h W_hh^T``
    (both saved; the backward recomputes the gates from them and, unless the graph is retained,
    writes the gradients of xr and zs over them). The version with LN_ih outside and the gates
    saved allocated seven such buffers per call (26 MB each at B=64, H=256) and spent its extra
    time on memory, not arithmetic; see docs/benchmarks.md."""

    @staticmethod
    def forward(ctx, x: Tensor, w_ih: Tensor, g_ih: Tensor, b_ih: Tensor | None,  # type: ignore[override]
                h0: Tensor, c0: Tensor, w_hh: Tensor, g_hh: Tensor, g_c: Tensor, b_c: Tensor | None,
                eps: tuple[float, float, float], last: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T, B, _ = x.shape  # gate order of w_ih, g_ih, b_ih, w_hh, g_hh: (o, i, f, g)
        x2 = x.reshape(T * B, -1)
        xr = torch.mm(x2, w_ih.t()).view(T, B, -1)
        ctx.native = native.available_for(xr)  # the backward runs the same kind of loop
        loop = _ops.lnlstm_fwd if ctx.native else _lnlstm_loop  # one contract, C++ or Python
        hs, cs, zs, stats = loop(xr, h0.contiguous(), c0.contiguous(), w_hh.contiguous(), g_ih, b_ih, g_hh, g_c, b_c,
                                 *eps)
        ctx.save_for_backward(x2, w_ih, g_ih, b_ih, w_hh, g_hh, g_c, b_c, hs, cs, xr, zs, stats, last)
        return hs[1:], final_state(hs, last), final_state(cs, last)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor, dhT: Tensor, dcT: Tensor):  # type: ignore[override]
        x2, w_ih, g_ih, b_ih, w_hh, g_hh, g_c, b_c, hs, cs, xr, zs, stats, last = ctx.saved_tensors
        T, B, H = dy.shape
        dy, inj = _prepare_backward(dy, dhT, dcT, last)
        adjoint = _native_lnlstm_adjoint if ctx.native else _lnlstm_adjoint
        dxr, dz, dc0, dg_ih, db_ih, dg_hh, dg_c, db_c = adjoint(dy, inj, dcT.contiguous(), w_hh.contiguous(), g_ih,
                                                                b_ih, g_hh, g_c, b_c, cs, xr, zs, stats)
        dxr2, dz2 = dxr.view(T * B, 4 * H), dz.view(T * B, 4 * H)
        dx = (dxr2 @ w_ih).view(T, B, -1) if ctx.needs_input_grad[0] else None
        dw_ih = dxr2.t() @ x2 if ctx.needs_input_grad[1] else None  # ONE GEMM over all steps, as dW_hh:
        dw_hh = dz2.t() @ hs[:-1].reshape(T * B, H)
        return dx, dw_ih, dg_ih, db_ih, dz[0] @ w_hh, dc0, dw_hh, dg_hh, dg_c, db_c, None, None


def _lnlstm_loop(xr: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, g_ih: Tensor, b_ih: Tensor | None, g_hh: Tensor,
                 g_c: Tensor, b_c: Tensor | None, eps_ih: float, eps_hh: float, eps_c: float
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The forward loop of ``_LayerNormLSTMLoop`` in Python, same contract as the native ``lnlstm_fwd``:
    -> (hs (T+1, B, H), cs (T+1, B, H), zs = h_{t-1} W_hh^T (T, B, 4H), stats (T, B, 6): mean and
    1/std of LN_ih, LN_hh and LN_c per row)."""
    T, B, G = xr.shape
    H = G // 4
    gates, mx, rx = torch.native_layer_norm(xr, (G,), g_ih, b_ih, eps_ih)  # LN_ih of all steps; steps add to it
    hs, cs, zs, tl = xr.new_empty(T + 1, B, H), xr.new_empty(T + 1, B, H), xr.new_empty(T, B, G), xr.new_empty(B, H)
    hs[0], cs[0] = h0, c0
    wt = w_hh.t()
    h_, c_, gt_, z_ = (v.unbind(0) for v in (hs, cs, gates, zs))
    o_, i_, f_, g_ = (v.unbind(0) for v in gates.view(T, B, 4, H).unbind(2))
    sig_ = gates[:, :, : 3 * H].unbind(0)
    st: list[list[Tensor]] = [[], [], [], []]  # mean/rstd of LN_hh, mean/rstd of LN_c per step
    for t in range(T):
        ln, m, r = torch.native_layer_norm(torch.mm(h_[t], wt, out=z_[t]), (G,), g_hh, None, eps_hh)
        gt_[t].add_(ln)
        sig_[t].sigmoid_()  # o, i, f
        g_[t].tanh_()
        c = torch.mul(f_[t], c_[t], out=c_[t + 1]).addcmul_(i_[t], g_[t])
        lc, mc, rc = torch.native_layer_norm(c, (H,), g_c, b_c, eps_c)
        torch.mul(o_[t], torch.tanh(lc, out=tl), out=h_[t + 1])
        for lst, v in zip(st, (m, r, mc, rc)):
            lst.append(v)
    stats = torch.cat([mx, rx, *(torch.stack(v) for v in st)], -1)  # (T, B, 6), as the native loop
    return hs, cs, zs, stats


def _native_lnlstm_adjoint(dy: Tensor, inj: Tensor | None, dcT: Tensor, w_hh: Tensor, g_ih: Tensor,
                           b_ih: Tensor | None, g_hh: Tensor, g_c: Tensor, b_c: Tensor | None, cs: Tensor, xr: Tensor,
                           zs: Tensor, stats: Tensor) -> tuple[Tensor, ...]:
    """The native ``lnlstm_bwd`` in ``_lnlstm_adjoint``'s contract. It writes dLoss/dxr over ``xr``
    and dLoss/dzs over ``zs``, saving two full-size buffers, when this backward is the graph's last
    use of them; with ``retain_graph=True`` (gradcheck, jacobians, a second backward) into new ones."""
    dxr, dz = (torch.empty_like(xr), torch.empty_like(zs)) if _graph_kept() else (xr, zs)
    dc0, dg_ih, db_ih, dg_hh, dg_c, db_c = _ops.lnlstm_bwd(dy, inj, dcT, w_hh, g_ih, b_ih, g_hh, g_c, b_c, cs, xr, zs,
                                                           stats, dxr, dz)
    return (dxr, dz, dc0, dg_ih, db_ih if b_ih is not None else None, dg_hh, dg_c,
            db_c if b_c is not None else None)


def _graph_kept() -> bool:
    """True when the running backward keeps the graph (``retain_graph=True``), so saved tensors must
    stay intact. Asks torch's engine through a private hook; without it, assume kept (safe)."""
    probe = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return True if probe is None else bool(probe())


def _lnlstm_adjoint(dy: Tensor, inj: Tensor | None, dcT: Tensor, w_hh: Tensor, g_ih: Tensor, b_ih: Tensor | None,
                    g_hh: Tensor, g_c: Tensor, b_c: Tensor | None, cs: Tensor, xr: Tensor, zs: Tensor, stats: Tensor
                    ) -> tuple[Tensor, ...]:
    """The adjoint loop of ``_LayerNormLSTMLoop`` in Python -> (dxr, dz = dLoss/d(h W_hh^T) (T, B, 4H),
    dc0, dg_ih, db_ih, dg_hh, dg_c, db_c; absent biases' gradients None). Gates and tanh(LN_c(c)) are
    recomputed from the saved projections and statistics, as the native loop does."""
    T, B, G = xr.shape
    H = G // 4
    # (T, B, 1) each, contiguous: native_layer_norm_backward reads mean/rstd as if they were
    mx, rx, mz, rz, mc, rc = stats.permute(2, 0, 1).unsqueeze(-1).contiguous().unbind(0)
    pre = torch.sub(xr, mx).mul_(rx).mul_(g_ih).addcmul_(torch.sub(zs, mz).mul_(rz), g_hh)  # in place: two buffers
    if b_ih is not None:
        pre += b_ih
    pre[..., : 3 * H].sigmoid_()
    pre[..., 3 * H:].tanh_()
    o, i, f, g = pre.view(T, B, 4, H).unbind(2)
    lnc = (cs[1:] - mc) * rc * g_c
    tls = torch.tanh(lnc if b_c is None else lnc + b_c)
    A = tls * o * (1 - o)  # dpre_o = dh*A
    Kc = o * (1 - tls * tls)  # d LN_c(c) = dh*Kc
    C = torch.stack([g * i * (1 - i), cs[:-1] * f * (1 - f), i * (1 - g * g)], 2)  # (T, B, 3, H)
    dpre = dy.new_empty(T, B, G)
    d4, dlc = dpre.view(T, B, 4, H), dy.new_empty(B, H)  # dLoss/dLN_c(c_t), one step at a time
    dh = dy[-1].clone()
    dc = (dcT if inj is None else inj[-1]).clone()
    # LN parameter gradients come out of the per-step LN backward (the data are in cache there);
    # a separate pass over all steps afterwards cost ~4 full reads of (T, B, 4H) tensors
    mask_hh, mask_c = [True, True, False], [True, True, b_c is not None]
    dghh_: list[Tensor] = []
    dgc_: list[Tensor] = []
    dbc_: list[Tensor] = []
    dy_, dp_, Kc_, C_, A_, f_ = (v.unbind(0) for v in (dy, dpre, Kc, C, A, f))
    c_, z_, mz_, rz_, mc_, rc_ = (v.unbind(0) for v in (cs, zs, mz, rz, mc, rc))
    dcg_, dco_ = d4[:, :, 1:].unbind(0), d4[:, :, 0].unbind(0)
    dz_: list[Tensor] = [dh] * T
    for t in range(T - 1, -1, -1):
        if t < T - 1:
            torch.addmm(dy_[t], dz_[t + 1], w_hh, out=dh)
        torch.mul(dh, Kc_[t], out=dlc)
        dcl, dgc, dbc = _ln_backward(dlc, c_[t + 1], [H], mc_[t], rc_[t], g_c, b_c, mask_c)
        dgc_.append(dgc)
        if b_c is not None:
            dbc_.append(dbc)
        if t < T - 1:
            dc = torch.addcmul(dcl, dc, f_[t + 1])
            if inj is not None:
                dc.add_(inj[t])
        else:
            dc = dcl.add_(dc)
        torch.mul(C_[t], dc.unsqueeze(1), out=dcg_[t])
        torch.mul(dh, A_[t], out=dco_[t])
        dz_[t], dghh, _ = _ln_backward(dp_[t], z_[t], [G], mz_[t], rz_[t], g_hh, None, mask_hh)
        dghh_.append(dghh)
    # LN_ih has no recurrence: its backward runs over all steps at once
    dxr, dg_ih, db_ih = _ln_backward(dpre, xr, [G], mx, rx, g_ih, b_ih, [True, True, b_ih is not None])
    db_c = torch.stack(dbc_).sum(0) if b_c is not None else None
    return (dxr, torch.stack(dz_), dc * f[0], dg_ih, db_ih, torch.stack(dghh_).sum(0), torch.stack(dgc_).sum(0),
            db_c)


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
        hs, hT, cT = _LayerNormLSTMLoop.apply(xt, cell.weight_ih[order], ln.weight[order],
                                              None if ln.bias is None else ln.bias[order], state.h, state.c, w_hh,
                                              cell.ln_hh.weight[order], cell.ln_c.weight, cell.ln_c.bias,
                                              (ln.eps, cell.ln_hh.eps, cell.ln_c.eps), last)
    else:
        bias = (cell.bias_ih + cell.bias_hh)[order] if cell.bias else None
        xp = F.linear(xt, cell.weight_ih[order], bias)
        peep = None
        if isinstance(cell, PeepholeLSTMCell):
            peep = torch.stack([cell.weight_co, cell.weight_ci, cell.weight_cf])  # (3, H) in (o, i, f)
        hs, hT, cT = _LSTMLoop.apply(xp, state.h, state.c, w_hh, peep, last)
    y = hs.transpose(0, 1)  # (B, T, H)
    if last is not None:
        y = y * lengths_to_mask(lengths, T, x.device).unsqueeze(-1)
    return y, LSTMState(hT, cT)


__all__ = ["FAST_CELLS", "fastlstm_forward", "final_state", "fold_final", "supports"]
