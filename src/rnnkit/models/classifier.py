"""Many-to-one sequence classifier: [embedding | raw features] -> [Conv1d] -> Stack -> pooling -> linear.

Reads top to bottom as the architecture::

    x -> SequenceEncoder (embedding | features -> [Conv1d] -> Stack)    -> (B, T', H')
      -> POOLINGS[pooling] (masked by lengths)                          -> (B, P)
      -> dropout -> Linear                                              -> logits (B, C)

The encoder and the poolings live in :mod:`rnnkit.models.encoder` (shared with the regressor).
Class weights (``balanced`` = n / (C * n_c), as scikit-learn) counter imbalanced data.

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

from rnnkit.apps.classify_combine import CHOICES as COMBINE_CHOICES
from rnnkit.errors import ConfigError
from rnnkit.models.encoder import FRONTENDS, POOLINGS, EncoderConfig, SequenceEncoder

CLASS_WEIGHTS = ("none", "balanced")


@dataclass(frozen=True)
class ClassifierConfig(EncoderConfig):
    """Model settings of the classify task (``[model]`` in a recipe, ``--set model.key=value``)."""

    class_weights: str = "none"  # none | balanced
    # none | auto: the network, its kind's baseline (texts: TF-IDF + LR, series: 1-NN DTW) or their mean,
    # whichever is most accurate on validation (rnnkit.apps.classify_combine) | network | mean | baseline
    combine: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.combine not in COMBINE_CHOICES:
            raise ConfigError(f"model.combine={self.combine!r} is not valid; choose one of: "
                              f"{', '.join(COMBINE_CHOICES)}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ConfigError(f"model.class_weights={self.class_weights!r} is not valid; choose one of: "
                              f"{', '.join(CLASS_WEIGHTS)}")


class ClassifierOutput(NamedTuple):
    logits: Tensor  # (B, C)
    attention: Tensor | None  # (B, T') weights over the Stack's time steps, attention pooling only
    lengths: Tensor  # (B,) valid steps after the front-end


class SequenceClassifier(SequenceEncoder):
    """``forward(x, lengths=None) -> ClassifierOutput``; ``loss(batch, state=None)`` for ``fit()``.

    Give ``vocab_size`` for token input (x (B, T) long) or ``input_size`` for numeric input
    (x (B, T, F) float). ``class_weight`` (C,) is a buffer, so it travels with the weights.
    """

    def __init__(self, config: ClassifierConfig, num_classes: int, *, vocab_size: int | None = None,
                 input_size: int | None = None, class_weight: Tensor | None = None) -> None:
        if num_classes < 2:
            raise ConfigError(f"classification needs at least 2 classes in the training data, got {num_classes}")
        super().__init__(config, vocab_size=vocab_size, input_size=input_size)
        self.num_classes = num_classes
        self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(self.pooled_size, num_classes))
        self.register_buffer("class_weight", torch.ones(num_classes) if class_weight is None
                             else torch.as_tensor(class_weight, dtype=torch.float32))
        self.members = nn.ModuleList(
            SequenceClassifier(replace(config, ensemble=1), num_classes, vocab_size=vocab_size,
                               input_size=input_size, class_weight=class_weight) for _ in range(config.ensemble - 1))

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
        pooled, weights, lengths = self.summarise(x, lengths)
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
