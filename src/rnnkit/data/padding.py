"""The one padding helper: variable-length sequences -> a right-padded batch and its lengths.

Built on ``torch.nn.utils.rnn.pad_sequence``; used by every batch builder (classification and
regression inputs and targets, seq2seq sources and targets).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnkit.errors import DataError


def pad(seqs: Sequence[Any], padding_value: float = 0, dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
    """Right-pad sequences (lists of ids, or ``(T, ...)`` arrays / tensors) to the longest one:
    ``(padded (B, T, ...), lengths (B,) long)``. Integer input gives long tensors, floats float32."""
    if not len(seqs):
        raise DataError("cannot batch zero sequences")
    tensors = [s if isinstance(s, Tensor) else torch.as_tensor(np.asarray(s)) for s in seqs]
    if dtype is None:
        dtype = torch.long if not tensors[0].is_floating_point() else torch.float32
    tensors = [t.to(dtype) for t in tensors]
    lengths = torch.tensor([len(t) for t in tensors], dtype=torch.long)
    if bool((lengths < 1).any()):
        raise DataError("cannot batch an empty sequence")
    return pad_sequence(tensors, batch_first=True, padding_value=padding_value), lengths


__all__ = ["pad"]
