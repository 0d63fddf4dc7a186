"""Attention over a sequence of keys/values with padding masks -> (context, weights).

Two families, one calling convention::

    context, weights = attn(query, keys, values=None, mask=None, lengths=None)

    query   (B, Q)  one decoder step, or (B, Tq, Q) all steps at once
    keys    (B, Tk, K)
    values  (B, Tk, V)   defaults to keys
    mask    (B, Tk) bool, True = valid position; or lengths (B,) int, 1 <= lengths <= Tk
    context (B, V)  or (B, Tq, V)
    weights (B, Tk) or (B, Tq, Tk)

* :class:`AdditiveAttention` -- Bahdanau et al. 2015, "Neural Machine Translation by Jointly
  Learning to Align and Translate", in the classic tutorial form scaled by ``1/sqrt(d)``.
* :class:`DotAttention` -- Luong et al. 2015, "Effective Approaches to Attention-based Neural
  Machine Translation": ``dot``, ``general``, and ``scaled_dot`` (Vaswani et al. 2017).

Masked positions get a score of ``-inf`` before the softmax, so their weights are exactly 0.
A row with no valid position at all (fully masked) returns **zero weights and a zero context**
instead of NaN; gradients through such a row are zero.

The keys' projection does not depend on the decoder step, so both classes expose
``precompute_keys(keys)``; pass its result as ``projected_keys=`` to reuse it across steps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnkit.layers.masks import lengths_to_mask

__all__ = ["ATTENTION", "AdditiveAttention", "DotAttention", "build_attention", "valid_mask"]


def valid_mask(
    keys: Tensor, mask: Tensor | None = None, lengths: Tensor | None = None
) -> Tensor | None:
    """Combine ``mask`` (B, Tk) bool and/or ``lengths`` (B,) into one (B, Tk) bool mask (True = valid).

    Returns None when neither is given (every position valid). Both given: their logical AND.
    """
    B, Tk = keys.shape[0], keys.shape[1]
    out = None
    if mask is not None:
        if mask.shape != (B, Tk):
            raise ValueError(f"mask must have shape (B, Tk) = {(B, Tk)}, got {tuple(mask.shape)}")
        out = mask.to(device=keys.device, dtype=torch.bool)
    if lengths is not None:
        if lengths.shape != (B,):
            raise ValueError(f"lengths must have shape (B,) = {(B,)}, got {tuple(lengths.shape)}")
        from_len = lengths_to_mask(lengths, Tk, keys.device)  # (B, Tk)
        out = from_len if out is None else out & from_len
    return out


def _check_inputs(
    query: Tensor, keys: Tensor, values: Tensor, query_size: int, key_size: int
) -> None:
    """Raise a ValueError naming the received shapes when the inputs do not fit together."""
    if query.dim() not in (2, 3) or query.shape[-1] != query_size or query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"query must be (B, {query_size}) or (B, Tq, {query_size}) with B = keys.shape[0]; "
            f"got query {tuple(query.shape)}, keys {tuple(keys.shape)}"
        )
    if keys.dim() != 3 or keys.shape[-1] != key_size:
        raise ValueError(f"keys must be (B, Tk, {key_size}), got {tuple(keys.shape)}")
    if values.dim() != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"values must be (B, Tk, V) with (B, Tk) = {tuple(keys.shape[:2])}, got {tuple(values.shape)}"
        )


def _attend(scores: Tensor, values: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Masked softmax over the last axis of ``scores`` (B, Tq, Tk), then weights @ values.

    Fully-masked rows are temporarily unmasked (so the softmax stays finite) and then zeroed.
    """
    if mask is not None:
        m = mask[:, None, :]  # (B, 1, Tk)
        any_valid = m.any(dim=-1, keepdim=True)  # (B, 1, 1)
        scores = scores.masked_fill(~(m | ~any_valid), float("-inf"))
        weights = torch.softmax(scores, dim=-1) * any_valid  # (B, Tq, Tk)
    else:
        weights = torch.softmax(scores, dim=-1)
    context = torch.bmm(weights, values)  # (B, Tq, V)
    return context, weights


class _Attention(nn.Module):
    """The forward both attentions share: check shapes, project keys once, score, masked softmax.

    Subclasses set ``query_size``, ``key_size`` and ``projected_size`` and implement
    ``precompute_keys(keys)`` and ``scores(query (B, Tq, Q), projected_keys) -> (B, Tq, Tk)``.
    """

    query_size: int
    key_size: int
    projected_size: int

    def precompute_keys(self, keys: Tensor) -> Tensor:
        raise NotImplementedError

    def scores(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor | None = None,
        mask: Tensor | None = None,
        lengths: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Return ``(context, weights)``; see the module docstring for shapes."""
        values = keys if values is None else values
        _check_inputs(query, keys, values, self.query_size, self.key_size)
        if projected_keys is None:
            projected_keys = self.precompute_keys(keys)
        elif projected_keys.shape != (*keys.shape[:2], self.projected_size):
            raise ValueError(
                f"projected_keys must be {(*keys.shape[:2], self.projected_size)} "
                f"(from precompute_keys), got {tuple(projected_keys.shape)}"
            )
        single = query.dim() == 2
        q = query[:, None, :] if single else query  # (B, Tq, Q)
        context, weights = _attend(self.scores(q, projected_keys), values, valid_mask(keys, mask, lengths))
        return (context[:, 0], weights[:, 0]) if single else (context, weights)


class AdditiveAttention(_Attention):
    r"""Additive (Bahdanau) attention, scaled as in the classic tutorial.

    .. math::
        e_i = \frac{w_s^\top \tanh(W_e [h_{t-1}; x_i] + b_e)}{\sqrt{d}}, \quad
        \alpha = \mathrm{softmax}_i(e), \quad c_t = \sum_i \alpha_i v_i

    with ``d = attn_size`` and ``v_i = x_i`` unless ``values`` are given. ``W_e`` is stored whole
    (``W_e.weight`` is ``(d, Q + K)``) but applied split, ``W_e [h; x] = W_q h + W_k x``, so the keys
    are projected once per sequence (:meth:`precompute_keys`) rather than concatenated per step.

    Args:
        query_size: Q, size of the decoder state ``h_{t-1}``.
        key_size: K, size of each encoder output ``x_i``.
        attn_size: d, hidden size of the scoring MLP.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int) -> None:
        super().__init__()
        self.query_size, self.key_size, self.attn_size = query_size, key_size, attn_size
        self.projected_size = attn_size
        self.W_e = nn.Linear(query_size + key_size, attn_size)  # acts on [h; x]
        self.w_s = nn.Linear(attn_size, 1, bias=False)
        self.scale = 1.0 / math.sqrt(attn_size)

    def precompute_keys(self, keys: Tensor) -> Tensor:
        """``W_k x_i + b_e`` for every key: (B, Tk, K) -> (B, Tk, d). Reusable across decoder steps."""
        if keys.dim() != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"keys must be (B, Tk, {self.key_size}), got {tuple(keys.shape)}")
        W_k = self.W_e.weight[:, self.query_size :]  # (d, K)
        return nn.functional.linear(keys, W_k, self.W_e.bias)

    def scores(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """Unnormalised scores e: query (B, Tq, Q), projected keys (B, Tk, d) -> (B, Tq, Tk)."""
        W_q = self.W_e.weight[:, : self.query_size]  # (d, Q)
        q = nn.functional.linear(query, W_q)  # (B, Tq, d)
        hidden = torch.tanh(q[:, :, None, :] + projected_keys[:, None, :, :])  # (B, Tq, Tk, d)
        return self.w_s(hidden).squeeze(-1) * self.scale  # (B, Tq, Tk)


_DOT_MODES = ("dot", "general", "scaled_dot")


class DotAttention(_Attention):
    r"""Multiplicative (Luong) attention.

    .. math::
        \text{dot: } e_i = q^\top k_i \qquad
        \text{general: } e_i = q^\top W_a k_i \qquad
        \text{scaled\_dot: } e_i = q^\top k_i / \sqrt{K}

    then ``alpha = softmax_i(e)`` and ``c = sum_i alpha_i v_i``. ``dot`` and ``scaled_dot`` have no
    parameters and need ``query_size == key_size``; ``general`` learns ``W_a`` (Q x K).
    """

    def __init__(self, query_size: int, key_size: int, mode: str = "dot") -> None:
        super().__init__()
        if mode not in _DOT_MODES:
            raise ValueError(f"unknown DotAttention mode {mode!r}; valid modes: {', '.join(_DOT_MODES)}")
        if mode != "general" and query_size != key_size:
            raise ValueError(
                f"mode {mode!r} needs query_size == key_size, got query_size={query_size}, "
                f"key_size={key_size}; use mode='general' (learned W_a) or 'additive' attention"
            )
        self.query_size, self.key_size, self.mode = query_size, key_size, mode
        self.projected_size = query_size  # W_a k lives in query space; dot modes have K == Q
        # W_a k is computed as Linear(K -> Q) on the keys so it can be precomputed once.
        self.W_a = nn.Linear(key_size, query_size, bias=False) if mode == "general" else None
        self.scale = 1.0 / math.sqrt(key_size) if mode == "scaled_dot" else 1.0

    def precompute_keys(self, keys: Tensor) -> Tensor:
        """``W_a k_i`` for ``general`` (B, Tk, K) -> (B, Tk, Q); the keys themselves otherwise."""
        if keys.dim() != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"keys must be (B, Tk, {self.key_size}), got {tuple(keys.shape)}")
        return self.W_a(keys) if self.W_a is not None else keys

    def scores(self, query: Tensor, projected_keys: Tensor) -> Tensor:
        """q·k (or q·W_a k), scaled for ``scaled_dot``: (B, Tq, Q), (B, Tk, Q) -> (B, Tq, Tk)."""
        return torch.bmm(query, projected_keys.transpose(1, 2)) * self.scale


ATTENTION: dict[str, type[nn.Module]] = {
    "additive": AdditiveAttention,
    "dot": DotAttention,
    "general": DotAttention,
    "scaled_dot": DotAttention,
}


def build_attention(
    name: str, query_size: int, key_size: int, attn_size: int | None = None
) -> nn.Module:
    """Build attention by name from :data:`ATTENTION`.

    ``attn_size`` is used by ``additive`` only (default: ``key_size``); the others take the name
    as their ``mode``.
    """
    if name not in ATTENTION:
        raise ValueError(f"unknown attention {name!r}; valid names: {', '.join(sorted(ATTENTION))}")
    if name == "additive":
        return AdditiveAttention(query_size, key_size, attn_size if attn_size is not None else key_size)
    if attn_size is not None:
        raise ValueError(f"attn_size is only used by 'additive' attention, not {name!r}")
    return DotAttention(query_size, key_size, mode=name)
