"""The one-node GRU / layer-norm GRU / RNN loops (layers/fastgru.py, native/gru.cpp) compute exactly
what torch's nn.GRU / nn.RNN and the explicit cells compute.

References: torch's own modules (nn.GRU, nn.RNN tanh and relu) with the same weights, and
``time_loop`` over the same cell (the layer-norm GRU has no torch module; its cell is checked in
test_cells.py). Claims: equal outputs, final states and gradients of every parameter, of x and of
h0 — with h0 != 0, with variable lengths, in reverse, with DropConnect; a float64 gradcheck of the
custom backward; the Stack's "auto" rule runs the native loop on CPU for gru / rnn / rnn_relu and
torch's kernel when the native loops are off. Every claim holds for both loops (native C++, Python).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from rnnkit.cells import CELLS, RNNState
from rnnkit.layers import Stack, native
from rnnkit.layers.fastgru import FAST_CELLS, fastgru_forward
from rnnkit.layers.recurrent import time_loop
from rnnkit.layers.stack import NATIVE_FIRST
from tests.test_fastlstm import _assert_same, _bound

FAST = ["gru", "layernorm_gru", "rnn", "rnn_relu"]
TORCH = {"gru": lambda i, h: nn.GRU(i, h, batch_first=True), "rnn": lambda i, h: nn.RNN(i, h, batch_first=True),
         "rnn_relu": lambda i, h: nn.RNN(i, h, nonlinearity="relu", batch_first=True)}


def _run(fn, cell, x, h0, lengths=None, reverse=False, weight_dropout=0.0):
    """Outputs, final state and every gradient of a loss that uses both outputs."""
    cell.zero_grad()
    x = x.detach().clone().requires_grad_(True)
    h0 = h0.detach().clone().requires_grad_(True)
    torch.manual_seed(123)  # same DropConnect mask for both paths
    y, st = fn(cell, x, RNNState(h0), lengths, reverse, weight_dropout, True)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    (torch.sin(y * w).sum() + (st.h * 1.5).sum()).backward()
    return {"y": y.detach(), "h": st.h.detach(), "dx": x.grad, "dh0": h0.grad,
            **{n: p.grad.clone() for n, p in cell.named_parameters()}}


def _explicit(cell, x, st, lengths, reverse, p, training):
    return time_loop(cell, x, st, lengths, reverse, weight_dropout=p, training=training)


def test_the_table_is_the_gru_and_rnn_family() -> None:
    assert set(FAST_CELLS) == {CELLS[n] for n in FAST}


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("H", [7, 19])  # a partial vector only; whole 8-lane vectors and a tail
def test_matches_time_loop_values_states_and_all_gradients(loop: str, name: str, reverse: bool, with_lengths: bool,
                                                           H: int) -> None:
    torch.manual_seed(0)
    cell = CELLS[name](5, H)
    x, h0 = torch.randn(4, 6, 5), torch.randn(4, H)
    lengths = torch.tensor([6, 2, 5, 1]) if with_lengths else None
    got = _run(fastgru_forward, cell, x, h0, lengths, reverse)
    _assert_same(got, _run(_explicit, cell, x, h0, lengths, reverse), atol=1e-5)
    cell64 = copy.deepcopy(cell).double()
    _assert_same(_run(fastgru_forward, cell64, x.double(), h0.double(), lengths, reverse),
                 _run(_explicit, cell64, x.double(), h0.double(), lengths, reverse), atol=1e-12)
    if with_lengths:  # padding: zero outputs past each end
        assert got["y"][1, 2:].abs().max() == 0 and got["y"][3, 1:].abs().max() == 0


@pytest.mark.parametrize("name", ["gru", "rnn", "rnn_relu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torch_modules_with_the_same_weights(loop: str, name: str, dtype: torch.dtype) -> None:
    """nn.GRU / nn.RNN: outputs, h_T and the gradients of x, h0 and all four weights."""
    torch.manual_seed(1)
    ref = TORCH[name](6, 16).to(dtype)
    x = torch.randn(3, 9, 6, dtype=dtype)
    h0 = torch.randn(1, 3, 16, dtype=dtype)
    ours = Stack(name, 6, 16, impl="fastloop").to(dtype)
    ours.load_torch_state_dict(ref.state_dict())
    results = []
    for mod in (ours, ref):
        xx, hh = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
        y, hT = mod(xx, (hh,) if mod is ours else hh)
        hT = hT[0] if mod is ours else hT
        (y.tanh().sum() + 2 * hT.sum()).backward()
        grads = [p.grad for p in (ours.cells[0].weight_ih, ours.cells[0].weight_hh, ours.cells[0].bias_ih,
                                  ours.cells[0].bias_hh)] if mod is ours else \
            [ref.weight_ih_l0.grad, ref.weight_hh_l0.grad, ref.bias_ih_l0.grad, ref.bias_hh_l0.grad]
        results.append([y, hT, xx.grad, hh.grad, *grads])
    tol = 2e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("name", FAST)
def test_weight_dropout_uses_the_same_mask_and_gradients(loop: str, name: str) -> None:
    torch.manual_seed(1)
    cell = CELLS[name](3, 4)
    x, h0 = torch.randn(2, 5, 3), torch.randn(2, 4)
    _assert_same(_run(fastgru_forward, cell, x, h0, weight_dropout=0.5),
                 _run(_explicit, cell, x, h0, weight_dropout=0.5), atol=1e-5)


@pytest.mark.parametrize("name", [*FAST, "gru_nobias", "rnn_nobias", "layernorm_gru_nobias"])
def test_float64_gradcheck_of_the_custom_backward(loop: str, name: str) -> None:
    torch.manual_seed(2)
    cell = CELLS[name.replace("_nobias", "")](3, 5, bias=not name.endswith("_nobias")).double()
    with torch.no_grad():  # non-trivial layer-norm gains so their gradients are exercised
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    leaves = [p.detach().clone().requires_grad_(True) for p in cell.parameters()]

    def f(x, h0, *ps):
        y, st = fastgru_forward(_bound(cell, ps), x, RNNState(h0), lengths)
        return y, st.h

    assert torch.autograd.gradcheck(f, (x, h0, *leaves), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["gru", "layernorm_gru", "rnn"])  # relu does not saturate: it explodes
def test_saturated_pre_activations_stay_finite_and_match(loop: str, name: str) -> None:
    """Huge pre-activations (e^2x overflows inside the native tanh) give +-1, not NaN."""
    torch.manual_seed(6)
    cell = CELLS[name](5, 8)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(300.0 if "layernorm" not in name else 30.0)
    x, h0 = 10 * torch.randn(3, 6, 5), torch.randn(3, 8)
    for dtype, atol in ((torch.float32, 1e-3), (torch.float64, 1e-10)):
        cell.to(dtype)
        got = _run(fastgru_forward, cell, x.to(dtype), h0.to(dtype))
        assert all(torch.isfinite(v).all() for v in got.values())
        _assert_same(got, _run(_explicit, cell, x.to(dtype), h0.to(dtype)), atol=atol)


@pytest.mark.parametrize("name", FAST)
def test_double_backward_is_refused_not_wrong(loop: str, name: str) -> None:
    stack = Stack(name, 3, 4, impl="fastloop")
    x = torch.randn(2, 5, 3, requires_grad=True)
    (g,) = torch.autograd.grad(stack(x)[0].pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


@pytest.mark.parametrize("name", ["gru", "rnn", "rnn_relu"])
def test_auto_runs_the_native_loop_on_cpu_and_torch_without_it(name: str) -> None:
    """The rule: a gru/rnn Stack under impl="auto" runs "fastloop" where the native loops can run on
    the input, torch's fused kernel otherwise; both give the fused kernel's numbers, and
    explain_backend says which runs where."""
    if not native.load():
        pytest.skip(native.status())
    torch.manual_seed(3)
    auto = Stack(name, 3, 8, num_layers=2, bidirectional=True, dropout=0.0)
    fused = Stack(name, 3, 8, num_layers=2, bidirectional=True, impl="fused")
    fused.load_state_dict(auto.state_dict())
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 3, 1])
    assert auto.impls_for(x) == ["fastloop", "fastloop"]  # training (the parameters need gradients), T=5
    assert "fastloop on CPU for batch x hidden" in auto.explain_backend()
    with native.enabled(False):
        assert auto.impls_for(x) == ["fused", "fused"]
    assert fused.impls_for(x) == ["fused", "fused"]  # an explicit choice is kept
    (ya, sa), (yf, sf) = auto(x, lengths=lengths), fused(x, lengths=lengths)
    torch.testing.assert_close(ya, yf, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(sa.h, sf.h, atol=1e-5, rtol=1e-4)
    assert auto.impls_for(x.half()) == ["fused", "fused"]  # the loops take float32/64 only
    # the rule's range (NATIVE_FIRST): batch x hidden (8) and T, for inference and for training
    rng = NATIVE_FIRST[type(auto.cells[0])]
    (bh_inf, bh_train), (t_inf, t_train) = rng.max_bh, rng.min_t
    with torch.no_grad():
        xs = torch.zeros(bh_inf // 8, t_inf, 3)
        assert auto.impls_for(xs) == ["fastloop", "fastloop"]
        long = x.repeat(1, 8, 1)  # T=40: inference through the native loop (the GRU skips saving its gates)
        torch.testing.assert_close(auto(long)[0], fused(long)[0], atol=1e-5, rtol=1e-4)
        assert auto.impls_for(torch.zeros(bh_inf // 8 + 1, t_inf, 3)) == ["fused", "fused"]
        assert auto.impls_for(xs[:, : t_inf - 1]) == ["fused", "fused"]
    assert auto.impls_for(torch.zeros(bh_train // 8, t_train, 3)) == ["fastloop", "fastloop"]
    assert auto.impls_for(torch.zeros(bh_train // 8 + 1, t_train, 3)) == ["fused", "fused"]
    assert auto.impls_for(torch.zeros(1, t_train - 1, 3)) == ["fused", "fused"]


def test_stack_with_a_layernorm_gru_trains_on_the_fastloop(loop: str) -> None:
    """impl="auto" for layernorm_gru is the fastloop; gradients equal the explicit Stack's."""
    torch.manual_seed(4)
    auto = Stack("layernorm_gru", 3, 6, num_layers=2)
    explicit = Stack("layernorm_gru", 3, 6, num_layers=2, impl="explicit")
    explicit.load_state_dict(auto.state_dict())
    assert auto.impls_for(torch.zeros(1, 1, 3)) == ["fastloop", "fastloop"]
    x = torch.randn(4, 7, 3)
    for s in (auto, explicit):
        s(x)[0].pow(2).sum().backward()
    for (n, a), (_, e) in zip(auto.named_parameters(), explicit.named_parameters()):
        torch.testing.assert_close(a.grad, e.grad, atol=1e-5, rtol=1e-4, msg=n)
