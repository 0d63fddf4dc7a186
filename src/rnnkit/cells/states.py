"""Recurrent states as NamedTuples: one type per cell family, the same for a cell and a Stack.

A cell's fields are ``(B, H)``; a ``Stack``'s are ``(num_layers * num_directions, B, H)``
laid out as torch's ``nn.LSTM`` (layer-major, direction-minor), so states move between them.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class RNNState(NamedTuple):
    """Hidden state of rnn / gru / mingru / minlstm / layernorm_gru."""

    h: Tensor


class LSTMState(NamedTuple):
    """Hidden and cell state of the LSTM family."""

    h: Tensor
    c: Tensor


State = RNNState | LSTMState
