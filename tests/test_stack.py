"""Stack against torch's nn.RNN/LSTM/GRU, padding semantics for every impl, merges, errors."""

import pytest
import torch
from torch import nn

from rnnkit.layers import MERGES, Stack

TORCH = {"rnn": (nn.RNN, {}), "rnn_relu": (nn.RNN, {"nonlinearity": "relu"}), "lstm": (nn.LSTM, {}),
         "gru": (nn.GRU, {})}
IMPLS_FOR = {"rnn": ("fused", "explicit"), "rnn_relu": ("fused", "explicit"), "lstm": ("fused", "explicit"),
             "gru": ("fused", "explicit"), "peephole_lstm": ("explicit",), "layernorm_lstm": ("explicit",),
             "layernorm_gru": ("explicit",), "mingru": ("scan", "explicit"), "minlstm": ("scan", "explicit")}


def _torch_state(ref_state: torch.Tensor | tuple, cell: str) -> tuple:
    return tuple(ref_state) if cell == "lstm" else (ref_state,)


@pytest.mark.parametrize("cell", list(TORCH))
@pytest.mark.parametrize("impl", ["fused", "explicit"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parity_with_torch_module(cell: str, impl: str, bidirectional: bool) -> None:
    cls, kw = TORCH[cell]
    ref = cls(6, 8, num_layers=2, bidirectional=bidirectional, batch_first=True, **kw)
    ours = Stack(cell, 6, 8, num_layers=2, bidirectional=bidirectional, impl=impl)
    ours.load_state_dict(ref.state_dict())  # torch's names are accepted directly
    x = torch.randn(3, 5, 6, requires_grad=True)
    D = 2 if bidirectional else 1
    fields = 2 if cell == "lstm" else 1
    h0 = [torch.randn(2 * D, 3, 8) for _ in range(fields)]
    y, st = ours(x, tuple(h0))
    ry, rst = ref(x, tuple(h0) if cell == "lstm" else h0[0])
    torch.testing.assert_close(y, ry, atol=1e-5, rtol=1e-5)
    for a, b in zip(st, _torch_state(rst, cell)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    w = torch.randn_like(y)
    loss, rloss = (y * w).sum() + sum(s.sum() for s in st), (ry * w).sum() + sum(
        s.sum() for s in _torch_state(rst, cell))
    g = torch.autograd.grad(loss, [x, *ours.parameters()])
    rg = torch.autograd.grad(rloss, [x, *ref.parameters()])
    for a, b in zip(g, rg):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_load_torch_state_dict_and_names() -> None:
    ref = nn.GRU(4, 5, num_layers=2, bidirectional=True, batch_first=True)
    ours = Stack("gru", 4, 5, num_layers=2, bidirectional=True)
    ours.load_torch_state_dict(ref.state_dict())
    torch.testing.assert_close(ours.cells[3].weight_hh, ref.weight_hh_l1_reverse)
    with pytest.raises(RuntimeError):
        Stack("gru", 4, 5, num_layers=1).load_torch_state_dict(ref.state_dict())


@pytest.mark.parametrize("cell", list(IMPLS_FOR))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_equals_running_each_sequence_alone(cell: str, bidirectional: bool) -> None:
    """Every impl: outputs and final states of a padded batch equal the unpadded runs; zeros past ends."""
    lengths = torch.tensor([6, 2, 4])
    x = torch.randn(3, 6, 4)
    x[1, 2:] = 100.0  # garbage in the padding must not leak
    x[2, 4:] = -50.0
    for impl in IMPLS_FOR[cell]:
        stack = Stack(cell, 4, 5, num_layers=2, bidirectional=bidirectional, impl=impl).eval()
        fields = len(stack.init_state(1))
        h0 = [torch.randn(stack.num_layers * stack.num_directions, 3, 5) for _ in range(fields)]
        y, st = stack(x, tuple(h0), lengths=lengths)
        for b, n in enumerate(lengths.tolist()):
            yb, sb = stack(x[b:b + 1, :n], tuple(h[:, b:b + 1] for h in h0))
            torch.testing.assert_close(y[b, :n], yb[0], atol=1e-5, rtol=1e-5, msg=f"{cell} {impl} outputs")
            assert torch.all(y[b, n:] == 0), f"{cell} {impl}: outputs past the end must be zero"
            for s, s1 in zip(st, sb):
                torch.testing.assert_close(s[:, b], s1[:, 0], atol=1e-5, rtol=1e-5, msg=f"{cell} {impl} state")


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_min_cells_scan_equals_sequential_loop(cell: str) -> None:
    x = torch.randn(2, 9, 3)
    h0 = torch.randn(1, 2, 4)
    explicit = Stack(cell, 3, 4, impl="explicit")
    ref_y, ref_s = explicit(x, h0)
    for method in ("sequential", "parallel", "log"):
        scan = Stack(cell, 3, 4, impl="scan", scan_method=method)
        scan.load_state_dict(explicit.state_dict())
        y, s = scan(x, h0)
        torch.testing.assert_close(y, ref_y, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(s.h, ref_s.h, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("merge", list(MERGES))
def test_bidirectional_merges_combine_the_two_directions(merge: str) -> None:
    concat = Stack("gru", 3, 4, bidirectional=True, merge="concat")
    other = Stack("gru", 3, 4, bidirectional=True, merge=merge)
    other.load_state_dict(concat.state_dict())
    x = torch.randn(2, 5, 3)
    f, b = concat(x)[0].split(4, -1)
    want = {"concat": torch.cat([f, b], -1), "sum": f + b, "mean": (f + b) / 2, "mul": f * b}[merge]
    torch.testing.assert_close(other(x)[0], want)
    assert other.output_size == want.shape[-1]


def test_explain_backend_names_the_path_and_the_reason() -> None:
    assert "fused" in Stack("lstm", 3, 4, num_layers=2).explain_backend()
    assert "one fused kernel call" in Stack("lstm", 3, 4, num_layers=2).explain_backend()
    text = Stack("layernorm_lstm", 3, 4).explain_backend()
    assert "layer 0: fastloop" in text and "no fused kernel" in text
    text = Stack("layernorm_gru", 3, 4).explain_backend()
    assert "layer 0: fastloop" in text and "no fused kernel" in text
    text = Stack("gru_reset_before", 3, 4).explain_backend()
    assert "layer 0: explicit" in text and "no fused kernel" in text
    assert "zoneout" in Stack("lstm", 3, 4, zoneout=0.1).explain_backend()
    assert "scan" in Stack("mingru", 3, 4).explain_backend()


def test_impossible_impl_is_an_error_not_a_fallback() -> None:
    with pytest.raises(ValueError, match="impl='fused' is not possible: zoneout"):
        Stack("lstm", 3, 4, impl="fused", zoneout=0.1)
    with pytest.raises(ValueError, match="impl='fused' is not possible: cell 'peephole_lstm'"):
        Stack("peephole_lstm", 3, 4, impl="fused")
    with pytest.raises(ValueError, match="impl='scan' is not possible"):
        Stack("gru", 3, 4, impl="scan")


def test_weight_dropout_keeps_fused_path_and_is_identity_in_eval() -> None:
    plain = Stack("lstm", 3, 4)
    dropped = Stack("lstm", 3, 4, weight_dropout=0.5)
    dropped.load_state_dict(plain.state_dict())
    assert "fused" in dropped.explain_backend()
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(dropped.eval()(x)[0], plain.eval()(x)[0])
    dropped.train()
    assert not torch.allclose(dropped(x)[0], plain(x)[0])


def test_locked_dropout_between_layers_runs_per_layer() -> None:
    s = Stack("gru", 3, 4, num_layers=2, dropout=0.5, dropout_mode="locked")
    assert "separate kernel calls" in s.explain_backend()
    s.eval()
    ref = Stack("gru", 3, 4, num_layers=2)
    ref.load_state_dict(s.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(s(x)[0], ref.eval()(x)[0])


@pytest.mark.parametrize(
    "kwargs, x, lengths, match",
    [
        ({}, torch.randn(2, 3), None, r"shape \(batch, time, 3\), got \(2, 3\)"),
        ({}, torch.randn(2, 4, 5), None, r"shape \(batch, time, 3\), got \(2, 4, 5\)"),
        ({}, torch.randn(2, 4, 3), torch.tensor([4, 5]), r"lengths must lie in \[1, 4\].*max 5"),
        ({}, torch.randn(2, 4, 3), torch.tensor([0, 4]), r"lengths must lie in \[1, 4\].*min 0"),
        ({}, torch.randn(2, 4, 3), torch.tensor([4]), "1-D integer tensor of 2 entries"),
        ({}, torch.randn(2, 4, 3), torch.tensor([4.0, 3.0]), "1-D integer tensor"),
    ],
)
def test_bad_input_errors_name_what_was_received(kwargs: dict, x: torch.Tensor, lengths, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Stack("lstm", 3, 4, **kwargs)(x, lengths=lengths)


def test_bad_construction_errors_list_valid_keys() -> None:
    with pytest.raises(ValueError, match="unknown cell 'lsm'; valid: rnn, rnn_relu, lstm"):
        Stack("lsm", 3, 4)
    with pytest.raises(ValueError, match="unknown merge 'max'; valid: concat, sum, mean, mul"):
        Stack("lstm", 3, 4, bidirectional=True, merge="max")
    with pytest.raises(ValueError, match="unknown impl 'cudnn'"):
        Stack("lstm", 3, 4, impl="cudnn")


def test_bad_state_shape_is_named() -> None:
    s = Stack("lstm", 3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"state.h must have shape .* \(2, 1, 4\), got \(1, 1, 4\)"):
        s(torch.randn(1, 2, 3), (torch.zeros(1, 1, 4), torch.zeros(1, 1, 4)))
    with pytest.raises(ValueError, match=r"LSTMState\('h', 'c'\), got 1 tensors"):
        s(torch.randn(1, 2, 3), torch.zeros(2, 1, 4))


def test_recurrent_streaming_steps_equal_whole_sequence() -> None:
    from rnnkit.cells import build_cell
    from rnnkit.layers import Recurrent

    loop = Recurrent(build_cell("layernorm_lstm", 3, 4))
    x = torch.randn(2, 6, 3)
    y, st = loop(x)
    state = None
    for t in range(6):
        h, state = loop.step(x[:, t], state)
        torch.testing.assert_close(h, y[:, t])
    torch.testing.assert_close(state.c, st.c)
