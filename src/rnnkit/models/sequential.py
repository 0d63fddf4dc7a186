"""SequentialNet: a chain of layers described by plain JSON, the model an imported Keras file becomes.

::

    x (B, T) ids | (B, T, F) features
      -> layers[0](x, mask) -> (y, mask) -> layers[1] ... -> output (B, C) | (B, T, C)

Each layer is a small module from :data:`rnnkit.models.sequential_layers.LAYERS`, built from one
entry of the description ``{"kind": ..., "args": {...}, "name": ..., "keras_class": ...}``; recurrent
layers are ``rnnkit.layers.Stack``. The description is the ``layers.json`` artifact of a model
directory and the weights live in ``model.safetensors``, so ``rnnkit.tasks.load_run(dir)`` rebuilds it.

``loss(batch)`` follows the last layer's activation, as the Keras losses such a head is trained with:
softmax -> cross-entropy on class indices, sigmoid -> binary cross-entropy, anything else -> mean
squared error; steps the final mask marks as padding do not count (as Keras weights them out).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.errors import ConfigError
from rnnkit.models.sequential_layers import LAYERS, Mask

SPEC_FORMAT_VERSION = 1


@dataclass(frozen=True)
class SequentialNetConfig:
    """``[model]`` of an imported model: the architecture itself is the ``layers.json`` artifact."""

    name: str = ""


def _cross_entropy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per item loss and hits: logits (..., C), y (...) class indices."""
    y = y.reshape(logits.shape[:-1]).long()
    loss = F.cross_entropy(logits.flatten(0, -2), y.flatten(), reduction="none").reshape(y.shape)
    return loss, (logits.argmax(-1) == y).to(logits.dtype)


def _binary_cross_entropy(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Per item loss and hits (mean over the last axis, as Keras): logits (..., K), y 0/1 of the same size."""
    y = y.reshape(logits.shape).to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(-1)
    return loss, ((logits > 0) == (y > 0.5)).to(logits.dtype).mean(-1)


#: last layer's activation -> (per-item loss and hits from the pre-activation output)
HEAD_LOSSES: dict[str, Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]] = {
    "softmax": _cross_entropy,
    "sigmoid": _binary_cross_entropy,
}


def _unpack(batch: Any) -> tuple[Tensor, Tensor]:
    """(x, y) from a tuple/list, a dict or an object with ``x`` and ``y`` (e.g. a NamedTuple batch)."""
    if isinstance(batch, dict):
        return batch["x"], batch["y"]
    if hasattr(batch, "x") and hasattr(batch, "y"):
        return batch.x, batch.y
    return batch[0], batch[1]


class SequentialNet(nn.Module):
    """``forward(x) -> y`` through the described layers; ``loss(batch, state=None)`` for ``fit()``.

    ``x`` is a long tensor of token ids when the first layer is an embedding, else float features.
    A model whose last layer is a Bidirectional with ``merge_mode=None`` returns a tuple of the
    two directions' outputs, as Keras returns a list.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.spec = copy.deepcopy(spec)
        layers = self.spec.get("layers") or []
        if not layers:
            raise ConfigError("a SequentialNet needs at least one layer")
        for i, s in enumerate(layers):
            if s.get("kind") not in LAYERS:
                raise ConfigError(f"layer {i} ({s.get('name')!r}): unknown kind {s.get('kind')!r}; "
                                  f"valid kinds: {', '.join(LAYERS)}")
            if s["args"].get("merge") == "split" and i != len(layers) - 1:
                raise ConfigError(f"layer {i} ({s.get('name')!r}) returns two outputs (merge_mode=None); "
                                  "that is only possible as the last layer")
        self.layers = nn.ModuleList(LAYERS[s["kind"]](**s["args"]) for s in layers)
        self.config = SequentialNetConfig(self.spec.get("name", ""))
        self.takes_ids = layers[0]["kind"] == "embedding"

    # ----------------------------------------------------------------- running
    def run(self, x: Tensor, upto: int | None = None) -> tuple[Tensor | tuple[Tensor, ...], Mask]:
        """``(output, mask)`` after the first ``upto`` layers (all by default)."""
        mask = None
        for layer in self.layers[:upto]:
            x, mask = layer(x, mask)
        return x, mask

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, ...]:
        return self.run(x)[0]

    @torch.no_grad()
    def predict(self, x: Any, batch_size: int = 256) -> np.ndarray | tuple[np.ndarray, ...]:
        """Keras-style ``predict``: array-like in, numpy out, in eval mode and in batches."""
        dev = next(self.parameters(), torch.empty(0)).device
        t = torch.as_tensor(np.asarray(x), dtype=torch.long if self.takes_ids else torch.float32)
        was_training = self.training
        self.eval()
        try:
            outs = [self(t[i:i + batch_size].to(dev)) for i in range(0, len(t), batch_size)]
        finally:
            self.train(was_training)
        if isinstance(outs[0], tuple):
            return tuple(torch.cat(parts).cpu().numpy() for parts in zip(*outs))
        return torch.cat(outs).cpu().numpy()

    # ----------------------------------------------------------------- training
    def loss(self, batch: Any, state: Any = None) -> tuple[Tensor, None, dict[str, Tensor]]:
        """Loss by the last layer's activation (module docstring); metrics are sums over the batch."""
        x, y = _unpack(batch)
        head = self.layers[-1]
        h, mask = self.run(x, upto=len(self.layers) - 1)
        if isinstance(h, tuple) or getattr(head, "merge", None) == "split":
            raise ConfigError("this model has two outputs (Bidirectional merge_mode=None); it has no single loss")
        act = getattr(head, "activation", None)
        if act in HEAD_LOSSES and hasattr(head, "pre_activation"):
            per_item, hits = HEAD_LOSSES[act](head.pre_activation(h), y)  # Dense/Activation keep the mask
        else:
            out, mask = head(h, mask)
            per_item = F.mse_loss(out, y.reshape(out.shape).to(out.dtype), reduction="none")
            per_item, hits = (per_item.mean(-1) if out.dim() > 1 else per_item), None
        w = (mask.to(per_item.dtype) if mask is not None and mask.shape == per_item.shape
             else torch.ones_like(per_item))
        count = w.sum()
        loss = (per_item * w).sum() / count.clamp(min=1)
        metrics = {"loss_sum": loss.detach() * count, "count": count}
        if hits is not None:
            metrics["accuracy_sum"] = (hits * w).sum()
        return loss, None, metrics

    # ----------------------------------------------------------------- description
    def to_dict(self) -> dict[str, Any]:
        """The JSON description (``layers.json``) this model is rebuilt from."""
        return copy.deepcopy(self.spec)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> SequentialNet:
        version = spec.get("format_version", SPEC_FORMAT_VERSION)
        if version > SPEC_FORMAT_VERSION:
            raise ConfigError(f"layers.json format_version {version} is newer than this rnnkit "
                              f"({SPEC_FORMAT_VERSION}); upgrade rnnkit")
        return cls(spec)

    def describe(self) -> str:
        """One line per layer: Keras name and class -> what runs in rnnkit."""
        src = self.spec.get("source", {})
        head = f"SequentialNet {self.spec.get('name', '')!r}" + (
            f" (from {src.get('framework', '?')} {src.get('version', '')}: {src.get('file', '')})" if src else "")
        lines = [head, f"  input: {'token ids' if self.takes_ids else 'float features'}"
                       f" {tuple(self.spec.get('input', {}).get('shape') or ())}"]
        for i, (s, layer) in enumerate(zip(self.spec["layers"], self.layers)):
            lines.append(f"  {i:>2}  {s.get('name', ''):<24} {s.get('keras_class', s['kind']):<22} "
                         f"-> {layer.describe()}")
        n = sum(p.numel() for p in self.parameters())
        lines.append(f"  {n:,} parameters")
        return "\n".join(lines)

    summary = describe

    def explain_backend(self) -> str:
        """Which implementation each recurrent layer runs (``Stack.explain_backend``)."""
        parts = [f"{s.get('name', i)}: {layer.stack.explain_backend()}"
                 for i, (s, layer) in enumerate(zip(self.spec["layers"], self.layers)) if hasattr(layer, "stack")]
        return "\n".join(parts) or "no recurrent layers"


__all__ = ["HEAD_LOSSES", "SPEC_FORMAT_VERSION", "SequentialNet", "SequentialNetConfig"]
