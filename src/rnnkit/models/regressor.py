"""Sequence regressor: many-to-one (one value per sequence) or many-to-many (one value per step).

Reads top to bottom as the architecture::

    x -> SequenceEncoder (embedding | features -> [Conv1d] -> Stack)   -> y (B, T', H')
    many-to-one:  POOLINGS[pooling](y, lengths) -> dropout -> Linear    -> (B, K)
    many-to-many: dropout -> Linear on every step                       -> (B, T, K), padding masked

Targets are standardised per output on the training part (the task keeps their mean and std), so
the losses below are on that scale: ``mse``, ``mae`` or ``huber`` (smooth L1, delta 1: one standard
deviation). ``ensemble = N`` trains N members side by side, each on its own loss, and predicts
their mean. A many-to-many model needs every input step to keep its place, so a front-end that
pools (``conv_pool > 1``) is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.models.encoder import EncoderConfig, SequenceEncoder

#: name -> elementwise loss (no reduction)
LOSSES = {
    "mse": lambda p, y: (p - y) ** 2,
    "mae": lambda p, y: (p - y).abs(),
    "huber": lambda p, y: F.smooth_l1_loss(p, y, reduction="none", beta=1.0),
}


@dataclass(frozen=True)
class RegressorConfig(EncoderConfig):
    """Model settings of the regress task (``[model]`` in a recipe, ``--set model.key=value``)."""

    pooling: str = "mean"  # many-to-one only
    loss: str = "mse"  # mse | mae | huber (on standardised targets)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss={self.loss!r} is not valid; choose one of: {', '.join(LOSSES)}")


class RegressorOutput(NamedTuple):
    pred: Tensor  # (B, K) many-to-one, (B, T, K) many-to-many
    attention: Tensor | None  # (B, T') attention pooling only
    lengths: Tensor  # (B,) valid steps after the front-end


class SequenceRegressor(SequenceEncoder):
    """``forward(x, lengths=None) -> RegressorOutput``; ``loss(batch, state=None)`` for ``fit()``."""

    def __init__(self, config: RegressorConfig, n_outputs: int, *, per_step: bool = False,
                 vocab_size: int | None = None, input_size: int | None = None) -> None:
        if per_step and config.frontend == "conv" and config.conv_pool > 1:
            raise ConfigError("a per-step regressor needs every step: model.conv_pool must be 1")
        if per_step and config.frontend == "fcn":
            raise ConfigError("model.frontend=fcn summarises whole sequences; a per-step regressor needs "
                              "frontend=none or conv")
        super().__init__(config, vocab_size=vocab_size, input_size=input_size)
        self.n_outputs, self.per_step = n_outputs, per_step
        width = self.stack.output_size if per_step else self.pooled_size
        self.head = nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(width, n_outputs))
        self.members = nn.ModuleList(
            SequenceRegressor(replace(config, ensemble=1), n_outputs, per_step=per_step, vocab_size=vocab_size,
                              input_size=input_size) for _ in range(config.ensemble - 1))

    def _single(self, x: Tensor, lengths: Tensor | None) -> RegressorOutput:
        if self.per_step:
            y, _, lengths = self.encode(x, lengths)
            return RegressorOutput(self.head(y), None, lengths)  # (B, T, K)
        pooled, weights, lengths = self.summarise(x, lengths)
        return RegressorOutput(self.head(pooled), weights, lengths)  # (B, K)

    def _outputs(self, x: Tensor, lengths: Tensor | None) -> list[RegressorOutput]:
        return [self._single(x, lengths)] + [m._single(x, lengths) for m in self.members]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> RegressorOutput:
        outs = self._outputs(x, lengths)
        if len(outs) == 1:
            return outs[0]
        return outs[0]._replace(pred=torch.stack([o.pred for o in outs]).mean(0))

    def _elementwise(self, pred: Tensor, y: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(summed loss, number of target values), padding steps excluded."""
        err = LOSSES[self.config.loss](pred, y)
        if not self.per_step:
            return err.sum(), torch.tensor(float(err.numel()), device=err.device)
        m = lengths_to_mask(lengths, y.shape[1]).to(err.dtype)[..., None]  # (B, T, 1)
        return (err * m).sum(), m.sum() * err.shape[-1]

    def loss(self, batch, state=None) -> tuple[Tensor, None, dict[str, Tensor]]:
        """Mean loss over every target value (summed over ensemble members, each on its own);
        the reported ``loss_sum`` / ``sq_err_sum`` are the ensemble's (``fit()`` divides by ``count``)."""
        outs = self._outputs(batch.x, batch.lengths)
        n = None
        train = 0.0
        for o in outs:
            total, n = self._elementwise(o.pred, batch.y, batch.lengths)
            train = train + total / n
        pred = torch.stack([o.pred for o in outs]).mean(0) if len(outs) > 1 else outs[0].pred
        loss_sum, n = self._elementwise(pred.detach(), batch.y, batch.lengths)
        sq = ((pred.detach() - batch.y) ** 2)
        if self.per_step:
            sq = sq * lengths_to_mask(batch.lengths, batch.y.shape[1]).to(sq.dtype)[..., None]
        return train, None, {"loss_sum": loss_sum, "sq_err_sum": sq.sum(), "count": n}


__all__ = ["LOSSES", "RegressorConfig", "RegressorOutput", "SequenceRegressor"]
