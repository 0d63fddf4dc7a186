"""Attention: equations vs a per-position reference, masks, gradcheck, batched Tq == per-step."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.layers.attention import (
    ATTENTION,
    AdditiveAttention,
    DotAttention,
    build_attention,
)

B, TK, Q, K, D = 3, 5, 4, 6, 7


def _additive_reference(attn: AdditiveAttention, h: torch.Tensor, xs: torch.Tensor, valid: torch.Tensor):
    """Tutorial form, one example and one position at a time: e_i = w_s.tanh(W_e[h; x_i] + b_e)/sqrt(d)."""
    ctxs, ws = [], []
    for b in range(xs.shape[0]):
        e = []
        for i in range(xs.shape[1]):
            z = torch.tanh(attn.W_e.weight @ torch.cat([h[b], xs[b, i]]) + attn.W_e.bias)
            e.append((attn.w_s.weight[0] @ z) / math.sqrt(attn.attn_size))
        e = torch.stack(e)
        e = torch.where(valid[b], e, torch.tensor(float("-inf"), dtype=e.dtype))
        alpha = torch.softmax(e, dim=0)
        ws.append(alpha)
        ctxs.append(sum(alpha[i] * xs[b, i] for i in range(xs.shape[1])))
    return torch.stack(ctxs), torch.stack(ws)


def _dot_reference(attn: DotAttention, q: torch.Tensor, ks: torch.Tensor, vs: torch.Tensor, valid):
    ctxs, ws = [], []
    for b in range(ks.shape[0]):
        e = []
        for i in range(ks.shape[1]):
            if attn.mode == "general":
                e.append(q[b] @ attn.W_a.weight @ ks[b, i])
            elif attn.mode == "dot":
                e.append(q[b] @ ks[b, i])
            else:
                e.append(q[b] @ ks[b, i] / math.sqrt(ks.shape[-1]))
        e = torch.where(valid[b], torch.stack(e), torch.tensor(float("-inf"), dtype=q.dtype))
        alpha = torch.softmax(e, dim=0)
        ws.append(alpha)
        ctxs.append((alpha[:, None] * vs[b]).sum(0))
    return torch.stack(ctxs), torch.stack(ws)


LENGTHS = torch.tensor([5, 3, 1])
VALID = torch.arange(TK)[None, :] < LENGTHS[:, None]


def test_additive_matches_concat_reference():
    torch.manual_seed(0)
    attn = AdditiveAttention(Q, K, D).double()
    h, xs = torch.randn(B, Q, dtype=torch.float64), torch.randn(B, TK, K, dtype=torch.float64)
    ctx, w = attn(h, xs, lengths=LENGTHS)
    ref_ctx, ref_w = _additive_reference(attn, h, xs, VALID)
    torch.testing.assert_close(ctx, ref_ctx)
    torch.testing.assert_close(w, ref_w)
    # precomputed keys give the same answer
    ctx2, w2 = attn(h, xs, lengths=LENGTHS, projected_keys=attn.precompute_keys(xs))
    torch.testing.assert_close(ctx2, ctx)
    torch.testing.assert_close(w2, w)


@pytest.mark.parametrize("mode", ["dot", "general", "scaled_dot"])
def test_dot_matches_reference(mode):
    torch.manual_seed(1)
    qs = K if mode != "general" else Q
    attn = DotAttention(qs, K, mode=mode).double()
    q = torch.randn(B, qs, dtype=torch.float64)
    ks, vs = torch.randn(B, TK, K, dtype=torch.float64), torch.randn(B, TK, 2, dtype=torch.float64)
    ctx, w = attn(q, ks, vs, mask=VALID)
    ref_ctx, ref_w = _dot_reference(attn, q, ks, vs, VALID)
    torch.testing.assert_close(ctx, ref_ctx)
    torch.testing.assert_close(w, ref_w)
    assert ctx.shape == (B, 2) and w.shape == (B, TK)


def _make(name):
    query_size = K if name in ("dot", "scaled_dot") else Q
    return build_attention(name, query_size, K, attn_size=D if name == "additive" else None)


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_mask_blocks_padding(name):
    torch.manual_seed(2)
    attn = _make(name)
    q = torch.randn(B, attn.query_size)
    ks, vs = torch.randn(B, TK, K), torch.randn(B, TK, 3)
    ctx, w = attn(q, ks, vs, lengths=LENGTHS)
    assert torch.all(w[~VALID] == 0.0)
    torch.testing.assert_close(w.sum(-1), torch.ones(B))
    garbage_k = torch.where(VALID[..., None], ks, torch.full_like(ks, 1e3))
    garbage_v = torch.where(VALID[..., None], vs, torch.full_like(vs, -7e4))
    ctx2, w2 = attn(q, garbage_k, garbage_v, lengths=LENGTHS)
    torch.testing.assert_close(ctx2, ctx)
    torch.testing.assert_close(w2, w)
    # mask and lengths are equivalent
    ctx3, _ = attn(q, ks, vs, mask=VALID)
    torch.testing.assert_close(ctx3, ctx)


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_fully_masked_row_gives_zeros_not_nan(name):
    attn = _make(name)
    q, ks = torch.randn(2, attn.query_size, requires_grad=True), torch.randn(2, TK, K)
    mask = torch.tensor([[True] * TK, [False] * TK])
    ctx, w = attn(q, ks, mask=mask)
    assert torch.isfinite(ctx).all() and torch.isfinite(w).all()
    assert torch.all(w[1] == 0) and torch.all(ctx[1] == 0)
    ctx.sum().backward()
    assert torch.isfinite(q.grad).all() and torch.all(q.grad[1] == 0)


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_batched_tq_equals_per_step(name):
    torch.manual_seed(3)
    attn = _make(name)
    tq = 4
    q = torch.randn(B, tq, attn.query_size)
    ks, vs = torch.randn(B, TK, K), torch.randn(B, TK, 2)
    ctx, w = attn(q, ks, vs, lengths=LENGTHS)
    assert ctx.shape == (B, tq, 2) and w.shape == (B, tq, TK)
    pk = attn.precompute_keys(ks)
    for t in range(tq):
        c_t, w_t = attn(q[:, t], ks, vs, lengths=LENGTHS, projected_keys=pk)
        torch.testing.assert_close(ctx[:, t], c_t)
        torch.testing.assert_close(w[:, t], w_t)


@pytest.mark.parametrize("name", ["additive", "general", "scaled_dot"])
def test_gradcheck_float64(name):
    torch.manual_seed(4)
    attn = _make(name).double()
    names = [n for n, _ in attn.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in attn.named_parameters()]
    q = torch.randn(2, 2, attn.query_size, dtype=torch.float64, requires_grad=True)
    ks = torch.randn(2, 4, K, dtype=torch.float64, requires_grad=True)
    vs = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2])

    def f(q, ks, vs, *ps):
        params = dict(zip(names, ps, strict=True))
        return torch.func.functional_call(attn, params, (q, ks, vs), {"lengths": lengths})

    assert torch.autograd.gradcheck(f, (q, ks, vs, *params))


def test_errors_name_shapes_and_valid_names():
    with pytest.raises(ValueError, match="valid names: additive, dot, general, scaled_dot"):
        build_attention("bahdanau", 4, 4)
    with pytest.raises(ValueError, match="query_size == key_size"):
        DotAttention(3, 4, mode="dot")
    with pytest.raises(ValueError, match="valid modes"):
        DotAttention(3, 3, mode="cosine")
    attn = AdditiveAttention(Q, K, D)
    with pytest.raises(ValueError, match=r"got query \(2, 5\), keys \(2, 5, 6\)"):
        attn(torch.randn(2, 5), torch.randn(2, TK, K))
    with pytest.raises(ValueError, match=r"keys must be \(B, Tk, 6\), got \(2, 5, 3\)"):
        attn(torch.randn(2, Q), torch.randn(2, TK, 3))
    with pytest.raises(ValueError, match=r"values must be .* got \(2, 4, 3\)"):
        attn(torch.randn(2, Q), torch.randn(2, TK, K), torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"mask must have shape .* got \(2, 4\)"):
        attn(torch.randn(2, Q), torch.randn(2, TK, K), mask=torch.ones(2, 4, dtype=torch.bool))
