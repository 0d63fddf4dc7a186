"""Which time steps an output depends on: integrated gradients, with occlusion as a cross-check.

Integrated gradients (Sundararajan, Taly & Yan 2017) attribute ``f(x) - f(b)`` to the input steps:

    IG_i = (x_i - b_i) * ∫_0^1 ∂f/∂x_i (b + α (x - b)) dα

and the attributions add up to ``f(x) - f(b)`` (completeness) when the integral is exact. The
integral is taken by Gauss-Legendre quadrature over α (all nodes in one batched forward and
backward); the node count doubles until completeness holds within ``tol`` (1%) or ``max_steps``.

Baselines: token input is integrated in embedding space from the all-padding input (the padding
embedding is the zero vector; an ensemble's members each scale their own embedding), numeric
input from zeros (the training mean after scaling). ``f`` is the target class's logit for a
classifier and the point forecast (mean over the horizon, or one horizon step) for a forecaster.
Occlusion replaces one step at a time by the baseline and reports ``f(x) - f(x without step t)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.errors import ConfigError

#: f along the path at coefficients alpha (m,) -> (outputs (m,), [(x - baseline, the path tensor f read)])
PathFn = Callable[[Tensor], tuple[Tensor, list[tuple[Tensor, Tensor]]]]


@dataclass
class Attribution:
    """Attributions of one input: ``per_step (T,)`` (summed over features), ``per_feature (T, F)``."""

    labels: list[str]  # one per time step (characters, words or step indices)
    per_step: np.ndarray
    per_feature: np.ndarray
    output: float  # f(x)
    baseline_output: float  # f(baseline)
    steps: int  # quadrature nodes used
    target: str  # what f is
    occlusion: np.ndarray | None = None  # (T,) f(x) - f(x with step t replaced by the baseline)

    @property
    def completeness_error(self) -> float:
        """|Σ attributions - (f(x) - f(b))| / |f(x) - f(b)|."""
        diff = self.output - self.baseline_output
        return abs(float(self.per_step.sum()) - diff) / max(abs(diff), 1e-12)

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "per_step": self.per_step.tolist(), "output": self.output,
                "baseline_output": self.baseline_output, "steps": self.steps, "target": self.target,
                "completeness_error": self.completeness_error,
                "occlusion": None if self.occlusion is None else self.occlusion.tolist()}


def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of n-point Gauss-Legendre quadrature on [0, 1]."""
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, w / 2


def integrate(path: PathFn, steps: int, chunk: int = 32) -> tuple[Tensor, float, float]:
    """(attributions shaped as the input, f(x), f(b)) for ``path``; nodes in chunks of ``chunk``."""
    nodes, weights = gauss_legendre(steps)
    total = None
    for s in range(0, steps, chunk):
        a = torch.tensor(nodes[s:s + chunk])
        w = torch.tensor(weights[s:s + chunk])
        with torch.enable_grad():
            out, pairs = path(a)
            grads = torch.autograd.grad(out.sum(), [p for _, p in pairs])
        part = sum((d * g * w.to(g).view(-1, *[1] * (g.dim() - 1))).sum(0) for (d, _), g in zip(pairs, grads))
        total = part if total is None else total + part
    with torch.no_grad():
        ends, _ = path(torch.tensor([1.0, 0.0]))
    return total.detach(), float(ends[0]), float(ends[1])


def integrated_gradients(path: PathFn, steps: int = 32, tol: float = 0.01, max_steps: int = 512
                         ) -> tuple[Tensor, float, float, int]:
    """Integrate with ``steps`` nodes, doubling until completeness is within ``tol`` (or ``max_steps``)."""
    while True:
        attr, fx, fb = integrate(path, steps)
        err = abs(float(attr.sum()) - (fx - fb)) / max(abs(fx - fb), 1e-12)
        if err <= tol or steps >= max_steps:
            return attr, fx, fb, steps
        steps *= 2


# --------------------------------------------------------------------------- models

def _scaled_embeddings(modules: list[torch.nn.Module], alpha: Tensor, sink: list[tuple[Tensor, Tensor]]) -> list:
    """Forward hooks that scale each embedding's output by alpha (m,) per batch row (the path from
    the zero = padding embedding) and record (difference to the baseline, path tensor)."""
    def hook(_mod: torch.nn.Module, _inp: Any, out: Tensor) -> Tensor:
        scaled = out * alpha.to(out).view(-1, 1, 1)
        sink.append((out.detach(), scaled))
        return scaled

    return [m.register_forward_hook(hook) for m in modules]


def classifier_saliency(model: Any, x: Tensor, target: int | None = None, labels: list[str] | None = None,
                        steps: int = 32, occlusion: bool = True) -> Attribution:
    """Integrated gradients of a sequence classifier's target-class logit for one example
    ``x (T,)`` token ids or ``(T, F)`` features (no padding); ``target`` None: the predicted class."""
    model = getattr(model, "model_", model)
    if not hasattr(model, "num_classes"):
        raise ConfigError(f"classifier saliency reads a classify model, got {type(model).__name__}")
    model.eval()
    tokens = getattr(model, "embedding", None) is not None
    x = x.to(next(model.parameters()).device)
    T = x.shape[0]
    lengths = torch.tensor([T])
    with torch.no_grad():
        logits = model(x[None], lengths).logits[0]
    target = int(logits.argmax()) if target is None else int(target)

    def f(batch: Tensor) -> Tensor:
        return model(batch, lengths.expand(batch.shape[0])).logits[:, target]

    if tokens:
        embs = [model.embedding, *(m.embedding for m in model.members)]

        def path(alpha: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
            sink: list[tuple[Tensor, Tensor]] = []
            handles = _scaled_embeddings(embs, alpha, sink)
            try:
                out = f(x[None].expand(len(alpha), -1))
            finally:
                for h in handles:
                    h.remove()
            return out, sink
    else:
        def path(alpha: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
            xs = (alpha.to(x).view(-1, 1, 1) * x[None]).requires_grad_(True)  # baseline zeros
            return f(xs), [(x[None].expand_as(xs), xs)]

    attr, fx, fb, used = integrated_gradients(path, steps)
    occ = None
    if occlusion:
        with torch.no_grad():
            eye = torch.eye(T, dtype=torch.bool, device=x.device)
            xo = x[None].expand(T, *x.shape).clone()
            xo[eye] = 0  # the padding id / the zero feature vector at step t of copy t
            occ = (fx - f(xo)).cpu().numpy()
    per_feature = attr.reshape(T, -1).double().cpu().numpy()
    return Attribution(labels or [str(t) for t in range(T)], per_feature.sum(1), per_feature, fx, fb, used,
                       f"logit of class {target}", occ)


def forecaster_saliency(model: Any, batch: dict[str, Tensor], horizon_step: int | None = None, steps: int = 32,
                        occlusion: bool = True) -> Attribution:
    """Integrated gradients of a forecaster's point forecast (scaled units) for one window
    ``batch`` (``x (1, C, n_in)``, ``xf``, ``sid``): the mean over the horizon, or step
    ``horizon_step`` (1-based). Baseline: the all-zero context (the training mean after scaling)."""
    model = getattr(model, "model_", model)
    if not hasattr(model, "member_outputs"):
        raise ConfigError(f"forecaster saliency reads a forecast model, got {type(model).__name__}")
    model.eval()
    x = batch["x"][:1]
    C = x.shape[1]

    def f(xs: Tensor) -> Tensor:
        m = xs.shape[0]
        b = {"x": xs, "xf": batch["xf"][:1].expand(m, -1, -1), "sid": batch["sid"][:1].expand(m)}
        point = torch.stack([model.point(o) for o, _ in model.member_outputs(b)]).mean(0)  # (m, H)
        return point[:, horizon_step - 1] if horizon_step else point.mean(1)

    def path(alpha: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        xs = (alpha.to(x).view(-1, 1, 1) * x).requires_grad_(True)
        return f(xs), [(x.expand_as(xs), xs)]

    attr, fx, fb, used = integrated_gradients(path, steps)
    occ = None
    if occlusion:
        with torch.no_grad():
            xo = x.expand(C, -1, -1).clone()
            xo[torch.arange(C), torch.arange(C)] = 0
            occ = (fx - f(xo)).cpu().numpy()
    per_feature = attr.double().cpu().numpy()  # (C, n_in)
    what = f"forecast at horizon step {horizon_step}" if horizon_step else "mean forecast over the horizon"
    return Attribution([str(t - C) for t in range(C)], per_feature.sum(1), per_feature, fx, fb, used,
                       what + " (scaled units)", occ)


__all__ = ["Attribution", "classifier_saliency", "forecaster_saliency", "gauss_legendre", "integrate",
           "integrated_gradients"]
