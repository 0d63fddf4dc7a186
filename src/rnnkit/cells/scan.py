"""Solving the linear recurrence h_t = a_t ⊙ h_{t-1} + b_t over a whole sequence.

Three interchangeable methods, all ``(a, b (B, T, H), h0 (B, H)) -> h (B, T, H)``:

- ``sequential``: a time loop of one fused multiply-add per step, with a hand-written backward
  (the adjoint recurrence dh_{t-1} = a_t ⊙ dh_t, then da = dh ⊙ h_{t-1} and db = dh in one
  vectorised op) — autograd would record 3 nodes per step; this records one for the sequence.
  Fastest on CPU, exact.
- ``parallel``: the Hillis–Steele doubling scan in linear space (log2 T passes over the whole
  tensor, Blelloch 1990). No logs, no division: products of a ∈ (0, 1) only underflow to 0, so it
  stays accurate at any length. Wins where kernel launches are cheap relative to the loop (GPU).
- ``log``: Heinsen's log-space scan (Heinsen 2023, used by Feng et al. 2024):
  log h_t = a*_t + logcumsumexp(log b - a*)_t with a* = cumsum(log a). Needs b > 0; loses
  accuracy over long sequences because a* grows without bound in magnitude.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class _SequentialScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:  # type: ignore[override]
        at = a.transpose(0, 1).contiguous()  # (T, B, H): each step reads contiguous memory
        bt = b.transpose(0, 1).contiguous()
        out = torch.empty_like(bt)
        torch.addcmul(bt[0], at[0], h0, out=out[0])
        for t in range(1, at.shape[0]):
            torch.addcmul(bt[t], at[t], out[t - 1], out=out[t])
        ctx.save_for_backward(at, out, h0)
        return out.transpose(0, 1)

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        at, out, h0 = ctx.saved_tensors
        g = grad_out.transpose(0, 1).contiguous()  # (T, B, H)
        db = torch.empty_like(g)
        db[-1] = g[-1]
        for t in range(g.shape[0] - 2, -1, -1):
            torch.addcmul(g[t], at[t + 1], db[t + 1], out=db[t])  # dh_t = g_t + a_{t+1} dh_{t+1}
        h_prev = torch.cat([h0.unsqueeze(0), out[:-1]], 0)
        da = db * h_prev
        dh0 = at[0] * db[0]
        return da.transpose(0, 1), db.transpose(0, 1), dh0


def scan_sequential(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """Time loop with a one-node custom backward (see module doc)."""
    return _SequentialScan.apply(a, b, h0)


def scan_parallel(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """Hillis–Steele doubling scan in linear space: ceil(log2 T) vectorised passes."""
    b = torch.cat([torch.addcmul(b[:, :1], a[:, :1], h0.unsqueeze(1)), b[:, 1:]], 1)  # fold h0 into b_0
    T = a.shape[1]
    d = 1
    while d < T:
        # (A, B)_t <- (A_t A_{t-d}, B_t + A_t B_{t-d}) for t >= d
        b = torch.cat([b[:, :d], torch.addcmul(b[:, d:], a[:, d:], b[:, :-d])], 1)
        if 2 * d < T:
            a = torch.cat([a[:, :d], a[:, d:] * a[:, :-d]], 1)
        d *= 2
    return b


def scan_log(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """Heinsen's log-space scan; takes log coefficients. h0 may have any sign (added linearly)."""
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, H)
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))
    return h + torch.exp(a_star) * h0.unsqueeze(1)


#: method name -> solver taking LINEAR coefficients (the log method converts, see ``linear_scan``)
SCANS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "sequential": scan_sequential,
    "parallel": scan_parallel,
    "log": lambda a, b, h0: scan_log(torch.log(a), torch.log(b), h0),
}


def linear_scan(a: Tensor, b: Tensor, h0: Tensor | None = None, method: str = "sequential") -> Tensor:
    """h_t = a_t ⊙ h_{t-1} + b_t for t = 1..T with h_0 = ``h0`` (zeros when None)."""
    if method not in SCANS:
        raise ValueError(f"unknown scan method {method!r}; valid: {sorted(SCANS)}")
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(f"a and b must both be (B, T, H); got {tuple(a.shape)} and {tuple(b.shape)}")
    if h0 is None:
        h0 = a.new_zeros(a.shape[0], a.shape[2])
    return SCANS[method](a, b, h0)
