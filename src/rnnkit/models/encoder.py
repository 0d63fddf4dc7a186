"""The many-to-one / many-to-many sequence encoder shared by the classifier and the regressor.

    x (B, T) token ids    -> Embedding(padding_idx=0)   -> (B, T, E)
    x (B, T, F) features  -> as is                      -> (B, T, F)
                          -> ConvFrontEnd (frontend="conv"; lengths shrink with pooling)
                          -> Stack(cell, layers, bidirectional, dropout) -> (B, T', H')
    pool                  -> POOLINGS[pooling] (masked by lengths)      -> (B, P)
    frontend="fcn"        -> [pooled ; FCNBranch(input)]                -> (B, P + C)

``frontend="fcn"`` is the LSTM-FCN family (Karim et al. 2017): a fully convolutional branch
(``rnnkit.layers.fcn``) reads the same input beside the recurrent one and the two summaries are
concatenated.

Pooling (every one honours ``lengths``, so padding never changes a prediction): ``last`` the final
state of the top layer (both directions), ``mean`` / ``max`` over valid steps, ``attention``
additive attention with a learned query (Bahdanau et al. 2015; the "attention pooling" of Yang et
al. 2016, "Hierarchical Attention Networks"), whose weights are returned for plots.

`SequenceEncoder` is a base class rather than a submodule, so the parameter names of a model built
on it (``stack.*``, ``embedding.*``, ...) are those of the classifier before the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.layers.attention import AdditiveAttention
from rnnkit.layers.conv import ConvFrontEnd
from rnnkit.layers.fcn import FCNBranch
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.stack import Stack

FRONTENDS = ("none", "conv", "fcn")


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder settings shared by the classify and regress tasks (``[model]`` in a recipe)."""

    cell: str = "gru"
    hidden_size: int = 128
    num_layers: int = 1
    bidirectional: bool = False
    merge: str = "concat"
    dropout: float = 0.0  # between recurrent layers
    input_dropout: float = 0.0  # locked dropout on the recurrent input
    impl: str = "auto"
    embed_dim: int = 64  # text only
    frontend: str = "none"  # none | conv
    conv_channels: int = 64
    conv_kernel: int = 5
    conv_layers: int = 1
    conv_pool: int = 1
    fcn_channels: tuple[int, ...] = (128, 256, 128)  # frontend="fcn": the convolutional branch
    fcn_kernels: tuple[int, ...] = (8, 5, 3)
    pooling: str = "last"  # last | mean | max | attention
    attn_size: int = 64
    head_dropout: float = 0.0
    ensemble: int = 1  # independently trained members; predictions average

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "hidden_size": "[1, inf)", "num_layers": "[1, inf)", "dropout": "[0, 1)", "input_dropout": "[0, 1)",
        "embed_dim": "[1, inf)", "conv_channels": "[1, inf)", "conv_kernel": "[1, inf)",
        "conv_layers": "[1, inf)", "conv_pool": "[1, inf)", "fcn_channels": "[1, inf)",
        "fcn_kernels": "[1, inf)", "attn_size": "[1, inf)", "head_dropout": "[0, 1)", "ensemble": "[1, inf)",
    }

    def __post_init__(self) -> None:
        for name, value, valid in (("pooling", self.pooling, tuple(POOLINGS)), ("frontend", self.frontend, FRONTENDS)):
            if value not in valid:
                raise ConfigError(f"model.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


def pool_last(model: SequenceEncoder, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    D = model.stack.num_directions
    top = h[-D:]  # (D, B, H): forward state at each sequence's end, backward state at t=0
    return top.transpose(0, 1).reshape(h.shape[1], -1), None


def pool_mean(model: SequenceEncoder, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    m = lengths_to_mask(lengths, y.shape[1]).to(y.dtype)[..., None]
    return (y * m).sum(1) / lengths[:, None].to(y.dtype), None


def pool_max(model: SequenceEncoder, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    m = lengths_to_mask(lengths, y.shape[1])[..., None]
    return y.masked_fill(~m, float("-inf")).amax(1), None


def pool_attention(model: SequenceEncoder, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    query = model.query.expand(y.shape[0], -1)  # (B, A) learned "what is informative" vector
    return model.attention(query, y, lengths=lengths)  # (B, H'), (B, T)


#: name -> (pool(model, outputs, final h, lengths) -> (pooled, weights | None), pooled size / hidden_size)
POOLINGS = {
    "last": (pool_last, "directions"),
    "mean": (pool_mean, "output"),
    "max": (pool_max, "output"),
    "attention": (pool_attention, "output"),
}


class SequenceEncoder(nn.Module):
    """Embedding or raw features -> optional Conv1d front-end -> Stack, and the pooling over its outputs.

    Give ``vocab_size`` for token input (x (B, T) long) or ``input_size`` for numeric input (x (B, T, F))."""

    def __init__(self, config: EncoderConfig, *, vocab_size: int | None = None, input_size: int | None = None) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (tokens) or input_size (numeric features)")
        c = self.config = config
        self.embedding = nn.Embedding(vocab_size, c.embed_dim, padding_idx=0) if vocab_size else None
        size = c.embed_dim if vocab_size else input_size
        self.frontend = None
        if c.frontend == "conv":
            self.frontend = ConvFrontEnd(size, c.conv_channels, c.conv_kernel, c.conv_layers, pool=c.conv_pool)
            size = c.conv_channels
        try:
            self.stack = Stack(c.cell, size, c.hidden_size, c.num_layers, c.bidirectional, c.merge, c.dropout,
                               c.impl, input_dropout=c.input_dropout)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        if c.pooling == "attention":
            self.query = nn.Parameter(torch.randn(1, c.attn_size) * 0.1)
            self.attention = AdditiveAttention(c.attn_size, self.stack.output_size, c.attn_size)
        self.fcn = FCNBranch(size, c.fcn_channels, c.fcn_kernels) if c.frontend == "fcn" else None

    @property
    def pooled_size(self) -> int:
        c = self.config
        rnn = (self.stack.num_directions * c.hidden_size if POOLINGS[c.pooling][1] == "directions"
               else self.stack.output_size)
        return rnn + (self.fcn.output_size if self.fcn is not None else 0)

    def _inputs(self, x: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        B, T = x.shape[:2]
        lengths = (torch.full((B,), T, dtype=torch.long, device=x.device) if lengths is None
                   else lengths.to(x.device, torch.long))
        return (self.embedding(x) if self.embedding is not None else x), lengths  # (B, T, E|F)

    def _recur(self, h: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.frontend is not None:
            h, lengths = self.frontend(h, lengths)  # (B, T', C)
        y, state = self.stack(h, lengths=lengths)  # (B, T', H')
        return y, state[0], lengths

    def encode(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(outputs (B, T', H'), final h (L*D, B, H), lengths (B,) after the front-end)."""
        return self._recur(*self._inputs(x, lengths))

    def summarise(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor]:
        """(the sequence's summary (B, pooled_size), attention weights or None, lengths after the front-end):
        the pooled recurrent outputs, and beside them the FCN branch's summary when there is one."""
        h, lengths = self._inputs(x, lengths)
        y, last, out_lengths = self._recur(h, lengths)
        pooled, weights = self.pool(y, last, out_lengths)
        if self.fcn is not None:
            pooled = torch.cat([pooled, self.fcn(h, lengths)], -1)  # (B, P + C)
        return pooled, weights, out_lengths

    def pool(self, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor | None]:
        """(pooled (B, P), attention weights (B, T') or None)."""
        return POOLINGS[self.config.pooling][0](self, y, h, lengths)


__all__ = ["FRONTENDS", "POOLINGS", "EncoderConfig", "SequenceEncoder"]
