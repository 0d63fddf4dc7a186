"""The one-node LSTM loop (layers/fastlstm.py) computes exactly what the explicit cells compute.

Reference: ``time_loop`` over the same cell (the cells themselves are checked against torch in
test_cells.py). Claims: equal outputs, final states and gradients of every parameter, of x and of
(h0, c0) — with h0/c0 != 0, with variable lengths, in reverse; a float64 gradcheck of the custom
backward; the Stack runs this path under impl="auto" for peephole / layer-norm LSTM and says so.
Every claim holds for both loops: the Python one and the native C++ one (layers/native).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from rnnkit.cells import CELLS, LSTMState
from rnnkit.layers import Stack, native
from rnnkit.layers.fastlstm import fastlstm_forward
from rnnkit.layers.recurrent import time_loop

FAST = ["lstm", "peephole_lstm", "layernorm_lstm"]


def test_native_loops_build_where_a_compiler_exists() -> None:
    if shutil.which("c++") is None or shutil.which("ninja") is None and not _has_ninja_module():
        pytest.skip("no C++ compiler / ninja: the Python loops are the fallback")
    assert native.load(), native.status()
    assert "native C++" in native.status()


def _has_ninja_module() -> bool:
    import importlib.util

    return importlib.util.find_spec("ninja") is not None


def _run(fn, cell, x, state, lengths, reverse, weight_dropout=0.0):
    """Outputs, final state and every gradient of a loss that uses all three outputs."""
    cell.zero_grad()
    x = x.detach().clone().requires_grad_(True)
    h0, c0 = (s.detach().clone().requires_grad_(True) for s in state)
    torch.manual_seed(123)  # same DropConnect mask for both paths
    y, st = fn(cell, x, LSTMState(h0, c0), lengths, reverse, weight_dropout, True) if weight_dropout \
        else fn(cell, x, LSTMState(h0, c0), lengths, reverse)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    (torch.sin(y * w).sum() + (st.h * 1.5).sum() + (st.c ** 2).sum()).backward()
    grads = {n: p.grad.clone() for n, p in cell.named_parameters()}
    return {"y": y.detach(), "h": st.h.detach(), "c": st.c.detach(), "dx": x.grad, "dh0": h0.grad,
            "dc0": c0.grad, **grads}


def _assert_same(a: dict, b: dict, atol: float) -> None:
    """atol for values of order 1; a gradient of magnitude M gets atol*M (float32 rounding of its
    long sums, and the layer-norm backward's cancellation, scale with M — float64 is exact)."""
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] is not None and b[k] is not None, k
        tol = atol * max(1.0, float(b[k].abs().max()))
        torch.testing.assert_close(a[k], b[k], atol=tol, rtol=1e-4, msg=lambda m, k=k: f"{k}: {m}")


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("H", [7, 19])  # a partial vector only; whole 8-lane vectors and a tail
def test_matches_time_loop_values_states_and_all_gradients(loop: str, name: str, reverse: bool, with_lengths: bool,
                                                           H: int) -> None:
    torch.manual_seed(0)
    cell = CELLS[name](5, H)
    x = torch.randn(4, 6, 5)
    state = (torch.randn(4, H), torch.randn(4, H))  # h0, c0 != 0
    lengths = torch.tensor([6, 2, 5, 1]) if with_lengths else None
    ref = _run(time_loop, cell, x, state, lengths, reverse)
    got = _run(fastlstm_forward, cell, x, state, lengths, reverse)
    _assert_same(got, ref, atol=1e-5)
    ref64 = _run(time_loop, cell.double(), x.double(), [s.double() for s in state], lengths, reverse)
    _assert_same(_run(fastlstm_forward, cell, x.double(), [s.double() for s in state], lengths, reverse),
                 ref64, atol=1e-12)
    if with_lengths:  # padding: zero outputs past each end
        assert got["y"][1, 2:].abs().max() == 0 and got["y"][3, 1:].abs().max() == 0


@pytest.mark.parametrize("name", FAST)
def test_weight_dropout_uses_the_same_mask_and_gradients(loop: str, name: str) -> None:
    torch.manual_seed(1)
    cell = CELLS[name](3, 4)
    x, state = torch.randn(2, 5, 3), (torch.randn(2, 4), torch.randn(2, 4))

    def loop(c, x, s, ln, rev, p, training):
        return time_loop(c, x, s, ln, rev, weight_dropout=p, training=training)

    _assert_same(_run(fastlstm_forward, cell, x, state, None, False, 0.5),
                 _run(loop, cell, x, state, None, False, 0.5), atol=1e-5)


@pytest.mark.parametrize("name", FAST)
def test_float64_gradcheck_of_the_custom_backward(loop: str, name: str) -> None:
    torch.manual_seed(2)
    cell = CELLS[name](3, 4).double()
    with torch.no_grad():  # non-trivial layer-norm gains/biases so their gradients are exercised
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(3, 4, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 3])
    leaves = [p.detach().clone().requires_grad_(True) for p in cell.parameters()]

    def f(x, h0, c0, *ps):
        y, st = fastlstm_forward(_bound(cell, ps), x, LSTMState(h0, c0), lengths)
        return y, st.h, st.c

    assert torch.autograd.gradcheck(f, (x, h0, c0, *leaves), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", FAST)
def test_saturated_gates_stay_finite_and_match(loop: str, name: str) -> None:
    """Huge pre-activations (e^2x overflows inside the native tanh, in float32 and float64) give
    +-1, not NaN; float64 matches tightly, float32 as well as its conditioning allows (gains of
    300 amplify rounding in the layer-norm backward, with either tanh)."""
    torch.manual_seed(6)
    cell = CELLS[name](5, 8)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(300.0)
    x, state = 10 * torch.randn(3, 6, 5), (torch.randn(3, 8), torch.randn(3, 8))
    for dtype, atol in ((torch.float32, 1e-3), (torch.float64, 1e-10)):
        cell.to(dtype)
        xs, ss = x.to(dtype), [s.to(dtype) for s in state]
        got = _run(fastlstm_forward, cell, xs, ss, None, False)
        assert all(torch.isfinite(v).all() for v in got.values())
        _assert_same(got, _run(time_loop, cell, xs, ss, None, False), atol=atol)


@pytest.mark.parametrize("name", [*FAST, "layernorm_gru"])
def test_retained_graph_gives_the_same_gradients_twice(loop: str, name: str) -> None:
    """The layer-norm backwards (LSTM's, and the layer-norm GRU's of layers/fastgru.py) write their
    gradients over saved buffers when the graph is freed after them; with retain_graph=True they must
    not, so a second backward (jacobians, gradient penalties) gets the same gradients as the first, and
    both equal a fresh graph's."""
    torch.manual_seed(5)
    stack = Stack(name, 3, 6)
    x = torch.randn(4, 7, 3, requires_grad=True)
    loss = stack(x)[0].pow(2).sum()
    first = torch.autograd.grad(loss, [x, *stack.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *stack.parameters()])
    fresh = torch.autograd.grad(stack(x)[0].pow(2).sum(), [x, *stack.parameters()])
    for a, b, c in zip(first, second, fresh):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c, rtol=0, atol=0)


@pytest.mark.parametrize("name", FAST)
def test_double_backward_is_refused_not_wrong(loop: str, name: str) -> None:
    """The loops' saved tensors come from a no-grad loop, so a gradient of a gradient would be
    silently wrong; torch's once_differentiable turns it into an error that says so."""
    stack = Stack(name, 3, 4, impl="fastloop")
    x = torch.randn(2, 5, 3, requires_grad=True)
    (g,) = torch.autograd.grad(stack(x)[0].pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def _bound(cell, ps):
    """A copy of ``cell`` whose parameters are the given (differentiable) tensors."""
    import copy

    twin = copy.deepcopy(cell)
    for (name, _), p in zip(cell.named_parameters(), ps):
        mod, _, attr = name.rpartition(".")
        owner = twin.get_submodule(mod) if mod else twin
        delattr(owner, attr)
        setattr(owner, attr, p)
    return twin


@pytest.mark.parametrize("name", ["peephole_lstm", "layernorm_lstm"])
def test_stack_auto_runs_fastloop_and_matches_explicit(loop: str, name: str) -> None:
    torch.manual_seed(3)
    auto = Stack(name, 3, 4, num_layers=2, bidirectional=True)
    explicit = Stack(name, 3, 4, num_layers=2, bidirectional=True, impl="explicit")
    explicit.load_state_dict(auto.state_dict())
    assert "fastloop" in auto.explain_backend() and "fastloop" not in explicit.explain_backend()
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 3, 1])
    (ya, sa), (ye, se) = auto(x, lengths=lengths), explicit(x, lengths=lengths)
    torch.testing.assert_close(ya, ye, atol=1e-5, rtol=1e-4)
    for a, e in zip(sa, se):
        torch.testing.assert_close(a, e, atol=1e-5, rtol=1e-4)


def test_fastloop_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="fastloop.*zoneout"):
        Stack("peephole_lstm", 3, 4, impl="fastloop", zoneout=0.1)
    with pytest.raises(ValueError, match="fastloop.*no one-node loop"):
        Stack("gru_reset_before", 3, 4, impl="fastloop")
    assert "not fastloop: zoneout" in Stack("layernorm_lstm", 3, 4, zoneout=0.1).explain_backend()


def test_without_the_native_loops_the_python_loops_run_and_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a compiler (simulated by RNNKIT_NATIVE=0 on a fresh loader state) still
    trains: same numbers from the Python loops, and explain_backend names the reason."""
    torch.manual_seed(4)
    stack = Stack("layernorm_lstm", 3, 4)
    x = torch.randn(2, 5, 3)
    with native.enabled(False):
        ref = stack(x)[0]
    monkeypatch.setenv("RNNKIT_NATIVE", "0")
    monkeypatch.setattr(native, "_state", {"tried": False, "ok": False, "why": "not built yet"})
    assert not native.load() and not native.available_for(x)
    assert "Python loops (native: RNNKIT_NATIVE=0)" in stack.explain_backend()
    torch.testing.assert_close(stack(x)[0], ref)
