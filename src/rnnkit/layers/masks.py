"""The one lengths -> mask helper: every layer, pooling, attention, loss and metric uses it."""

from __future__ import annotations

import torch
from torch import Tensor


def lengths_to_mask(lengths: Tensor, T: int, device: torch.device | None = None) -> Tensor:
    """``(B, T)`` bool, True where step ``t < lengths[b]`` (the valid, left-aligned steps)."""
    device = lengths.device if device is None else device
    return torch.arange(T, device=device)[None, :] < lengths.to(device)[:, None]


__all__ = ["lengths_to_mask"]
