"""The layers of a :class:`~rnnkit.models.sequential.SequentialNet`, each ``forward(x, mask) -> (y, mask)``.

They compute what the Keras layer of the same role computes at inference, masks included, so a
converted Keras model gives Keras's numbers (``rnnkit.interop.keras`` builds them; docs/keras-import.md):

* ``mask`` is ``(B, T)`` bool (True = a real step) or None. A layer that supports masking in Keras
  passes it on (Dense, Dropout, Activation, return_sequences RNNs), one that does not drops it
  (Conv1D, pooling), ``Embedding(mask_zero=True)`` and ``Masking`` create it.
* Recurrent layers are one ``rnnkit.layers.Stack``. Keras skips masked steps wherever they are
  (pre-padding, holes): its state carries over them. ``run_masked`` gives the Stack exactly that by
  moving each row's real steps to the front (stable, so in order), running with ``lengths`` and
  moving the outputs back.
* ``padding="same"`` follows Keras: total pad ``max((ceil(T/s) - 1) * s + k_eff - T, 0)`` (``k_eff - 1``
  when s = 1), ``total // 2`` on the left. Pooling pads as Keras's torch backend does: implicitly
  (max ignores it, average excludes it) when both sides are equal, by edge replication otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.layers.stack import MERGES, Stack

Mask = Tensor | None

#: Keras activation name -> the function (softmax over the last axis, as Keras's default)
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": lambda x: x,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, -1),
    "elu": F.elu,
    "selu": F.selu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "silu": F.silu,
    "swish": F.silu,
    "gelu": F.gelu,  # Keras's default approximate=False is the exact erf form, as torch's
    "exponential": torch.exp,
}


def keras_same_padding(T: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(left, right) zeros Keras's ``padding="same"`` adds to a length-T axis (torch backend)."""
    k_eff = (k - 1) * dilation + 1
    total = k_eff - 1 if stride == 1 else max(0, (-(-T // stride) - 1) * stride + k_eff - T)
    return total // 2, total - total // 2


def run_masked(stack: Stack, x: Tensor, mask: Mask) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``stack`` over the real steps of each row only (Keras's masked loop): y is zero at masked
    steps; the final state of a row without any real step is zero."""
    if mask is None:
        return stack(x)
    B, T, _ = x.shape
    lengths = mask.sum(1)  # (B,)
    left_aligned = bool((mask == (torch.arange(T, device=x.device) < lengths[:, None])).all())
    if not left_aligned:  # real steps first, in order (a stable sort of "is padding")
        order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices  # (B, T)
        x = x.gather(1, order[..., None].expand_as(x))
    y, state = stack(x, lengths=lengths.clamp(min=1))  # a row with no real step runs one fake step
    if not left_aligned:
        back = order.argsort(1)  # (B, T) inverse permutation
        y = y.gather(1, back[..., None].expand(B, T, y.shape[2]))
    y = y * mask[..., None]  # (B, T, H')
    keep = (lengths > 0).to(y.dtype)[None, :, None]  # (1, B, 1)
    return y, type(state)(*(s * keep for s in state))


def carry_forward(y: Tensor, mask: Tensor) -> Tensor:
    """At each masked step repeat the output of the latest real step (zero before the first one):
    Keras's RNN outputs with ``zero_output_for_mask=False``."""
    t = torch.arange(y.shape[1], device=y.device)
    src = torch.where(mask, t, -1).cummax(1).values  # (B, T) latest real step at or before t
    y = y.gather(1, src.clamp(min=0)[..., None].expand_as(y))
    return y * (src >= 0)[..., None]


class RecurrentLayer(nn.Module):
    """Keras SimpleRNN / LSTM / GRU, or Bidirectional around one: a one-layer ``Stack``.

    ``merge="split"`` is Keras's ``merge_mode=None``: the two directions come out as a tuple.
    """

    def __init__(self, cell: str, input_size: int, units: int, bias: bool = True, bidirectional: bool = False,
                 merge: str = "concat", go_backwards: bool = False, return_sequences: bool = False,
                 zero_output_for_mask: bool = False, impl: str = "auto") -> None:
        super().__init__()
        if bidirectional and go_backwards:
            raise ValueError("a bidirectional layer cannot also go backwards")
        self.cell, self.units, self.bidirectional, self.merge = cell, units, bidirectional, merge
        self.go_backwards, self.return_sequences = go_backwards, return_sequences
        self.zero_output_for_mask = zero_output_for_mask
        self.stack = Stack(cell, input_size, units, 1, bidirectional, "concat" if merge == "split" else merge,
                           impl=impl, bias=bias)
        self.output_size = 2 * units if merge == "split" else self.stack.output_size

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor | tuple[Tensor, Tensor], Mask]:
        out_mask = mask if self.return_sequences else None  # Keras passes the input mask on, unflipped
        if self.bidirectional:
            y, state = run_masked(self.stack, x, mask)  # (B, T, 2H | H)
            if not self.return_sequences:  # each direction's last output = its final state
                h = state[0]  # (2, B, H)
                y = torch.cat([h[0], h[1]], -1) if self.merge == "split" else MERGES[self.merge][0](h[0], h[1])
            return (tuple(y.split(self.units, -1)) if self.merge == "split" else y), out_mask
        if self.go_backwards:  # Keras returns the outputs in processing (reversed) order
            x, mask = x.flip(1), (None if mask is None else mask.flip(1))
        y, _ = run_masked(self.stack, x, mask)  # (B, T, H)
        if mask is not None and not self.zero_output_for_mask:
            y = carry_forward(y, mask)
        return (y if self.return_sequences else y[:, -1]), out_mask

    def describe(self) -> str:
        how = (f"bidirectional merge={self.merge}" if self.bidirectional
               else "go_backwards" if self.go_backwards else "forward")
        seq = "sequences" if self.return_sequences else "last output"
        plan = ", ".join(p[0] for p in self.stack.plan)
        return f"Stack({self.cell}, {self.units} units, {how}) -> {seq} [{plan}]"


class EmbeddingLayer(nn.Module):
    """Token ids (B, T) -> vectors (B, T, E); ``mask_zero`` makes id 0 padding (the mask)."""

    def __init__(self, vocab_size: int, dim: int, mask_zero: bool = False) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.mask_zero = mask_zero

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        return self.embedding(x.long()), (x != 0 if self.mask_zero else None)

    def describe(self) -> str:
        return f"Embedding({self.embedding.num_embeddings}, {self.embedding.embedding_dim})" + (
            ", id 0 = padding (mask)" if self.mask_zero else "")


class MaskingLayer(nn.Module):
    """Keras Masking: a step whose features all equal ``mask_value`` is masked and zeroed."""

    def __init__(self, mask_value: float = 0.0) -> None:
        super().__init__()
        self.mask_value = mask_value

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        keep = (x != self.mask_value).any(-1)  # (B, T)
        return x * keep[..., None].to(x.dtype), keep

    def describe(self) -> str:
        return f"Masking(steps equal to {self.mask_value})"


class DenseLayer(nn.Module):
    """Keras Dense on the last axis (per step on 3-D input); the mask passes through."""

    def __init__(self, in_features: int, units: int, bias: bool = True, activation: str = "linear") -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, units, bias=bias)
        self.activation = activation

    def pre_activation(self, x: Tensor) -> Tensor:
        """The logits, for a numerically stable loss."""
        return self.linear(x)

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        return ACTIVATIONS[self.activation](self.linear(x)), mask

    def describe(self) -> str:
        return f"Linear({self.linear.in_features} -> {self.linear.out_features}), {self.activation}"


class ActivationLayer(nn.Module):
    """Keras Activation; the mask passes through."""

    def __init__(self, activation: str = "linear") -> None:
        super().__init__()
        self.activation = activation

    def pre_activation(self, x: Tensor) -> Tensor:
        return x

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        return ACTIVATIONS[self.activation](x), mask

    def describe(self) -> str:
        return self.activation


class IdentityLayer(nn.Module):
    """Dropout, SpatialDropout1D, GaussianNoise, ...: the identity at inference; the mask passes through."""

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        return x, mask

    def describe(self) -> str:
        return "identity at inference"


class Conv1DLayer(nn.Module):
    """Keras Conv1D (channels_last), padding valid | same | causal; Keras drops the mask here."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 groups: int = 1, padding: str = "valid", bias: bool = True, activation: str = "linear") -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, filters, kernel_size, stride, dilation=dilation, groups=groups, bias=bias)
        self.padding, self.activation = padding, activation

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        k, s, d = self.conv.kernel_size[0], self.conv.stride[0], self.conv.dilation[0]
        if self.padding == "same":  # depends on T when s > 1
            pad = keras_same_padding(x.shape[1], k, s, d)
        else:
            pad = ((k - 1) * d, 0) if self.padding == "causal" else (0, 0)
        y = self.conv(F.pad(x.transpose(1, 2), pad))  # (B, C, T')
        return ACTIVATIONS[self.activation](y.transpose(1, 2)), None

    def describe(self) -> str:
        c = self.conv
        return (f"Conv1d({c.in_channels} -> {c.out_channels}, k={c.kernel_size[0]}, stride={c.stride[0]}, "
                f"dilation={c.dilation[0]}, {self.padding}), {self.activation}")


class Pool1DLayer(nn.Module):
    """Keras MaxPooling1D / AveragePooling1D (valid | same); Keras drops the mask here."""

    def __init__(self, op: str, pool_size: int, stride: int, padding: str = "valid") -> None:
        super().__init__()
        if op not in ("max", "avg"):
            raise ValueError(f"unknown pooling {op!r}; valid: max, avg")
        self.op, self.pool_size, self.stride, self.padding = op, pool_size, stride, padding

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        h, pad = x.transpose(1, 2), 0  # (B, C, T)
        if self.padding == "same":
            left, right = keras_same_padding(x.shape[1], self.pool_size, self.stride)
            if left == right:
                pad = left
            else:  # Keras's torch backend replicates the edge here, and the average counts it
                h = F.pad(h, (left, right), mode="replicate")
        y = (F.max_pool1d(h, self.pool_size, self.stride, pad) if self.op == "max"
             else F.avg_pool1d(h, self.pool_size, self.stride, pad, count_include_pad=False))
        return y.transpose(1, 2), None

    def describe(self) -> str:
        return f"{self.op} pool {self.pool_size}, stride {self.stride}, {self.padding}"


class GlobalPoolLayer(nn.Module):
    """Keras GlobalAveragePooling1D (mean over real steps) / GlobalMaxPooling1D (ignores the mask, as Keras)."""

    def __init__(self, op: str, keepdims: bool = False) -> None:
        super().__init__()
        if op not in ("max", "avg"):
            raise ValueError(f"unknown pooling {op!r}; valid: max, avg")
        self.op, self.keepdims = op, keepdims

    def forward(self, x: Tensor, mask: Mask) -> tuple[Tensor, Mask]:
        if self.op == "max":
            return x.amax(1, keepdim=self.keepdims), None
        if mask is None:
            return x.mean(1, keepdim=self.keepdims), None
        m = mask[..., None].to(x.dtype)  # (B, T, 1)
        return (x * m).sum(1, keepdim=self.keepdims) / m.sum(1, keepdim=self.keepdims), None

    def describe(self) -> str:
        return f"global {self.op} over time" + (" (real steps only)" if self.op == "avg" else "")


#: layer kind (in layers.json) -> module class, built with the spec's "args"
LAYERS: dict[str, type[nn.Module]] = {
    "recurrent": RecurrentLayer,
    "embedding": EmbeddingLayer,
    "masking": MaskingLayer,
    "dense": DenseLayer,
    "activation": ActivationLayer,
    "identity": IdentityLayer,
    "conv1d": Conv1DLayer,
    "pool1d": Pool1DLayer,
    "global_pool": GlobalPoolLayer,
}

__all__ = ["ACTIVATIONS", "LAYERS", "carry_forward", "keras_same_padding", "run_masked"]
