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


def pool_sorted_batches(order: Sequence[int], lengths: Sequence[int], batch_size: int,
                        shuffle: Any, pool: int = 50) -> list[list[int]]:
    """Batches of indices with little padding: ``order`` (already shuffled) is cut into pools of
    ``pool * batch_size``, each pool sorted by length and cut into batches, and the batches shuffled
    with ``shuffle`` (an in-place list shuffle: ``random.Random.shuffle`` or a numpy generator's)."""
    size, out = pool * batch_size, []
    order = list(order)
    for p0 in range(0, len(order), size):
        part = sorted(order[p0:p0 + size], key=lambda i: lengths[i])
        out += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    shuffle(out)
    return out


__all__ = ["pad", "pool_sorted_batches"]
