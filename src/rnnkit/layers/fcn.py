"""The fully convolutional branch of LSTM-FCN, for numeric series: ``(B, T, F), lengths -> (B, C)``.

Wang, Yan & Oates 2017, "Time series classification from scratch with deep neural networks" (FCN),
and Karim et al. 2017, "LSTM Fully Convolutional Networks for Time Series Classification", which runs
this branch beside a recurrent one and concatenates the two summaries (their published UCR results
beat 1-NN DTW on most sets). Each block::

    zero steps t >= length -> Conv1d(k, 'same': (k-1)//2 zeros left, the rest right) -> BatchNorm -> ReLU

with channels (128, 256, 128) and kernels (8, 5, 3) by default, then the mean over each sequence's
valid steps. The batch norm counts valid steps only (``MaskedBatchNorm1d``), so padding never changes
a statistic and a padded batch gives each sequence what it gets alone (in eval mode).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnkit.layers.masks import lengths_to_mask


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over ``(B, C, T)`` whose batch statistics use the valid steps (``mask (B, 1, T)``)."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if mask is None or not self.training:
            return super().forward(x)
        n = mask.sum().clamp(min=1)
        mean = (x * mask).sum((0, 2)) / n  # (C,)
        var = (((x - mean[None, :, None]) * mask) ** 2).sum((0, 2)) / n
        with torch.no_grad():  # running statistics as nn.BatchNorm1d keeps them (unbiased variance)
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * n / (n - 1).clamp(min=1))
            self.num_batches_tracked += 1
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


class FCNBranch(nn.Module):
    """Conv blocks with batch norm and ReLU, then masked global average pooling (module docstring)."""

    def __init__(self, input_size: int, channels: Sequence[int] = (128, 256, 128),
                 kernels: Sequence[int] = (8, 5, 3)) -> None:
        super().__init__()
        if len(channels) != len(kernels) or not channels:
            raise ValueError(f"FCN channels {tuple(channels)} and kernels {tuple(kernels)} must have the same "
                             "non-zero length")
        sizes = [input_size, *channels]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, k) for a, b, k in zip(sizes, sizes[1:], kernels))
        self.norms = nn.ModuleList(MaskedBatchNorm1d(c) for c in channels)
        self.kernels = tuple(kernels)
        self.output_size = channels[-1]

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """``x (B, T, F)``, ``lengths (B,)`` -> the mean of the last block over valid steps ``(B, C)``."""
        mask = lengths_to_mask(lengths, x.shape[1], x.device).to(x.dtype)[:, None, :]  # (B, 1, T)
        h = x.transpose(1, 2)  # (B, F, T)
        for conv, norm, k in zip(self.convs, self.norms, self.kernels):
            h = nn.functional.pad(h * mask, ((k - 1) // 2, k - 1 - (k - 1) // 2))
            h = torch.relu(norm(conv(h), mask))  # (B, C, T)
        return (h * mask).sum(-1) / mask.sum(-1)  # (B, C)


__all__ = ["FCNBranch", "MaskedBatchNorm1d"]
