"""Single-step inference through a unidirectional stack: state in, state out, no autograd.

Generation, greedy / beam decoding and recursive forecasts feed one token (or value) at a time.
Through ``Stack.forward`` with T=1 each step pays for a whole-sequence call: the projection of a
one-step sequence, the per-layer loop with its state splitting, and on the fused path torch's
``nn.LSTM`` kernel set up for a sequence every call (2.7 ms for a 2x512 LSTM step at batch 1 on
this project's machine, against ~0.5 ms for the GEMV that is the step's real work; see
docs/benchmarks.md, "Generation step latency").

``StepRunner`` is built once per decoding call from the layers' cells. For LSTM and Elman RNN
cells it packs each layer's weights as one contiguous ``[W_ih | W_hh]`` matrix ``(G*H, I+H)`` with
the two biases summed, so a layer's step is ONE ``addmm`` on ``[x_t, h]`` plus one fused
elementwise pass; a GRU keeps its two matrices (the candidate gate needs ``W_hn h + b_hn`` on its
own) and makes two. On the CPU, in float32/float64, the whole stack's step is one call of the
native C++ operator (``layers/native/step.cpp``); elsewhere, or without the native extension,
the same packed arithmetic runs as torch ops. Every other cell (peephole and layer-norm LSTM,
layer-norm GRU, GRU reset-before, minGRU / minLSTM, subclasses) steps through its own
``cell.step`` under ``no_grad``. Results equal the sequence forward to float rounding
(tests/test_step.py).

Inference semantics: dropout of every kind is off (as in ``eval()``), zoneout takes its eval form
(the expectation). A bidirectional stack cannot be stepped (its backward direction needs the
future) and is refused, as is a stack in training mode with active dropout (its forward would not
be reproduced). The packed weights are a copy: a runner re-packs when a parameter's version
changes (an optimiser step, ``load_state_dict``); callers build a fresh runner per decoding call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells import CellBase, GRUCell, LSTMCell, ReLURNNCell, RNNCell, State
from rnnkit.cells.gru import gru_update
from rnnkit.layers import native

#: exact cell type -> packed kind (subclasses may change a step, so they take the generic path)
PACKED: dict[type[CellBase], str] = {LSTMCell: "lstm", GRUCell: "gru", RNNCell: "rnn", ReLURNNCell: "rnn_relu"}
_ops = torch.ops.rnnkit_native  # resolved on first call, after ``native.load()`` registered them


def not_steppable(stack: torch.nn.Module) -> str | None:
    """Why ``StepRunner.from_stack(stack)`` would refuse ``stack``, or None when it can step it."""
    if getattr(stack, "bidirectional", False):
        return "a bidirectional stack cannot be stepped one input at a time (its backward direction reads the future)"
    if stack.training and _stochastic(stack):
        return "the stack is in training mode with dropout; single steps compute inference (call .eval())"
    return None


def _stochastic(stack: torch.nn.Module) -> bool:
    """Whether the stack's training-mode forward draws random masks (so eval semantics differ)."""
    between = stack.dropout if stack.num_layers > 1 else 0.0
    return any(p > 0 for p in (between, stack.input_drop.p, stack.output_drop.p, stack.weight_dropout, stack.zoneout))


def _tracing() -> bool:
    """True while torch traces or exports (ONNX, torch.export, dynamo): the native operator and the
    weight snapshot must stay out of a traced graph, so callers step through the module instead."""
    return bool(torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling())


def use_runner(module: torch.nn.Module) -> bool:
    """Whether a model should step ``module`` (a Stack, or any module for the mode checks) through
    a ``StepRunner`` now: no gradients wanted, not tracing, and a steppable stack. Models call this
    so a gradient-taking caller (saliency, training) keeps the autograd path."""
    return not torch.is_grad_enabled() and not _tracing() and (
        not hasattr(module, "bidirectional") or not_steppable(module) is None)


class StepRunner:
    """One step of the layers ``cells`` (layer-major, one direction) under ``no_grad``.

    ``runner(x_t (B, I), state) -> (y_t (B, H), state)`` with ``state`` as a ``Stack``'s
    (fields ``(num_layers, B, H)``, or None for zeros); ``runner.layers(x_t, [state per layer])``
    takes and returns one ``(B, H)``-field state per layer (a seq2seq decoder's cell list).
    """

    def __init__(self, cells: Sequence[CellBase], zoneout: float = 0.0) -> None:
        if not cells:
            raise ValueError("StepRunner needs at least one cell")
        kinds = {type(c) for c in cells}
        if len(kinds) != 1:
            raise ValueError(f"StepRunner steps layers of one cell type, got {sorted(k.__name__ for k in kinds)}")
        for below, above in zip(cells, cells[1:]):
            if above.input_size != below.hidden_size:
                raise ValueError(f"layer input {above.input_size} != the layer below's hidden size "
                                 f"{below.hidden_size}: not a unidirectional stack")
        self.cells = list(cells)
        self.hidden_size = cells[0].hidden_size
        self.state_type = cells[0].state_type
        self.zoneout = zoneout
        self.kind = PACKED.get(type(cells[0]), "cell")
        self._params = [p for c in self.cells for p in c.parameters(recurse=False)]
        self._packed: dict[str, list[Tensor]] = {}
        self._versions: list[int] = []

    @classmethod
    def from_stack(cls, stack: torch.nn.Module) -> StepRunner:
        """The runner of a ``Stack``'s layers (refused, with the reason, when it cannot step)."""
        why = not_steppable(stack)
        if why:
            raise ValueError(f"cannot step this Stack: {why}")
        return cls(list(stack.cells), zoneout=stack.zoneout)

    # ----------------------------------------------------------------- weights
    def _weights(self) -> dict[str, list[Tensor]]:
        """The packed weights, re-packed when any parameter changed in place since the last pack."""
        versions = [p._version for p in self._params]
        if versions != self._versions or not self._packed:
            with torch.no_grad():
                self._packed = self._pack()
            self._versions = versions
        return self._packed

    def _pack(self) -> dict[str, list[Tensor]]:
        if self.kind == "cell":
            return {}
        out: dict[str, list[Tensor]] = {"w": [], "b": [], "w_ih": [], "w_hh": [], "b_ih": [], "b_hh": []}
        for c in self.cells:
            zeros = c.weight_ih.new_zeros(c.weight_ih.shape[0])
            b_ih = c.bias_ih.detach() if c.bias else zeros
            b_hh = c.bias_hh.detach() if c.bias else zeros
            if self.kind == "gru":  # views of the parameters themselves: nothing to copy
                out["w_ih"].append(c.weight_ih.detach().contiguous())
                out["w_hh"].append(c.weight_hh.detach().contiguous())
                out["b_ih"].append(b_ih.contiguous())
                out["b_hh"].append(b_hh.contiguous())
            else:
                out["w"].append(torch.cat([c.weight_ih.detach(), c.weight_hh.detach()], 1).contiguous())
                out["b"].append((b_ih + b_hh).contiguous())
        return out

    def backend(self, x: Tensor | None = None) -> str:
        """Which path a step takes (for ``x``'s device and dtype, or the parameters')."""
        probe = self._params[0] if x is None else x
        if self.kind == "cell":
            return f"{type(self.cells[0]).__name__}.step per layer under no_grad (no packed kernel for this cell)"
        if self.zoneout == 0 and native.available_for(probe):
            return f"native C++ step ({self.kind}: packed weights, one call per step for all layers)"
        why = native.status() if probe.device.type == "cpu" else "CPU only"
        return f"packed {self.kind} step in torch ops (native: {why})"

    # ----------------------------------------------------------------- steps
    @torch.no_grad()
    def __call__(self, x: Tensor, state: State | tuple | Tensor | None = None) -> tuple[Tensor, State]:
        L, B, H = len(self.cells), x.shape[0], self.hidden_size
        if x.dim() != 2 or x.shape[1] != self.cells[0].input_size:
            raise ValueError(f"a step takes x of shape (batch, {self.cells[0].input_size}), got {tuple(x.shape)}")
        if state is None:
            z = x.new_zeros(L, B, H)
            state = self.state_type(*([z] * len(self.state_type._fields)))
        elif isinstance(state, Tensor):
            state = self.state_type(state)
        else:
            state = self.state_type(*state)
        for name, s in zip(self.state_type._fields, state):
            if tuple(s.shape) != (L, B, H):
                raise ValueError(f"state.{name} must have shape (num_layers, batch, hidden) = {(L, B, H)}, "
                                 f"got {tuple(s.shape)}")
        if self.kind != "cell" and self.zoneout == 0 and native.available_for(x):
            return self._native(x.contiguous(), state)
        return self._python(x, state)

    def layers(self, x: Tensor, states: Sequence[State]) -> tuple[Tensor, list[State]]:
        """One step with per-layer states (each field ``(B, H)``) in and out."""
        stacked = self.state_type(*(torch.stack(f) for f in zip(*states)))
        y, new = self(x, stacked)
        return y, [self.state_type(*(f[i] for f in new)) for i in range(len(self.cells))]

    def _native(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        w = self._weights()
        if self.kind == "lstm":
            h, c = _ops.step_lstm(x, state.h.contiguous(), state.c.contiguous(), w["w"], w["b"])
            return h[-1], self.state_type(h, c)
        if self.kind == "gru":
            h = _ops.step_gru(x, state.h.contiguous(), w["w_ih"], w["w_hh"], w["b_ih"], w["b_hh"])
        else:
            h = _ops.step_rnn(x, state.h.contiguous(), w["w"], w["b"], self.kind == "rnn_relu")
        return h[-1], self.state_type(h)

    def _python(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """The same step in torch ops (other devices, no native extension, zoneout) or, for cells
        without a packed kernel, through each cell's own ``step``."""
        w = self._weights()
        news: list[State] = []
        for k, cell in enumerate(self.cells):
            old = self.state_type(*(f[k] for f in state))
            if self.kind == "cell":
                x, new = cell.step(cell.input_projection(x), old)
            elif self.kind == "lstm":
                i, f, g, o = torch.addmm(w["b"][k], torch.cat([x, old.h], 1), w["w"][k].t()).chunk(4, 1)
                c = torch.sigmoid(f) * old.c + torch.sigmoid(i) * torch.tanh(g)
                x = torch.sigmoid(o) * torch.tanh(c)
                new = self.state_type(x, c)
            elif self.kind == "gru":
                x = gru_update(F.linear(x, w["w_ih"][k], w["b_ih"][k]), F.linear(old.h, w["w_hh"][k], w["b_hh"][k]),
                               old.h)
                new = self.state_type(x)
            else:
                pre = torch.addmm(w["b"][k], torch.cat([x, old.h], 1), w["w"][k].t())
                x = torch.relu(pre) if self.kind == "rnn_relu" else torch.tanh(pre)
                new = self.state_type(x)
            if self.zoneout > 0:  # eval form: the expectation of the random keep
                p = self.zoneout
                new = self.state_type(*(p * o_ + (1.0 - p) * n_ for n_, o_ in zip(new, old)))
                x = new.h
            news.append(new)
        return x, self.state_type(*(torch.stack(f) for f in zip(*news)))


__all__ = ["PACKED", "StepRunner", "not_steppable", "use_runner"]
