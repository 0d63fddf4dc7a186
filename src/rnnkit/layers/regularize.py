"""Regularisers for recurrent networks: locked dropout, DropConnect, zoneout, L1/L2 penalties.

* :class:`LockedDropout` -- variational dropout (Gal & Ghahramani 2016, "A Theoretically Grounded
  Application of Dropout in Recurrent Neural Networks"): one mask per sequence, shared by all steps.
* :func:`weight_drop` -- DropConnect (Wan et al. 2013) on a recurrent weight matrix, as in AWD-LSTM
  (Merity et al. 2018, "Regularizing and Optimizing LSTM Language Models").
* :func:`zoneout` -- Krueger et al. 2017, "Zoneout: Regularizing RNNs by Randomly Preserving Hidden
  Activations".
* :func:`penalty` -- L1/L2 weight penalties by parameter group (input / recurrent / bias).

All are functional or stateless, so the same code serves explicit cells and fused kernels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

__all__ = ["PARAM_GROUPS", "LockedDropout", "param_group", "penalty", "weight_drop", "zoneout"]


def _check_p(p: float, name: str = "p") -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {p}")


class LockedDropout(nn.Module):
    r"""Variational (locked) dropout over (B, T, F): one Bernoulli mask per sequence and feature.

    .. math:: y_{b,t,f} = x_{b,t,f} \, m_{b,f} / (1 - p), \qquad m_{b,f} \sim \mathrm{Bernoulli}(1 - p)

    The mask is the same at every time step, so a dropped feature stays dropped for the whole
    sequence (per-step masks would inject fresh noise each step and hurt recurrent models).
    ``E[y] = x``. Identity in eval mode or when ``p == 0``.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        _check_p(p)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, F) -> (B, T, F); extra trailing feature dims are allowed."""
        if not self.training or self.p == 0.0:
            return x
        if x.dim() < 3:
            raise ValueError(f"LockedDropout expects (B, T, F), got {tuple(x.shape)}")
        mask = x.new_empty((x.shape[0], 1, *x.shape[2:])).bernoulli_(1.0 - self.p)  # (B, 1, F)
        return x * mask / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def weight_drop(weight: Tensor, p: float, training: bool) -> Tensor:
    r"""DropConnect on a weight matrix: a dropped and rescaled copy, ``W * M / (1 - p)``.

    .. math:: \tilde W = W \odot M / (1 - p), \qquad M_{ij} \sim \mathrm{Bernoulli}(1 - p)

    Call it once per forward pass (one mask per mini-batch, shared by all time steps, as in
    AWD-LSTM) on the raw recurrent weight ``weight_hh`` and hand the result to the kernel, e.g.
    ``torch.func.functional_call(lstm, {"weight_hh_l0": weight_drop(raw, p, training)}, x)``.
    Gradients flow to ``weight`` (masked). Returns ``weight`` itself in eval or when ``p == 0``.
    """
    _check_p(p)
    if not training or p == 0.0:
        return weight
    return nn.functional.dropout(weight, p=p, training=True)


def zoneout(h_new: Tensor, h_prev: Tensor, p: float, training: bool) -> Tensor:
    r"""Zoneout: each unit keeps its previous value with probability ``p``.

    .. math::
        \text{train: } h_t = d \odot h_{t-1} + (1 - d) \odot \tilde h_t,\quad d \sim \mathrm{Bernoulli}(p)
        \qquad \text{eval: } h_t = p\, h_{t-1} + (1 - p)\, \tilde h_t

    The eval form is the expectation of the training form. For an LSTM apply it to ``h`` and
    ``c`` separately (the paper uses different rates). Shapes: any, ``h_new`` and ``h_prev`` equal.
    """
    _check_p(p)
    if h_new.shape != h_prev.shape:
        raise ValueError(
            f"h_new {tuple(h_new.shape)} and h_prev {tuple(h_prev.shape)} must have equal shapes"
        )
    if p == 0.0:
        return h_new
    if not training:
        return p * h_prev + (1.0 - p) * h_new
    keep_prev = torch.empty_like(h_new, dtype=torch.bool).bernoulli_(p)
    return torch.where(keep_prev, h_prev, h_new)


# group name -> substring of the parameter's own (last) name that puts it in the group
PARAM_GROUPS: dict[str, str] = {"input": "weight_ih", "recurrent": "weight_hh", "bias": "bias"}


def param_group(name: str) -> str | None:
    """Group of a parameter by its name: ``weight_ih*`` input, ``weight_hh*`` recurrent, ``*bias*`` bias.

    Only the last dotted component is looked at (so a submodule called ``bias_net`` does not make
    its weights biases). Other parameters (embeddings, heads' weights, ...) belong to no group.
    """
    leaf = name.rsplit(".", 1)[-1]
    for group, key in PARAM_GROUPS.items():
        if key in leaf:
            return group
    return None


def _coefficients(coef: float | Mapping[str, float], groups: Iterable[str], what: str) -> dict[str, float]:
    """Per-group coefficient: a float applies to every group in ``groups``; a dict gives each its own."""
    names = list(coef) if isinstance(coef, Mapping) else list(groups)
    bad = [g for g in names if g not in PARAM_GROUPS]
    if bad:
        raise ValueError(f"unknown {what} group(s) {bad}; valid groups: {', '.join(PARAM_GROUPS)}")
    if isinstance(coef, Mapping):
        return {g: float(coef.get(g, 0.0)) for g in PARAM_GROUPS}
    return {g: (float(coef) if g in names else 0.0) for g in PARAM_GROUPS}


def penalty(
    module: nn.Module,
    l1: float | Mapping[str, float] = 0.0,
    l2: float | Mapping[str, float] = 0.0,
    groups: Iterable[str] = ("input", "recurrent", "bias"),
) -> Tensor:
    r"""Scalar L1/L2 penalty over ``module``'s parameters, grouped by name (see :func:`param_group`).

    .. math::
        \Omega = \sum_{g} \sum_{W \in g} \lambda_1^g \lVert W \rVert_1 + \lambda_2^g \lVert W \rVert_2^2

    ``l1`` / ``l2`` are either one coefficient applied to every group in ``groups``, or a dict
    ``{"input": .., "recurrent": .., "bias": ..}`` (missing groups get 0; ``groups`` is then unused).
    L2 is the plain sum of squares (no 1/2). Add the result to the loss.
    """
    groups = tuple(groups)
    c1, c2 = _coefficients(l1, groups, "l1"), _coefficients(l2, groups, "l2")
    total: Tensor | None = None
    for name, w in module.named_parameters():
        g = param_group(name)
        if g is None or (c1[g] == 0.0 and c2[g] == 0.0):
            continue
        term = c1[g] * w.abs().sum() + c2[g] * w.square().sum()
        total = term if total is None else total + term
    if total is None:
        first = next(module.parameters(), None)
        return torch.zeros((), device=None if first is None else first.device)
    return total
