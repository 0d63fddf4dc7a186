"""The no-grad single-step path (layers/step.py, layers/native/step.cpp): stepping a stack one
input at a time reproduces its whole-sequence forward, and torch's nn.LSTM / nn.GRU / nn.RNN, for
every cell, both dtypes, on the native operator and on the torch-ops fallback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells import CELLS
from rnnkit.layers import Stack, native
from rnnkit.layers.step import StepRunner, not_steppable, use_runner

NATIVE = [True, False] if native.load() else [False]
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


def _run_steps(runner: StepRunner, x: torch.Tensor, state):
    ys = []
    for t in range(x.shape[1]):
        y, state = runner(x[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def _random_state(stack: Stack, B: int, dtype: torch.dtype):
    kind = stack.cells[0].state_type
    return kind(*(0.5 * torch.randn(stack.num_layers, B, stack.hidden_size, dtype=dtype) for _ in kind._fields))


@pytest.mark.parametrize("use_native", NATIVE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cell", list(CELLS))
def test_stepping_equals_the_sequence_forward_for_every_cell(cell: str, dtype: torch.dtype, use_native: bool) -> None:
    """To 1e-6 (float32) of the explicit loop, i.e. the cell's equations over the sequence; to 1e-5
    of the impl "auto" picks, whose native loops round differently (fastloop tests: 1e-5 too)."""
    B, T, I, H = 3, 6, 5, 8
    for layers in (1, 3):
        stack = Stack(cell, I, H, layers).to(dtype).eval()
        explicit = Stack(cell, I, H, layers, impl="explicit").to(dtype).eval()
        explicit.load_state_dict(stack.state_dict())
        x = torch.randn(B, T, I, dtype=dtype)
        state = _random_state(stack, B, dtype)
        runner = StepRunner.from_stack(stack)
        with native.enabled(use_native):
            y, st = _run_steps(runner, x, state)
            assert runner.backend(x).startswith("native") == (use_native and cell in ("lstm", "gru", "rnn", "rnn_relu"))
            y0 = runner(x[:, 0])[0]  # no state = zeros, as the stack
        assert type(st) is stack.cells[0].state_type and not y.requires_grad  # parameters require grad; steps don't
        for ref, tol in ((explicit, TOL[dtype]), (stack, 1e-5 if dtype == torch.float32 else TOL[dtype])):
            with torch.no_grad():
                y_ref, st_ref = ref(x, state)
                y0_ref = ref(x[:, :1])[0][:, 0]
            torch.testing.assert_close(y, y_ref, atol=tol, rtol=0)
            for a, b in zip(st, st_ref):
                torch.testing.assert_close(a, b, atol=tol, rtol=0)
            torch.testing.assert_close(y0, y0_ref, atol=tol, rtol=0)


@pytest.mark.parametrize("use_native", NATIVE)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name, torch_cls, kw", [("lstm", nn.LSTM, {}), ("gru", nn.GRU, {}), ("rnn", nn.RNN, {}),
                                                  ("rnn_relu", nn.RNN, {"nonlinearity": "relu"})])
def test_stepping_equals_torchs_own_modules(name: str, torch_cls: type, kw: dict, dtype: torch.dtype,
                                            use_native: bool) -> None:
    B, T, I, H, L = 2, 7, 4, 16, 2
    ref = torch_cls(I, H, L, batch_first=True, **kw).to(dtype)
    stack = Stack(name, I, H, L).to(dtype).eval()
    stack.load_torch_state_dict(ref.state_dict())
    x = torch.randn(B, T, I, dtype=dtype)
    with torch.no_grad():
        y_ref, st_ref = ref(x)
    with native.enabled(use_native):
        y, st = _run_steps(StepRunner.from_stack(stack), x, None)
    torch.testing.assert_close(y, y_ref, atol=TOL[dtype], rtol=0)
    for a, b in zip(st, st_ref if isinstance(st_ref, tuple) else (st_ref,)):
        torch.testing.assert_close(a, b, atol=TOL[dtype], rtol=0)


def test_a_cell_without_bias_and_a_batch_that_fills_several_vectors() -> None:
    for cell in ("lstm", "gru", "rnn"):
        stack = Stack(cell, 3, 37, 2, bias=False).eval()  # 37: whole vectors and a partial tail
        x = torch.randn(20, 4, 3)
        with torch.no_grad():
            y_ref, _ = stack(x)
        torch.testing.assert_close(_run_steps(StepRunner.from_stack(stack), x, None)[0], y_ref, atol=1e-6, rtol=0)


def test_zoneout_takes_its_eval_form_and_dropout_is_off_in_eval() -> None:
    stack = Stack("lstm", 4, 8, 2, dropout=0.5, zoneout=0.3, input_dropout=0.2, weight_dropout=0.4).eval()
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        y_ref, st_ref = stack(x)
    runner = StepRunner.from_stack(stack)
    # zoneout mixes old and new state between layers: the Python path
    assert runner.backend(x).startswith("packed lstm step in torch ops")
    y, st = _run_steps(runner, x, None)
    torch.testing.assert_close(y, y_ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(st.c, st_ref.c, atol=1e-6, rtol=0)


def test_what_cannot_be_stepped_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="bidirectional"):
        StepRunner.from_stack(Stack("lstm", 3, 4, bidirectional=True))
    with pytest.raises(ValueError, match=r"training mode with dropout.*\.eval\(\)"):
        StepRunner.from_stack(Stack("gru", 3, 4, 2, dropout=0.3))  # a fresh module is in training mode
    assert not_steppable(Stack("gru", 3, 4, 2)) is None  # training mode without dropout steps the same
    with pytest.raises(ValueError, match="one cell type"):
        StepRunner([CELLS["lstm"](3, 4), CELLS["gru"](4, 4)])
    with pytest.raises(ValueError, match="not a unidirectional stack"):
        StepRunner([CELLS["lstm"](3, 4), CELLS["lstm"](8, 4)])
    runner = StepRunner.from_stack(Stack("lstm", 3, 4, 2).eval())
    with pytest.raises(ValueError, match=r"state.c must have shape"):
        runner(torch.randn(2, 3), (torch.zeros(2, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match=r"x of shape \(batch, 3\)"):
        runner(torch.randn(2, 5))


@pytest.mark.skipif(not native.load(), reason="native extension not built")
def test_the_native_operator_checks_its_arguments() -> None:
    from rnnkit.layers import step

    ops = step._ops  # torch.ops.rnnkit_native
    x, h = torch.randn(1, 3), torch.zeros(1, 1, 4)
    with pytest.raises(RuntimeError, match="must be"):
        ops.step_rnn(x, h, [torch.randn(4, 6)], [torch.zeros(4)], False)  # I + H = 7 columns expected
    with pytest.raises(RuntimeError, match="dtype"):
        ops.step_rnn(x, h, [torch.randn(4, 7, dtype=torch.float64)], [torch.zeros(4)], False)


def test_a_runner_repacks_after_the_weights_change_in_place() -> None:
    stack = Stack("lstm", 3, 6, 2).eval()
    runner = StepRunner.from_stack(stack)
    x = torch.randn(2, 3)
    runner(x)  # packs
    opt = torch.optim.SGD(stack.parameters(), lr=0.5)
    stack(torch.randn(2, 4, 3))[0].sum().backward()
    opt.step()
    with torch.no_grad():
        want = stack(x[:, None])[0][:, 0]
    torch.testing.assert_close(runner(x)[0], want, atol=1e-6, rtol=0)


def test_per_layer_states_as_a_decoder_keeps_them() -> None:
    cells = [CELLS["gru"](5, 8), CELLS["gru"](8, 8)]
    runner = StepRunner(cells)
    x, states = torch.randn(3, 5), [cells[0].init_state(3), cells[1].init_state(3)]
    y, new = runner.layers(x, states)
    with torch.no_grad():
        h0, _ = cells[0](x, states[0])
        h1, _ = cells[1](h0, states[1])
    torch.testing.assert_close(y, h1, atol=1e-6, rtol=0)
    torch.testing.assert_close(new[0].h, h0, atol=1e-6, rtol=0)


def test_models_use_the_runner_only_without_gradients_and_outside_tracing() -> None:
    stack = Stack("lstm", 3, 4).eval()
    assert not use_runner(stack)  # gradients on: the autograd path
    with torch.no_grad():
        assert use_runner(stack)
        assert not use_runner(Stack("lstm", 3, 4, bidirectional=True))
