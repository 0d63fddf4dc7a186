"""Cells against torch's own cells, hand-written equations, and float64 gradcheck."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.cells import CELLS, LSTMState, RNNState, build_cell

TWINS = {"rnn": (nn.RNNCell, {}), "rnn_relu": (nn.RNNCell, {"nonlinearity": "relu"}),
         "lstm": (nn.LSTMCell, {}), "gru": (nn.GRUCell, {})}


def test_cell_table_names() -> None:
    assert set(CELLS) == {"rnn", "rnn_relu", "lstm", "gru", "gru_reset_before", "peephole_lstm", "layernorm_lstm",
                          "layernorm_gru", "mingru", "minlstm"}


def test_unknown_cell_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown cell 'lstmm'.*peephole_lstm"):
        build_cell("lstmm", 3, 4)


@pytest.mark.parametrize("name", list(TWINS))
def test_parity_with_torch_cell(name: str) -> None:
    twin_cls, kw = TWINS[name]
    ours, ref = build_cell(name, 5, 7), twin_cls(5, 7, **kw)
    ours.load_state_dict(ref.state_dict())  # same parameter names and gate order
    x = torch.randn(4, 5, requires_grad=True)
    h0 = torch.randn(4, 7)
    if name == "lstm":
        c0 = torch.randn(4, 7)
        h, st = ours(x, LSTMState(h0, c0))
        rh, rc = ref(x, (h0, c0))
        torch.testing.assert_close(st.c, rc, atol=1e-6, rtol=1e-5)
        out, rout = h.sum() + st.c.sum(), rh.sum() + rc.sum()
    else:
        h, st = ours(x, RNNState(h0))
        rh = ref(x, h0)
        out, rout = h.sum(), rh.sum()
    torch.testing.assert_close(h, rh, atol=1e-6, rtol=1e-5)
    gx, = torch.autograd.grad(out, x, retain_graph=True)
    rgx, = torch.autograd.grad(rout, x, retain_graph=True)
    torch.testing.assert_close(gx, rgx, atol=1e-6, rtol=1e-5)
    g = torch.autograd.grad(out, list(ours.parameters()))
    rg = torch.autograd.grad(rout, list(ref.parameters()))
    for a, b in zip(g, rg):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_peephole_equations_by_hand() -> None:
    cell = build_cell("peephole_lstm", 3, 4)
    x, h0, c0 = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    W = cell.weight_ih.chunk(4)
    U = cell.weight_hh.chunk(4)
    b = (cell.bias_ih + cell.bias_hh).chunk(4)
    pre = [x @ W[k].T + h0 @ U[k].T + b[k] for k in range(4)]
    i = torch.sigmoid(pre[0] + cell.weight_ci * c0)
    f = torch.sigmoid(pre[1] + cell.weight_cf * c0)
    c = f * c0 + i * torch.tanh(pre[2])
    o = torch.sigmoid(pre[3] + cell.weight_co * c)
    h, st = cell(x, LSTMState(h0, c0))
    torch.testing.assert_close(st.c, c)
    torch.testing.assert_close(h, o * torch.tanh(c))


def test_peephole_with_zero_peepholes_is_lstm() -> None:
    ours, ref = build_cell("peephole_lstm", 3, 4), nn.LSTMCell(3, 4)
    with torch.no_grad():
        for p in (ours.weight_ci, ours.weight_cf, ours.weight_co):
            p.zero_()
    ours.load_state_dict(ref.state_dict(), strict=False)
    x, h0, c0 = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    torch.testing.assert_close(ours(x, LSTMState(h0, c0))[0], ref(x, (h0, c0))[0])


def _ln(v: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    mu, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
    out = (v - mu) / torch.sqrt(var + 1e-5) * gain
    return out + bias if bias is not None else out


def test_layernorm_lstm_equations_by_hand() -> None:
    cell = build_cell("layernorm_lstm", 3, 4)
    with torch.no_grad():  # non-trivial gains/biases so they matter
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, h0, c0 = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    gates = _ln(x @ cell.weight_ih.T, cell.ln_ih.weight, cell.ln_ih.bias) + _ln(h0 @ cell.weight_hh.T,
                                                                                 cell.ln_hh.weight, None)
    i, f, g, o = gates.chunk(4, 1)
    c = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(_ln(c, cell.ln_c.weight, cell.ln_c.bias))
    h_ours, st = cell(x, LSTMState(h0, c0))
    torch.testing.assert_close(st.c, c)
    torch.testing.assert_close(h_ours, h)


def test_layernorm_gru_equations_by_hand() -> None:
    cell = build_cell("layernorm_gru", 3, 4)
    x, h0 = torch.randn(2, 3), torch.randn(2, 4)
    xp = _ln(x @ cell.weight_ih.T, cell.ln_ih.weight, cell.ln_ih.bias).chunk(3, 1)
    hp = _ln(h0 @ cell.weight_hh.T, cell.ln_hh.weight, None).chunk(3, 1)
    r, z = torch.sigmoid(xp[0] + hp[0]), torch.sigmoid(xp[1] + hp[1])
    n = torch.tanh(xp[2] + r * hp[2])
    torch.testing.assert_close(cell(x, RNNState(h0))[0], (1 - z) * n + z * h0)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_reset_before_equations_by_hand(bias: bool) -> None:
    """Cho et al. 2014 eq. (5)-(8): the reset gate scales h before U_n (Keras reset_after=False)."""
    cell = build_cell("gru_reset_before", 3, 4, bias=bias).double()
    x, h0 = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    W, U = cell.weight_ih.chunk(3), cell.weight_hh.chunk(3)
    bi = cell.bias_ih.chunk(3) if bias else [0.0] * 3
    bh = cell.bias_hh.chunk(3) if bias else [0.0] * 3
    r = torch.sigmoid(x @ W[0].T + bi[0] + h0 @ U[0].T + bh[0])
    z = torch.sigmoid(x @ W[1].T + bi[1] + h0 @ U[1].T + bh[1])
    n = torch.tanh(x @ W[2].T + bi[2] + (r * h0) @ U[2].T + bh[2])
    h, st = cell(x, RNNState(h0))
    torch.testing.assert_close(h, (1 - z) * n + z * h0, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(st.h, h)
    # and it is a different function from the reset-after GRU with the same weights
    after = build_cell("gru", 3, 4, bias=bias).double()
    after.load_state_dict(cell.state_dict())
    assert (after(x, RNNState(h0))[0] - h).abs().max() > 1e-3


def test_mingru_and_minlstm_equations_by_hand() -> None:
    def g(v: torch.Tensor) -> torch.Tensor:
        return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))

    x, h0 = torch.randn(2, 3), torch.randn(2, 4)
    cell = build_cell("mingru", 3, 4)
    kz, kh = F.linear(x, cell.weight_ih, cell.bias_ih).chunk(2, 1)
    z = torch.sigmoid(kz)
    torch.testing.assert_close(cell(x, RNNState(h0))[0], (1 - z) * h0 + z * g(kh))
    cell = build_cell("minlstm", 3, 4)
    kf, ki, kh = F.linear(x, cell.weight_ih, cell.bias_ih).chunk(3, 1)
    f, i = torch.sigmoid(kf), torch.sigmoid(ki)
    torch.testing.assert_close(cell(x, RNNState(h0))[0], f / (f + i) * h0 + i / (f + i) * g(kh))


@pytest.mark.parametrize("name", list(CELLS))
def test_gradcheck_float64(name: str) -> None:
    cell = build_cell(name, 3, 4).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    fields = cell.state_type._fields
    st = [torch.randn(2, 4, dtype=torch.float64, requires_grad=True) for _ in fields]

    def f(x: torch.Tensor, *s: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(cell(x, cell.state_type(*s))[1])

    assert torch.autograd.gradcheck(f, (x, *st))
    # parameters too: gradcheck through a functional call
    names = [n for n, _ in cell.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fp(*ps: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(cell, dict(zip(names, ps)), (x.detach(), cell.state_type(*st)))
        return out[0]

    assert torch.autograd.gradcheck(fp, params)


def test_cell_rejects_wrong_input_shape() -> None:
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, 3\), got \(2, 5\)"):
        build_cell("lstm", 3, 4)(torch.randn(2, 5))
