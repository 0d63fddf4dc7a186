"""Recurrent cells, one time step each, written as their equations.

``CELLS`` maps the names used everywhere (configs, CLI, ``Stack(cell=...)``) to the classes.
"""

from __future__ import annotations

from rnnkit.cells.base import CellBase
from rnnkit.cells.gru import GRUCell, GRUResetBeforeCell
from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell, PeepholeLSTMCell
from rnnkit.cells.minimal import MinGRUCell, MinLSTMCell
from rnnkit.cells.rnn import ReLURNNCell, RNNCell
from rnnkit.cells.states import LSTMState, RNNState, State

CELLS: dict[str, type[CellBase]] = {
    "rnn": RNNCell,
    "rnn_relu": ReLURNNCell,
    "lstm": LSTMCell,
    "gru": GRUCell,
    "gru_reset_before": GRUResetBeforeCell,
    "peephole_lstm": PeepholeLSTMCell,
    "layernorm_lstm": LayerNormLSTMCell,
    "layernorm_gru": LayerNormGRUCell,
    "mingru": MinGRUCell,
    "minlstm": MinLSTMCell,
}


def build_cell(name: str, input_size: int, hidden_size: int, bias: bool = True) -> CellBase:
    """Instantiate ``CELLS[name]``; an unknown name lists the valid ones."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; valid cells: {', '.join(CELLS)}")
    return CELLS[name](input_size, hidden_size, bias=bias)


__all__ = [
    "CELLS", "CellBase", "GRUCell", "GRUResetBeforeCell", "LSTMCell", "LSTMState", "LayerNormGRUCell",
    "LayerNormLSTMCell", "MinGRUCell", "MinLSTMCell", "PeepholeLSTMCell", "RNNCell", "RNNState", "ReLURNNCell", "State",
    "build_cell",
]
