"""Many-to-one sequence classifier: [embedding | raw features] -> [Conv1d] -> Stack -> pooling -> linear.

Reads top to bottom as the architecture::

    x (B, T) token ids    -> Embedding(padding_idx=0)   -> (B, T, E)
    x (B, T, F) features  -> as is                      -> (B, T, F)
                          -> ConvFrontEnd (optional; lengths shrink with pooling)
                          -> Stack(cell, layers, bidirectional, dropout) -> (B, T, H')
                          -> POOLINGS[pooling] (masked by lengths)      -> (B, P)
                          -> dropout -> Linear                          -> logits (B, C)

Pooling (every one honours ``lengths``, so padding never changes a prediction):
``last`` the final state of the top layer (both directions), ``mean`` / ``max`` over valid steps,
``attention`` additive attention with a learned query (Bahdanau et al. 2015; the "attention
pooling" of Yang et al. 2016, "Hierarchical Attention Networks"), whose weights are returned for
plots. Class weights (``balanced`` = n / (C * n_c), as scikit-learn) counter imbalanced data.

``ensemble = N`` trains N independently initialised networks side by side on the same batches, each
on its own cross-entropy, and predicts with the mean of their probabilities (the usual deep
ensemble; on small text sets such as Rotten Tomatoes it buys about a point of accuracy for N times
the compute). Member 0 is the model itself, so an N=1 state dict is unchanged and attention maps
come from member 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.layers.attention import AdditiveAttention
from rnnkit.layers.conv import ConvFrontEnd
from rnnkit.layers.stack import Stack

FRONTENDS = ("none", "conv")
CLASS_WEIGHTS = ("none", "balanced")


@dataclass(frozen=True)
class ClassifierConfig:
    """Model settings of the classify task (``[model]`` in a recipe, ``--set model.key=value``)."""

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
    pooling: str = "last"  # last | mean | max | attention
    attn_size: int = 64
    head_dropout: float = 0.0
    class_weights: str = "none"  # none | balanced
    ensemble: int = 1  # independently trained members; predictions average their probabilities

    def __post_init__(self) -> None:
        if self.ensemble < 1:
            raise ConfigError(f"model.ensemble must be >= 1, got {self.ensemble}")
        for name, value, valid in (("pooling", self.pooling, tuple(POOLINGS)), ("frontend", self.frontend, FRONTENDS),
                                   ("class_weights", self.class_weights, CLASS_WEIGHTS)):
            if value not in valid:
                raise ConfigError(f"model.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


class ClassifierOutput(NamedTuple):
    logits: Tensor  # (B, C)
    attention: Tensor | None  # (B, T') weights over the Stack's time steps, attention pooling only
    lengths: Tensor  # (B,) valid steps after the front-end


def _mask(lengths: Tensor, T: int) -> Tensor:
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)


def pool_last(model: SequenceClassifier, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    D = model.stack.num_directions
    top = h[-D:]  # (D, B, H): forward state at each sequence's end, backward state at t=0
    return top.transpose(0, 1).reshape(h.shape[1], -1), None


def pool_mean(model: SequenceClassifier, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    m = _mask(lengths, y.shape[1]).to(y.dtype)[..., None]
    return (y * m).sum(1) / lengths[:, None].to(y.dtype), None


def pool_max(model: SequenceClassifier, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, None]:
    m = _mask(lengths, y.shape[1])[..., None]
    return y.masked_fill(~m, float("-inf")).amax(1), None


def pool_attention(model: SequenceClassifier, y: Tensor, h: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    query = model.query.expand(y.shape[0], -1)  # (B, A) learned "what is informative" vector
    return model.attention(query, y, lengths=lengths)  # (B, H'), (B, T)


#: name -> (pool(model, outputs, final h, lengths) -> (pooled, weights | None), pooled size / hidden_size)
POOLINGS = {
    "last": (pool_last, "directions"),
    "mean": (pool_mean, "output"),
    "max": (pool_max, "output"),
    "attention": (pool_attention, "output"),
}


class SequenceClassifier(nn.Module):
    """``forward(x, lengths=None) -> ClassifierOutput``; ``loss(batch, state=None)`` for ``fit()``.

    Give ``vocab_size`` for token input (x (B, T) long) or ``input_size`` for numeric input
    (x (B, T, F) float). ``class_weight`` (C,) is a buffer, so it travels with the weights.
    """

    def __init__(self, config: ClassifierConfig, num_classes: int, *, vocab_size: int | None = None,
                 input_size: int | None = None, class_weight: Tensor | None = None) -> None:
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (tokens) or input_size (numeric features)")
        if num_classes < 2:
            raise ConfigError(f"classification needs at least 2 classes in the training data, got {num_classes}")
        c = self.config = config
        self.num_classes = num_classes
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
        pooled = (self.stack.num_directions * c.hidden_size if POOLINGS[c.pooling][1] == "directions"
                  else self.stack.output_size)
        self.head = nn.Sequential(nn.Dropout(c.head_dropout), nn.Linear(pooled, num_classes))
        self.register_buffer("class_weight", torch.ones(num_classes) if class_weight is None
                             else torch.as_tensor(class_weight, dtype=torch.float32))
        self.members = nn.ModuleList(
            SequenceClassifier(replace(c, ensemble=1), num_classes, vocab_size=vocab_size, input_size=input_size,
                               class_weight=class_weight) for _ in range(c.ensemble - 1))

    def _outputs(self, x: Tensor, lengths: Tensor | None) -> list[ClassifierOutput]:
        return [self._single(x, lengths)] + [m._single(x, lengths) for m in self.members]

    @staticmethod
    def _combine(outs: list[ClassifierOutput]) -> ClassifierOutput:
        """Member 0's output with logits = log of the members' mean probability."""
        if len(outs) == 1:
            return outs[0]
        logp = torch.stack([F.log_softmax(o.logits, -1) for o in outs])
        return outs[0]._replace(logits=torch.logsumexp(logp, 0) - math.log(len(outs)))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> ClassifierOutput:
        return self._combine(self._outputs(x, lengths))

    def _single(self, x: Tensor, lengths: Tensor | None = None) -> ClassifierOutput:
        B, T = x.shape[:2]
        lengths = (torch.full((B,), T, dtype=torch.long, device=x.device) if lengths is None
                   else lengths.to(x.device, torch.long))
        h = self.embedding(x) if self.embedding is not None else x  # (B, T, E|F)
        if self.frontend is not None:
            h, lengths = self.frontend(h, lengths)  # (B, T', C)
        y, state = self.stack(h, lengths=lengths)  # (B, T', H')
        pooled, weights = POOLINGS[self.config.pooling][0](self, y, state[0], lengths)
        return ClassifierOutput(self.head(pooled), weights, lengths)

    def loss(self, batch, state=None) -> tuple[Tensor, None, dict[str, Tensor]]:
        """Weighted cross-entropy (summed over ensemble members, each trained on its own loss);
        the reported loss and accuracy are the ensemble's. Metrics are sums over the batch
        (``fit()`` divides by ``count``)."""
        outs = self._outputs(batch.x, batch.lengths)
        train = sum(F.cross_entropy(o.logits, batch.y, weight=self.class_weight) for o in outs)
        out = self._combine(outs)
        loss = F.cross_entropy(out.logits, batch.y, weight=self.class_weight) if len(outs) > 1 else train
        correct = (out.logits.argmax(-1) == batch.y).sum()
        n = torch.tensor(float(batch.y.shape[0]), device=loss.device)
        return train, None, {"loss_sum": loss.detach() * n, "accuracy_sum": correct.float(), "count": n}

    @torch.no_grad()
    def predict_proba(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class probabilities (B, C) in eval mode semantics (call ``model.eval()`` first)."""
        return torch.softmax(self(x, lengths).logits, -1)


def balanced_class_weight(counts: list[int]) -> Tensor:
    """n / (C * n_c) per class (scikit-learn's "balanced"); classes absent from training get 0."""
    c = torch.tensor(counts, dtype=torch.float32)
    return torch.where(c > 0, c.sum() / (len(counts) * c.clamp(min=1)), torch.zeros_like(c))


__all__ = ["CLASS_WEIGHTS", "FRONTENDS", "POOLINGS", "ClassifierConfig", "ClassifierOutput", "SequenceClassifier",
           "balanced_class_weight"]
