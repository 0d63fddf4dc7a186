"""Whole-sequence layers: ``(x, state=None, lengths=None) -> (y, state)``."""

from rnnkit.layers.recurrent import Recurrent, reverse_padded, scan_forward, time_loop
from rnnkit.layers.stack import IMPLS, MERGES, Stack

__all__ = ["IMPLS", "MERGES", "Recurrent", "Stack", "reverse_padded", "scan_forward", "time_loop"]
