"""Gradient flow through time: how much the loss at the last step still hears of the state k steps back.

For a batch of windows ``x (B, T)`` and the loss at the last step ``L_T`` (next-token cross-entropy
of a language model), ``gradient_flow`` returns ``||dL_T / dh_{T-k}||`` for k = 1..T, per example,
with h taken from one layer of the recurrent stack (the top one by default). A plain RNN's norms
fall geometrically with k (vanishing gradients, Bengio et al. 1994; Pascanu et al. 2013); an
LSTM's cell path (the forget gate near 1) and a GRU's update gate keep them up. The numbers come
from one backward pass through the model unrolled with each cell's own ``step`` (``explain.trace``).

``compare_cells`` trains small language models of several cells for a few seconds and measures
each one fresh and trained, with the per-step global gradient norm of the training run (the one
``fit`` logs as ``grad_norm``, and whether clipping fired).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.errors import ConfigError
from rnnkit.explain.trace import unroll
from rnnkit.train.progress import ProgressReporter

log = logging.getLogger(__name__)


@dataclass
class GradientFlow:
    """``norms[b, j]`` = ||dL_T / dh_{T-k}|| of example b at distance ``k[j]`` (k = 1..T)."""

    label: str
    k: np.ndarray  # (T,)
    norms: np.ndarray  # (B, T)

    def quantile(self, q: float) -> np.ndarray:
        return np.quantile(self.norms, q, axis=0)

    @property
    def mean(self) -> np.ndarray:
        return self.norms.mean(0)

    def at(self, k: int) -> float:
        """Mean norm over the batch at distance k."""
        return float(self.mean[int(np.searchsorted(self.k, k))])

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "k": self.k.tolist(), "mean": self.mean.tolist(),
                "q25": self.quantile(0.25).tolist(), "median": self.quantile(0.5).tolist(),
                "q75": self.quantile(0.75).tolist()}


def _lm(model: Any) -> Any:
    model = getattr(model, "model_", model)  # an estimator: its torch module
    if not all(hasattr(model, a) for a in ("embed", "rnn", "head")):
        raise ConfigError(f"gradient flow reads a language model (embedding -> Stack -> head); got "
                          f"{type(model).__name__}")
    return model


def gradient_flow(model: Any, x: Tensor, target: Tensor | None = None, layer: int = -1,
                  label: str = "") -> GradientFlow:
    """||dL_T/dh_{T-k}||, k = 1..T, for token windows ``x (B, T)`` of a language model.

    ``target (B,)`` is the token after each window (None: the model's own most likely one);
    ``L_T`` is the cross-entropy of the last step, summed over the batch (each example's loss
    depends on its own states only, so one backward pass gives every example's gradients).
    ``h_0`` is the initial (zero) state, so k = T is the whole window."""
    model = _lm(model)
    stack = model.rnn
    was_training = model.training
    model.eval()
    try:
        B = x.shape[0]
        dtype, device = model.head.weight.dtype, model.head.weight.device
        idx = layer % stack.num_layers * stack.num_directions  # direction 0 of that layer
        h0 = stack.init_state(B, device, dtype)
        h0 = type(h0)(*(f.clone().requires_grad_(True) for f in h0))
        with torch.enable_grad():
            y, traces = unroll(stack, model.embed(x.to(device)), h0)
            logits = model.head(y[:, -1])  # (B, V)
            if target is None:
                target = logits.argmax(-1).detach()
            loss = F.cross_entropy(logits, target.to(device), reduction="sum")
            tr = traces[idx]
            hs = [tr.initial.h, *(s.h for s in tr.states[:-1])]  # h_0 .. h_{T-1}
            grads = torch.autograd.grad(loss, hs, allow_unused=True)
        norms = torch.stack([torch.zeros(B, device=device) if g is None else g.norm(dim=-1) for g in grads], 1)
    finally:
        model.train(was_training)
    T = x.shape[1]
    return GradientFlow(label, np.arange(1, T + 1), norms.flip(1).double().cpu().numpy())  # column j: k = j + 1


# --------------------------------------------------------------------------- fresh vs trained

class _StepRecorder(ProgressReporter):
    """Collects fit()'s per-step training metrics (log_every=1): loss, grad_norm, clipped."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        self.rows.append({"step": step, **{k: float(metrics[k]) for k in ("loss", "grad_norm", "clipped")
                                           if k in metrics}})


@dataclass
class CellFlow:
    """One cell's curves: fresh and trained gradient flow, and the training run's per-step norms."""

    cell: str
    fresh: GradientFlow
    trained: GradientFlow | None
    training: list[dict[str, float]] = field(default_factory=list)  # step, loss, grad_norm, clipped
    grad_clip: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell, "fresh": self.fresh.to_dict(),
                "trained": None if self.trained is None else self.trained.to_dict(),
                "training": self.training, "grad_clip": self.grad_clip}


def sample_windows(ids: Tensor, batch: int, length: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``batch`` random windows ``(B, length)`` of a token stream and the token after each."""
    if len(ids) < length + 2:
        raise ConfigError(f"the text has {len(ids)} tokens: too short for windows of {length} (lower --steps)")
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, len(ids) - length - 1, (batch,), generator=g)
    idx = start[:, None] + torch.arange(length + 1)
    w = ids[idx]
    return w[:, :-1], w[:, -1]


def compare_cells(text: str, cells: list[str], *, hidden_size: int = 64, embed_dim: int = 32, steps: int = 100,
                  batch: int = 32, train_steps: int = 150, train_seq_len: int = 50, lr: float = 3e-3,
                  grad_clip: float | None = 1.0, seed: int = 0,
                  on_cell: Callable[[str, str], None] | None = None) -> list[CellFlow]:
    """Gradient flow of a fresh and a briefly trained one-layer character LM per cell on ``text``.

    The same windows (``batch`` x ``steps`` characters of the text's last tenth, unseen in
    training) are measured for every model; training uses the first nine tenths for
    ``train_steps`` steps of ``fit`` (0: fresh models only). ``on_cell(cell, phase)`` reports progress."""
    from rnnkit.config import TrainConfig
    from rnnkit.data.charlm import CharTokenizer, StreamBatches
    from rnnkit.models.charlm import CharLM, CharLMConfig
    from rnnkit.train.fit import fit

    tok = CharTokenizer.fit(text)
    ids = tok.encode(text)
    cut = int(len(ids) * 0.9)
    x, target = sample_windows(ids[cut:], batch, steps, seed)
    out = []
    for cell in cells:
        torch.manual_seed(seed)
        model = CharLM(CharLMConfig(cell=cell, hidden_size=hidden_size, num_layers=1, embed_dim=embed_dim,
                                    dropout=0.0), tok.vocab_size, tok)
        if on_cell:
            on_cell(cell, "fresh")
        fresh = gradient_flow(model, x, target, label=f"{cell} fresh")
        trained, rec = None, _StepRecorder()
        if train_steps > 0:
            if on_cell:
                on_cell(cell, "training")
            cfg = TrainConfig(batch_size=batch, seq_len=train_seq_len, lr=lr, grad_clip=grad_clip,
                              max_steps=train_steps, eval_every=train_steps, log_every=1, seed=seed,
                              schedule="none", device="cpu")
            fit(model, StreamBatches(ids[:cut], batch, train_seq_len), cfg, callbacks=[rec])
            trained = gradient_flow(model, x, target, label=f"{cell} trained")
        log.info("%s: ||dL_T/dh_(T-50)|| fresh %.3g%s", cell, fresh.at(min(50, steps)),
                 "" if trained is None else f", trained {trained.at(min(50, steps)):.3g}")
        out.append(CellFlow(cell, fresh, trained, rec.rows, grad_clip))
    return out


__all__ = ["CellFlow", "GradientFlow", "compare_cells", "gradient_flow", "sample_windows"]
