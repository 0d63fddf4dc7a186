"""Conv1d front-end for CNN-RNN models: (B, T, F) -> (B, T', C) with lengths updated.

Each of ``num_layers`` blocks is::

    zero positions t >= length  ->  Conv1d(k, stride, 'same'-style padding)  ->  activation
    ->  MaxPool1d(pool, stride=pool)  ->  dropout

Padding is ``k - 1`` zeros in total, ``(k - 1) // 2`` on the left and the rest on the right, so with
``stride == 1`` the convolution keeps the length (odd or even ``k``). Length arithmetic (floor
formulas, exactly what the layers compute)::

    conv: L' = floor((L + (k - 1) - k) / s) + 1 = floor((L - 1) / s) + 1      (= ceil(L / s))
    pool: L' = floor(L / p)

Zeroing the positions past each sequence's length *before every convolution* makes the right
edge of a padded sequence see the same zeros as the sequence alone, so padding never leaks into
valid outputs: a padded batch gives, on its valid positions, exactly what each sequence gives on
its own. Outputs past the new lengths are zero. A sequence shorter than the pooling window would
have no output at all, which is an error (raise ``pool`` or pad the data) rather than a silent 1.

CNN-RNN front-ends: e.g. Sainath et al. 2015, "Convolutional, Long Short-Term Memory, Fully
Connected Deep Neural Networks" (CLDNN); Amodei et al. 2016, "Deep Speech 2".
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.layers.masks import lengths_to_mask

__all__ = ["ACTIVATIONS", "ConvFrontEnd"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "identity": nn.Identity,
}


def _zero_past(x: Tensor, lengths: Tensor) -> Tensor:
    """Zero time steps t >= lengths[b] of x (B, C, T)."""
    return x * lengths_to_mask(lengths, x.shape[-1], x.device).to(x.dtype)[:, None, :]


class ConvFrontEnd(nn.Module):
    """Stack of Conv1d blocks over time: ``forward(x (B, T, F), lengths=None) -> (y (B, T', C), lengths')``.

    Args:
        input_size: F, features per time step.
        channels: C, output channels of every conv layer (``output_size``).
        kernel_size: k, temporal width of each convolution.
        num_layers: number of conv blocks.
        stride: s, temporal stride of each convolution.
        pool: p, max-pool size and stride after each conv (1 = no pooling).
        activation: a key of :data:`ACTIVATIONS`.
        dropout: dropout probability after each block.
    """

    def __init__(
        self,
        input_size: int,
        channels: int,
        kernel_size: int = 3,
        num_layers: int = 1,
        stride: int = 1,
        pool: int = 1,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; valid names: {', '.join(sorted(ACTIVATIONS))}"
            )
        for name, v in (("kernel_size", kernel_size), ("num_layers", num_layers), ("stride", stride),
                        ("pool", pool), ("input_size", input_size), ("channels", channels)):
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.output_size = input_size, channels
        self.kernel_size, self.num_layers, self.stride, self.pool = kernel_size, num_layers, stride, pool
        self.pad_left = (kernel_size - 1) // 2
        self.pad_right = kernel_size - 1 - self.pad_left
        self.convs = nn.ModuleList(
            nn.Conv1d(input_size if i == 0 else channels, channels, kernel_size, stride=stride)
            for i in range(num_layers)
        )
        self.act = ACTIVATIONS[activation]()
        self.pool_layer = nn.MaxPool1d(pool, stride=pool) if pool > 1 else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        """New lengths after all blocks (floor formulas above). Works on any int tensor."""
        for _ in range(self.num_layers):
            lengths = torch.div(lengths - 1, self.stride, rounding_mode="floor") + 1  # conv
            lengths = torch.div(lengths, self.pool, rounding_mode="floor")  # pool
        return lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Return ``(y, lengths_out)``: y (B, T', C), lengths_out (B,) int64 (full length if none given)."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (B, T, {self.input_size}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long, device=x.device)
        else:
            lengths = lengths.to(device=x.device, dtype=torch.long)
            if lengths.shape != (B,) or bool((lengths < 1).any()) or bool((lengths > T).any()):
                raise ValueError(
                    f"lengths must be (B,) = ({B},) with 1 <= lengths <= T = {T}, got {lengths.tolist()}"
                )
        out_len = self.output_lengths(lengths)
        if bool((out_len < 1).any()):
            short = lengths[out_len < 1].tolist()
            raise ValueError(
                f"sequences of length {short} are too short for {self.num_layers} conv layer(s) with "
                f"stride={self.stride}, pool={self.pool}: they would have no output step"
            )
        h = x.transpose(1, 2)  # (B, F, T)
        for conv in self.convs:
            h = _zero_past(h, lengths)
            h = nn.functional.pad(h, (self.pad_left, self.pad_right))  # (B, C_in, T + k - 1)
            h = self.drop(self.pool_layer(self.act(conv(h))))  # (B, C, T')
            lengths = torch.div(lengths - 1, self.stride, rounding_mode="floor") + 1
            lengths = torch.div(lengths, self.pool, rounding_mode="floor")
        h = _zero_past(h, lengths)
        return h.transpose(1, 2), lengths  # (B, T', C), (B,)
