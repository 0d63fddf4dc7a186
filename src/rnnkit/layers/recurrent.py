"""Whole sequences through one cell: the one Python time loop, and the scan path of minGRU/minLSTM.

Both honour ``lengths``: a sequence's state stops changing after its own last step (so the
returned state is the state at that step) and its outputs past the end are zero. The reverse
direction starts each sequence at its own last step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.cells import CellBase, State
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell, _MinimalCell
from rnnkit.cells.scan import linear_scan, scan_log
from rnnkit.layers import native
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.regularize import weight_drop, zoneout


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse every sequence within its own length (padding stays in place); an involution."""
    if lengths is None:
        return x.flip(1)
    B, T = x.shape[:2]
    t = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)
    ln = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(t < ln, ln - 1 - t, t)  # (B, T)
    return x.gather(1, idx.unsqueeze(-1).expand_as(x))


class Recurrent(nn.Module):
    """The explicit time loop around any cell: ``(x, state=None, lengths=None) -> (y, state)``.

    The input projection ``x @ W_ih^T`` is hoisted out of the loop (one GEMM for the sequence).
    Options the fused kernels cannot do live here: zoneout (Krueger et al. 2016) on every state
    field, and DropConnect on ``weight_hh`` (one mask per forward, as in AWD-LSTM).
    """

    def __init__(self, cell: CellBase, weight_dropout: float = 0.0, zoneout: float = 0.0) -> None:
        super().__init__()
        self.cell = cell
        self.weight_dropout = weight_dropout
        self.zoneout = zoneout

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None, reverse: bool = False
    ) -> tuple[Tensor, State]:
        return time_loop(self.cell, x, state, lengths, reverse, self.weight_dropout, self.zoneout, self.training)

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Streaming inference: one new input ``x_t (B, I)`` and the carried state, O(1) per step."""
        y, state = self.forward(x_t.unsqueeze(1), state)
        return y[:, 0], state


def time_loop(
    cell: CellBase,
    x: Tensor,
    state: State | None = None,
    lengths: Tensor | None = None,
    reverse: bool = False,
    weight_dropout: float = 0.0,
    zoneout_p: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, State]:
    """The loop itself (a function, so a Stack can run its cells without owning them twice)."""
    B, T, _ = x.shape
    if state is None:
        state = cell.init_state(B, x.device, x.dtype)
    w_hh = None
    if weight_dropout > 0 and cell.weight_hh is not None:
        w_hh = weight_drop(cell.weight_hh, weight_dropout, training)
    xp = cell.input_projection(x).transpose(0, 1)  # (T, B, G*H)
    valid = lengths_to_mask(lengths, T, x.device).t().unsqueeze(-1) if lengths is not None else None  # (T, B, 1)
    outs: list[Tensor] = [x] * T
    for t in range(T - 1, -1, -1) if reverse else range(T):
        h, new = cell.step(xp[t], state, w_hh)
        if zoneout_p > 0:
            new = type(new)(*(zoneout(n, o, zoneout_p, training) for n, o in zip(new, state)))
            h = new.h
        if valid is not None:
            m = valid[t]
            new = type(new)(*(torch.where(m, n, o) for n, o in zip(new, state)))
            h = h * m
        state = new
        outs[t] = h
    return torch.stack(outs, 1), state


#: On CPU the scan path runs in time chunks whose projected gates (B x steps x G*H float32) take
#: about this many bytes, so the ~10 elementwise passes of a chunk (gates, coefficients, scan, and
#: the same again in backward) hit cache instead of DRAM. Measured at B=16 H=256 T=4096 (minGRU,
#: docs/benchmarks.md): unchunked, the per-step cost is ~2.6x that at T=100, where everything fits.
#: Chunking is exact (the state is carried); GPUs keep one chunk, their parallelism is over T.
#: 2/4/8 MiB gave minGRU 4.8/5.3/5.0x and minLSTM 3.2/3.7/3.4x the speed of nn.GRU at T=4096
#: (scripts/bench_scan_chunks.py, one chunk: 2.0x/1.35x); 8 MiB keeps a T=100 batch of 16 in one chunk.
CPU_SCAN_CHUNK_BYTES = 8 << 20


def _scan_chunk_steps(cell: _MinimalCell, x: Tensor) -> int:
    """Steps per chunk: at most the byte budget's worth (16 at least), chunks of equal length."""
    B, T, _ = x.shape
    if x.device.type != "cpu":
        return T
    most = max(16, CPU_SCAN_CHUNK_BYTES // (x.element_size() * B * cell.num_gates * cell.hidden_size))
    n_chunks = -(-T // most)
    return -(-T // n_chunks)


def _scan_chunk(cell: _MinimalCell, x: Tensor, h0: Tensor, valid: Tensor | None, method: str) -> Tensor:
    """States (B, T, H) of one chunk from ``h0``; past a sequence's end the state carries unchanged."""
    xp = cell.input_projection(x)  # (B, T, G*H)
    if method == "log":
        la, lb = cell.log_coefficients(xp)
        if valid is not None:  # past the end: a = 1, b = 0, so h carries unchanged
            la, lb = la.masked_fill(~valid, 0.0), lb.masked_fill(~valid, float("-inf"))
        return scan_log(la, lb, h0)
    a, b = cell.coefficients(xp)
    if valid is not None:
        a, b = a.masked_fill(~valid, 1.0), b.masked_fill(~valid, 0.0)
    return linear_scan(a, b, h0, method)


class _NativeMinScan(torch.autograd.Function):
    """minGRU / minLSTM gate arithmetic and sequential scan fused in C++ (layers/native): one pass
    over a chunk's projected input forward and one backward, where the Python path makes ~10
    (coefficients, scan, their backward). Run per cache-sized chunk like the Python path: in one
    piece the projected input of a long sequence streams from DRAM (docs/benchmarks.md, run H)."""

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, lengths: Tensor | None) -> Tensor:  # type: ignore[override]
        xp = xp.contiguous()
        h = torch.ops.rnnkit_native.min_fwd(xp, h0, lengths)
        ctx.save_for_backward(xp, h0, h, lengths)
        return h

    @staticmethod
    def backward(ctx, dh: Tensor) -> tuple[Tensor, Tensor, None]:  # type: ignore[override]
        xp, h0, h, lengths = ctx.saved_tensors
        dxp, dh0 = torch.ops.rnnkit_native.min_bwd(dh, xp, h0, h, lengths)
        return dxp, dh0, None


def scan_forward(
    cell: _MinimalCell,
    x: Tensor,
    state: State | None = None,
    lengths: Tensor | None = None,
    reverse: bool = False,
    method: str = "sequential",
) -> tuple[Tensor, State]:
    """minGRU / minLSTM over a whole sequence by a linear scan instead of the time loop, on CPU in
    cache-sized time chunks (see ``CPU_SCAN_CHUNK_BYTES``); there the sequential method runs the
    fused native loop per chunk when it is built (``layers/native``)."""
    if reverse:
        y, st = scan_forward(cell, reverse_padded(x, lengths), state, lengths, False, method)
        return reverse_padded(y, lengths), st
    B, T, _ = x.shape
    h = state.h if state is not None else x.new_zeros(B, cell.hidden_size)
    valid = lengths_to_mask(lengths, T, x.device).unsqueeze(-1) if lengths is not None else None  # (B, T, 1)
    fused = method == "sequential" and type(cell) in (MinGRUCell, MinLSTMCell) and native.available_for(x)
    n = _scan_chunk_steps(cell, x)
    # split, not slicing in a loop: the backward of each slice would fill a whole (B, T, I) gradient
    xs = x.split(n, dim=1)
    vs = valid.split(n, dim=1) if valid is not None else [None] * len(xs)
    chunks = []
    for k, (xc, vc) in enumerate(zip(xs, vs, strict=True)):
        if fused:  # gates + scan in C++; chunked too: DRAM-bound at T=4096 in one piece (benchmarks.md)
            lc = None if lengths is None else (lengths.to(x.device) - k * n).clamp(0, xc.shape[1])
            hc = _NativeMinScan.apply(cell.input_projection(xc), h.to(x.dtype), lc)
        else:
            hc = _scan_chunk(cell, xc, h, vc, method)
        chunks.append(hc)
        h = hc[:, -1]  # each sequence's state at its own last step (it carries past the end)
    y = chunks[0] if len(chunks) == 1 else torch.cat(chunks, 1)
    if valid is not None:
        y = y * valid
    return y, cell.state_type(h)
