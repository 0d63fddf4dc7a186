"""Step a trained Stack's cells one time step at a time and keep what happens inside.

The fast paths (fused kernels, the scan, the native loops) never expose gates or per-step states.
``unroll`` drives the same cells with their own ``step`` (the explicit path, the equations) on the
trained weights, keeping every layer's state tensors (for gradients with respect to ``h_t``) and,
on request, the gate activations of each step. ``GATES`` maps a cell class to a function that
computes the gates of one step from the projected input and the previous state, written as the
cell's equations (gate order i,f,g,o for LSTM and r,z,n for GRU, as torch).

Gradient flow and neuron statistics read the returned tensors; nothing here changes a fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnkit.cells import (
    CellBase,
    GRUCell,
    GRUResetBeforeCell,
    LayerNormGRUCell,
    LayerNormLSTMCell,
    LSTMCell,
    MinGRUCell,
    MinLSTMCell,
    PeepholeLSTMCell,
    ReLURNNCell,
    RNNCell,
    State,
)
from rnnkit.cells.base import recurrent_projection
from rnnkit.cells.minimal import g as min_g
from rnnkit.errors import ConfigError
from rnnkit.layers.stack import MERGES, Stack

GateFn = Callable[[CellBase, Tensor, State], dict[str, Tensor]]


def _lstm(cell: CellBase, xp: Tensor, state: State) -> dict[str, Tensor]:
    hp = cell._hidden(state.h, None) if isinstance(cell, LayerNormLSTMCell) else recurrent_projection(
        cell, state.h, None)
    i, f, g, o = (xp + hp).chunk(4, dim=1)
    return {"input": torch.sigmoid(i), "forget": torch.sigmoid(f), "candidate": torch.tanh(g),
            "output": torch.sigmoid(o)}


def _peephole(cell: PeepholeLSTMCell, xp: Tensor, state: State) -> dict[str, Tensor]:
    i, f, g, o = (xp + recurrent_projection(cell, state.h, None)).chunk(4, dim=1)
    i = torch.sigmoid(i + cell.weight_ci * state.c)
    f = torch.sigmoid(f + cell.weight_cf * state.c)
    c = f * state.c + i * torch.tanh(g)
    return {"input": i, "forget": f, "candidate": torch.tanh(g), "output": torch.sigmoid(o + cell.weight_co * c)}


def _gru(cell: CellBase, xp: Tensor, state: State) -> dict[str, Tensor]:
    hp = cell._hidden(state.h, None) if isinstance(cell, LayerNormGRUCell) else recurrent_projection(
        cell, state.h, None)
    xr, xz, xn = xp.chunk(3, dim=1)
    hr, hz, hn = hp.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    return {"reset": r, "update": torch.sigmoid(xz + hz), "candidate": torch.tanh(xn + r * hn)}


def _gru_reset_before(cell: GRUResetBeforeCell, xp: Tensor, state: State) -> dict[str, Tensor]:
    H = cell.hidden_size
    w_rz, w_n = cell.weight_hh.split([2 * H, H])
    b_rz, b_n = (None, None) if cell.bias_hh is None else cell.bias_hh.split([2 * H, H])
    xr, xz, xn = xp.chunk(3, dim=1)
    hr, hz = torch.nn.functional.linear(state.h, w_rz, b_rz).chunk(2, dim=1)
    r = torch.sigmoid(xr + hr)
    n = torch.tanh(xn + torch.nn.functional.linear(r * state.h, w_n, b_n))
    return {"reset": r, "update": torch.sigmoid(xz + hz), "candidate": n}


def _mingru(cell: MinGRUCell, xp: Tensor, state: State) -> dict[str, Tensor]:
    kz, kh = xp.chunk(2, dim=1)
    return {"update": torch.sigmoid(kz), "candidate": min_g(kh)}


def _minlstm(cell: MinLSTMCell, xp: Tensor, state: State) -> dict[str, Tensor]:
    kf, ki, kh = xp.chunk(3, dim=1)
    f, i = torch.sigmoid(kf), torch.sigmoid(ki)
    return {"forget": f / (f + i), "input": i / (f + i), "candidate": min_g(kh)}


def _rnn(cell: RNNCell, xp: Tensor, state: State) -> dict[str, Tensor]:
    return {}  # no gates: the state is the whole story


#: cell class -> gates of one step from (cell, projected input (B, G*H), previous state) -> {name: (B, H)}
GATES: dict[type[CellBase], GateFn] = {
    RNNCell: _rnn, ReLURNNCell: _rnn, LSTMCell: _lstm, LayerNormLSTMCell: _lstm, PeepholeLSTMCell: _peephole,
    GRUCell: _gru, LayerNormGRUCell: _gru, GRUResetBeforeCell: _gru_reset_before, MinGRUCell: _mingru,
    MinLSTMCell: _minlstm,
}


@dataclass
class LayerTrace:
    """One (layer, direction) of an unrolled Stack: the state tensors of every step, in time order.

    ``states[t]`` is the state after step t (the very tensors the next step reads, so gradients
    with respect to them are gradients with respect to h_t / c_t); ``gates[name]`` is (B, T, H)."""

    layer: int
    direction: int
    initial: State  # the state before the first step (h_0), a tensor of the same graph
    states: list[State]
    gates: dict[str, Tensor] = field(default_factory=dict)

    def field(self, name: str) -> Tensor:
        """One state field over time, ``(B, T, H)`` (``"h"`` or ``"c"``), in time order."""
        return torch.stack([getattr(s, name) for s in self.states], 1)


def unroll(stack: Stack, x: Tensor, state: State | None = None, gates: bool = False
           ) -> tuple[Tensor, list[LayerTrace]]:
    """Run ``stack`` on ``x (B, T, I)`` with each cell's own ``step``, one time step at a time.

    Returns the top output ``(B, T, output_size)`` (equal to the Stack's own on the explicit impl,
    in eval mode) and one :class:`LayerTrace` per layer and direction. Padding (``lengths``) is not
    supported: an explanation reads one text or a batch of equal-length windows."""
    cls = type(stack.cells[0])
    if cls not in GATES:
        raise ConfigError(f"cell {stack.cell_name!r} has no gate trace; traced cells: "
                          f"{', '.join(sorted(c.__name__ for c in GATES))}")
    if stack.zoneout > 0:
        raise ConfigError("a Stack with zoneout mixes states outside the cell equations; it is not traced")
    D, traces = stack.num_directions, []
    for layer in range(stack.num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            cell = stack.cells[k]
            st = cell.init_state(x.shape[0], x.device, x.dtype) if state is None else type(state)(
                *(s[k] for s in state))
            xin = x.flip(1) if d == 1 else x
            xp = cell.input_projection(xin)  # (B, T, G*H): hoisted, as the time loop does
            initial, states, steps = st, [], []
            for t in range(x.shape[1]):
                if gates:
                    steps.append(GATES[cls](cell, xp[:, t], st))
                _, st = cell.step(xp[:, t], st)
                states.append(st)
            if d == 1:
                states = states[::-1]
            tr = LayerTrace(layer, d, initial, states)
            if gates and steps:
                tr.gates = {name: torch.stack([s[name] for s in steps], 1) for name in steps[0]}
                if d == 1:
                    tr.gates = {n: v.flip(1) for n, v in tr.gates.items()}
            traces.append(tr)
            outs.append(tr.field("h"))
        x = MERGES[stack.merge][0](*outs) if D == 2 else outs[0]
    return x, traces


__all__ = ["GATES", "LayerTrace", "unroll"]
