"""Stack: layers x directions of one cell type, the implementation chosen per layer and explained.

``impl`` is one of ``IMPLS``. "auto" takes, per layer (the rule, measured in docs/benchmarks.md):

- GRU, RNN (tanh / relu): on CPU where the native loops are built, the one-node native loop
  (``fastgru``) when the call is in its winning range (``NATIVE_FIRST``: batch x hidden at most
  16384 in inference / 32768 (GRU) or 65536 (RNN) when a gradient is needed, and enough steps to
  amortise its per-call set-up: T >= 4 in training, T >= 8 (GRU) / 32 (RNN) in inference);
  torch's fused kernel otherwise, and on other devices (CUDA: cuDNN). Measured: in training the
  native GRU is 1.4x faster than nn.GRU at B=64 H=256 and 6x at B=1 T=1000 (torch's unfused CPU
  backward is dispatch-bound), but 0.6-0.9x in inference at batch x hidden = 65536 and 0.7x at
  T=1. Decided per call from the input;
- LSTM: torch's fused kernel (oneDNN is as fast as the native loop on CPU);
- peephole / layer-norm LSTM, layer-norm GRU: the one-node loop (``fastlstm`` / ``fastgru``);
- minGRU / minLSTM: the linear scan; anything else (and zoneout): the explicit time loop.

Asking "fused", "scan" or "fastloop" for something they cannot do is an error, never a silent
fallback. When every layer is fused and the options allow it, the whole stack runs as ONE kernel
call (no wrapper overhead).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.cells import CELLS, CellBase, GRUCell, ReLURNNCell, RNNCell, State, build_cell
from rnnkit.cells.minimal import _MinimalCell
from rnnkit.cells.scan import SCANS
from rnnkit.layers import fastgru, fastlstm, native
from rnnkit.layers.fused import fused_available, fused_forward
from rnnkit.layers.recurrent import reverse_padded, scan_forward, time_loop
from rnnkit.layers.regularize import LockedDropout

IMPLS = ("auto", "fused", "explicit", "scan", "fastloop")
#: cell class -> its one-node sequence loop (impl "fastloop"): the LSTM family and the GRU / RNN family
FASTLOOPS: dict[type[CellBase], Callable[..., tuple[Tensor, State]]] = {
    **{c: fastlstm.fastlstm_forward for c in fastlstm.FAST_CELLS},
    **{c: fastgru.fastgru_forward for c in fastgru.FAST_CELLS},
}
FASTLOOP_CELLS = tuple(FASTLOOPS)


@dataclass(frozen=True)
class NativeRange:
    """Where the native loop beats torch's kernel on CPU, for inference and for training (a
    gradient is needed): batch x hidden_size at most ``max_bh``, time steps at least ``min_t``."""

    max_bh: tuple[int, int] = (16384, 32768)  # (inference, training)
    min_t: tuple[int, int] = (8, 4)

    def holds(self, batch: int, hidden: int, steps: int, grad: bool) -> bool:
        return batch * hidden <= self.max_bh[grad] and steps >= self.min_t[grad]

    def describe(self) -> str:
        return (f"batch x hidden <= {self.max_bh[0]} and T >= {self.min_t[0]} in inference, "
                f"<= {self.max_bh[1]} and T >= {self.min_t[1]} in training")


#: cells with a fused kernel whose "auto" impl is nevertheless the native loop on CPU, in the range
#: the benchmarks found it faster (docs/benchmarks.md, "Native GRU and RNN loops")
NATIVE_FIRST: dict[type[CellBase], NativeRange] = {
    GRUCell: NativeRange(),
    RNNCell: NativeRange(max_bh=(16384, 65536), min_t=(32, 4)),
    ReLURNNCell: NativeRange(max_bh=(16384, 65536), min_t=(32, 4)),
}
DROPOUT_MODES = ("standard", "locked")
#: merge name -> (combine forward and backward outputs, output size as a multiple of hidden_size)
MERGES: dict[str, tuple[Callable[[Tensor, Tensor], Tensor], int]] = {
    "concat": (lambda f, b: torch.cat([f, b], -1), 2),
    "sum": (lambda f, b: f + b, 1),
    "mean": (lambda f, b: (f + b) * 0.5, 1),
    "mul": (lambda f, b: f * b, 1),
}
_TORCH_KEY = re.compile(r"^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$")


def _choose(choice: str, cell: CellBase, name: str, zoneout: float) -> tuple[str, str]:
    """(impl, reason) for one layer; raises when an explicit choice cannot be honoured."""
    no_fused = (
        f"cell {name!r} has no fused kernel (fused: rnn, rnn_relu, lstm, gru)" if cell.fused_kernel is None
        else "zoneout needs the per-step loop" if zoneout > 0 else ""
    )
    no_scan = (
        f"cell {name!r} is not a linear recurrence (scan: mingru, minlstm)" if not isinstance(cell, _MinimalCell)
        else "zoneout needs the per-step loop" if zoneout > 0 else ""
    )
    no_fast = (
        f"cell {name!r} has no one-node loop (fastloop: {', '.join(_fastloop_names())})"
        if type(cell) not in FASTLOOPS else "zoneout needs the per-step loop" if zoneout > 0 else ""
    )
    if choice == "fastloop" and no_fast:
        raise ValueError(f"impl='fastloop' is not possible: {no_fast}; use impl='auto' or 'explicit'")
    if choice == "fused" and no_fused:
        raise ValueError(f"impl='fused' is not possible: {no_fused}; use impl='auto' or 'explicit'")
    if choice == "scan" and no_scan:
        raise ValueError(f"impl='scan' is not possible: {no_scan}; use impl='auto' or 'explicit'")
    if choice == "explicit":
        return "explicit", "asked for explicitly"
    if choice == "auto" and not no_fused and not no_fast and type(cell) in NATIVE_FIRST:
        return "fused", (f"on CPU in the measured range: the native one-node loop where built (faster than "
                         f"torch's {cell.fused_kernel} kernel there, docs/benchmarks.md); else torch fused kernel "
                         f"({fused_available()})")
    if choice == "fused" or (choice == "auto" and not no_fused):
        return "fused", f"torch fused kernel {cell.fused_kernel} ({fused_available()})"
    if choice == "scan" or (choice == "auto" and not no_scan):
        return "scan", "linear recurrence solved by a scan"
    if choice == "fastloop" or (choice == "auto" and not no_fast):
        return "fastloop", ("the explicit cell's equations as one custom-autograd node per sequence "
                            f"(layers/{FASTLOOPS[type(cell)].__module__.rsplit('.', 1)[-1]}.py); "
                            f"not fused: {no_fused or 'asked for fastloop'}")
    return "explicit", f"not fused: {no_fused}" + (f"; not fastloop: {no_fast}" if type(cell) in FASTLOOPS else "")


def _fastloop_names() -> list[str]:
    return [n for n, c in CELLS.items() if c in FASTLOOPS]


class Stack(nn.Module):
    """``num_layers`` recurrent layers of ``cell``, optionally bidirectional.

    ``forward(x (B, T, input_size), state=None, lengths=None) -> (y (B, T, output_size), state)``;
    state fields are ``(num_layers * num_directions, B, hidden_size)`` as torch's ``nn.LSTM``.

    Regularisation: ``dropout`` between layers ("standard" or "locked" = variational masks shared
    over time), ``input_dropout`` / ``output_dropout`` (locked), ``weight_dropout`` (DropConnect on
    ``weight_hh``, kept on the fused path), ``zoneout`` (explicit path only).
    """

    def __init__(
        self, cell: str = "lstm", input_size: int = 1, hidden_size: int = 1, num_layers: int = 1,
        bidirectional: bool = False, merge: str = "concat", dropout: float = 0.0, impl: str = "auto", *,
        bias: bool = True, dropout_mode: str = "standard", input_dropout: float = 0.0,
        output_dropout: float = 0.0, weight_dropout: float = 0.0, zoneout: float = 0.0, scan_method: str = "auto",
    ) -> None:
        super().__init__()
        for what, value, valid in (("cell", cell, tuple(CELLS)), ("merge", merge, tuple(MERGES)),
                                   ("impl", impl, IMPLS), ("dropout_mode", dropout_mode, DROPOUT_MODES),
                                   ("scan_method", scan_method, ("auto", *SCANS))):
            if value not in valid:
                raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if dropout > 0 and num_layers == 1:  # as nn.LSTM warns: the dropout sits between layers only
            warnings.warn(f"dropout={dropout} has no effect with num_layers=1 (it applies between layers); "
                          "use input_dropout / output_dropout for a single layer", UserWarning, stacklevel=2)
        self.cell_name, self.input_size, self.hidden_size = cell, input_size, hidden_size
        self.num_layers, self.bidirectional, self.merge, self.impl = num_layers, bidirectional, merge, impl
        self.dropout, self.dropout_mode, self.weight_dropout = dropout, dropout_mode, weight_dropout
        self.zoneout, self.scan_method = zoneout, scan_method
        self.num_directions = 2 if bidirectional else 1
        layer_out = hidden_size * (MERGES[merge][1] if bidirectional else 1)
        self.output_size = layer_out
        self.cells = nn.ModuleList(
            build_cell(cell, input_size if layer == 0 else layer_out, hidden_size, bias)
            for layer in range(num_layers) for _ in range(self.num_directions)
        )
        if weight_dropout > 0 and self.cells[0].weight_hh is None:
            raise ValueError(f"weight_dropout needs recurrent weights; cell {cell!r} has none")
        self.plan = [_choose(impl, self.cells[0], cell, zoneout) for _ in range(num_layers)]
        #: "auto" on a NATIVE_FIRST cell: its "fused" layers run the native loop where that can run
        self.native_first = impl == "auto" and type(self.cells[0]) in NATIVE_FIRST
        self.between = LockedDropout(dropout) if dropout_mode == "locked" else nn.Dropout(dropout)
        self.input_drop, self.output_drop = LockedDropout(input_dropout), LockedDropout(output_dropout)
        # torch's kernel concatenates directions and applies standard dropout between layers
        self.one_call = (all(p[0] == "fused" for p in self.plan) and (not bidirectional or merge == "concat")
                         and (num_layers == 1 or dropout_mode == "standard"))
        self._register_load_state_dict_pre_hook(self._from_torch_names)

    # ----------------------------------------------------------------- forward
    def forward(self, x: Tensor, state: State | tuple | Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, State]:
        lengths = self._check(x, lengths)
        state = self._check_state(state, x)
        x = self.input_drop(x)
        impls = self.impls_for(x)
        if self.one_call and impls[0] == "fused":
            y, new = fused_forward(self.cells, x, state, lengths, self.num_layers, self.bidirectional,
                                   self.dropout if self.num_layers > 1 else 0.0, self.training, self.weight_dropout)
            return self.output_drop(y), new
        D, finals = self.num_directions, []
        for layer, impl in enumerate(impls):
            outs = []
            for d in range(D):
                k = layer * D + d
                st = None if state is None else type(state)(*(s[k] for s in state))
                y, st = self._run(impl, k, x, st, lengths, reverse=d == 1)
                outs.append(y)
                finals.append(st)
            x = MERGES[self.merge][0](*outs) if D == 2 else outs[0]
            if layer < self.num_layers - 1 and self.dropout > 0:
                x = self.between(x)
        new = type(finals[0])(*(torch.stack(f, 0) for f in zip(*finals)))
        return self.output_drop(x), new

    def _run(self, impl: str, k: int, x: Tensor, st: State | None, lengths: Tensor | None,
             reverse: bool) -> tuple[Tensor, State]:
        if impl == "fused":
            if reverse:  # a single reverse direction = bidirectional kernel is wasteful; flip instead
                y, s = self._fused_one(k, reverse_padded(x, lengths), st, lengths)
                return reverse_padded(y, lengths), s
            return self._fused_one(k, x, st, lengths)
        if impl == "scan":
            return scan_forward(self.cells[k], x, st, lengths, reverse, self.resolved_scan_method(x.device))
        if impl == "fastloop":
            cell = self.cells[k]
            return FASTLOOPS[type(cell)](cell, x, st, lengths, reverse, self.weight_dropout, self.training)
        return time_loop(self.cells[k], x, st, lengths, reverse, self.weight_dropout, self.zoneout, self.training)

    def _fused_one(self, k: int, x: Tensor, st: State | None, lengths: Tensor | None) -> tuple[Tensor, State]:
        st1 = None if st is None else type(st)(*(s.unsqueeze(0) for s in st))
        y, s = fused_forward([self.cells[k]], x, st1, lengths, 1, False, 0.0, self.training, self.weight_dropout)
        return y, type(s)(*(f.squeeze(0) for f in s))

    def impls_for(self, x: Tensor) -> list[str]:
        """The implementation each layer runs for the input ``x``: the plan, with the native-first rule
        applied (a NATIVE_FIRST cell's "fused" layers run "fastloop" where the native loops can run on
        ``x`` — CPU, float32/64, built, not switched off — and the call is in the cell's NativeRange)."""
        if self.native_first and native.available_for(x):
            grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
            if NATIVE_FIRST[type(self.cells[0])].holds(x.shape[0], self.hidden_size, x.shape[1], grad):
                return ["fastloop" if p == "fused" else p for p, _ in self.plan]
        return [p for p, _ in self.plan]

    def resolved_scan_method(self, device: torch.device) -> str:
        """"auto" -> the sequential loop on CPU (fewest passes over memory), the parallel scan on GPU."""
        if self.scan_method != "auto":
            return self.scan_method
        return "parallel" if device.type == "cuda" else "sequential"

    # ----------------------------------------------------------------- checks
    def _check(self, x: Tensor, lengths: Tensor | None) -> Tensor | None:
        if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[2] != self.input_size:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"Stack expects x of shape (batch, time, {self.input_size}), got {got}")
        if lengths is None:
            return None
        B, T = x.shape[:2]
        if not isinstance(lengths, Tensor):
            lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.shape[0] != B or lengths.is_floating_point():
            raise ValueError(f"lengths must be a 1-D integer tensor of {B} entries (one per sequence), "
                             f"got shape {tuple(lengths.shape)} dtype {lengths.dtype}")
        lo, hi = int(lengths.min()), int(lengths.max())
        if lo < 1 or hi > T:
            raise ValueError(f"lengths must lie in [1, {T}] (the time dimension of x), got min {lo} max {hi}")
        return lengths.long()

    def _check_state(self, state: State | tuple | Tensor | None, x: Tensor) -> State | None:
        if state is None:
            return None
        kind = self.cells[0].state_type
        if isinstance(state, Tensor):
            state = (state,)
        if len(state) != len(kind._fields):
            raise ValueError(f"state for cell {self.cell_name!r} must be {kind.__name__}{kind._fields}, "
                             f"got {len(state)} tensors")
        want = (self.num_layers * self.num_directions, x.shape[0], self.hidden_size)
        for name, s in zip(kind._fields, state):
            if tuple(s.shape) != want:
                raise ValueError(f"state.{name} must have shape (num_layers*num_directions, batch, hidden) = "
                                 f"{want}, got {tuple(s.shape)}")
        return kind(*state)

    # ----------------------------------------------------------------- reports and torch interop
    def explain_backend(self) -> str:
        """Per layer: which implementation runs and why (which option kept it off the fused path)."""
        head = (f"Stack(cell={self.cell_name}, layers={self.num_layers}, "
                f"{'bidirectional merge=' + self.merge if self.bidirectional else 'unidirectional'}, impl={self.impl})")
        lines = [head]
        native_cpu = self.native_first and native.available_for(torch.empty(0))  # builds on first call
        for layer, (impl, why) in enumerate(self.plan):
            extra = f", method {self.scan_method} (auto: sequential on CPU, parallel on CUDA)" if impl == "scan" else ""
            if impl == "fastloop":  # builds the native loops on first call (once per machine)
                extra = f"; on CPU: {native.status()}, elsewhere the Python loops"
            elif impl == "fused" and self.native_first:
                rng = NATIVE_FIRST[type(self.cells[0])].describe()
                impl = f"fastloop on CPU for {rng}, else fused" if native_cpu else "fused"
                extra = f"; on CPU: {native.status()}"
            lines.append(f"  layer {layer}: {impl} — {why}{extra}")
        if self.one_call:
            lines.append(f"  {'when fused: ' if native_cpu else ''}all layers run as one fused kernel call")
        elif all(p[0] == "fused" for p in self.plan):
            lines.append("  layers run as separate kernel calls: merge/dropout_mode between layers is not torch's")
        return "\n".join(lines)

    def init_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> State:
        """Zero state with the stack's shape."""
        z = torch.zeros(self.num_layers * self.num_directions, batch, self.hidden_size, device=device, dtype=dtype)
        kind = self.cells[0].state_type
        return kind(*([z] * len(kind._fields)))

    def _from_torch_names(self, sd: dict, prefix: str, *args, **kwargs) -> None:
        """Accept ``nn.RNN/LSTM/GRU`` names (``weight_ih_l1_reverse``) in ``load_state_dict``."""
        for key in [k for k in sd if k.startswith(prefix)]:
            m = _TORCH_KEY.match(key[len(prefix):])
            if m:
                k = int(m.group(2)) * self.num_directions + (1 if m.group(3) else 0)
                sd[f"{prefix}cells.{k}.{m.group(1)}"] = sd.pop(key)

    def load_torch_state_dict(self, sd: dict[str, Tensor]) -> None:
        """Load the state_dict of a ``torch.nn.RNN/LSTM/GRU`` of the same shape (strict)."""
        self.load_state_dict(dict(sd), strict=True)


__all__ = ["IMPLS", "MERGES", "Stack"]
