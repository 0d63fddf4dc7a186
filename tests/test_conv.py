"""ConvFrontEnd: lengths formula vs real output shapes, padding does not leak, 'same' padding."""

from __future__ import annotations

import pytest
import torch

from rnnkit.layers.conv import ConvFrontEnd

CONFIGS = [
    dict(kernel_size=3, num_layers=1, stride=1, pool=1),
    dict(kernel_size=4, num_layers=1, stride=1, pool=1),
    dict(kernel_size=5, num_layers=2, stride=2, pool=1),
    dict(kernel_size=3, num_layers=2, stride=1, pool=2),
    dict(kernel_size=2, num_layers=2, stride=2, pool=2),
    dict(kernel_size=1, num_layers=1, stride=3, pool=2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_lengths_formula_matches_each_sequence_alone(cfg):
    """lengths_out[b] equals the time length the layers produce for sequence b run on its own."""
    torch.manual_seed(0)
    fe = ConvFrontEnd(3, 5, **cfg).eval()
    for T in range(20, 41, 7):
        y, lengths = fe(torch.randn(2, T, 3))
        assert y.shape == (2, int(lengths[0]), 5)
        assert lengths.tolist() == [y.shape[1]] * 2
        # independent check with torch's own output-size arithmetic: conv then pool, per layer
        t = T
        for _ in range(cfg["num_layers"]):
            t = (t + cfg["kernel_size"] - 1 - cfg["kernel_size"]) // cfg["stride"] + 1
            t = t // cfg["pool"]
        assert y.shape[1] == t


def test_same_padding_keeps_length_for_stride_one():
    for k in (1, 2, 3, 4, 7):
        y, lengths = ConvFrontEnd(3, 4, kernel_size=k, num_layers=2)(torch.randn(2, 11, 3))
        assert y.shape == (2, 11, 4) and lengths.tolist() == [11, 11]


def test_single_layer_matches_conv1d_reference():
    """Odd kernel, stride 1: same as torch Conv1d(padding=k//2) + ReLU, time-major transposes."""
    torch.manual_seed(1)
    fe = ConvFrontEnd(3, 4, kernel_size=5)
    x = torch.randn(2, 9, 3)
    ref = torch.nn.Conv1d(3, 4, 5, padding=2)
    ref.load_state_dict(fe.convs[0].state_dict())
    y, _ = fe(x)
    torch.testing.assert_close(y, torch.relu(ref(x.transpose(1, 2))).transpose(1, 2))


@pytest.mark.parametrize("cfg", CONFIGS)
def test_padded_batch_equals_each_sequence_alone(cfg):
    torch.manual_seed(2)
    fe = ConvFrontEnd(3, 5, activation="tanh", **cfg).eval()
    lens = [30, 23, 17, 12]
    T = max(lens)
    seqs = [torch.randn(n, 3) for n in lens]
    batch = torch.full((len(lens), T, 3), 5.0)  # garbage, not zeros, in the padding
    for b, s in enumerate(seqs):
        batch[b, : len(s)] = s
    y, out_len = fe(batch, torch.tensor(lens))
    for b, s in enumerate(seqs):
        y_b, len_b = fe(s[None])
        assert int(out_len[b]) == y_b.shape[1] == int(len_b[0])
        torch.testing.assert_close(y[b, : y_b.shape[1]], y_b[0])
        assert torch.all(y[b, y_b.shape[1] :] == 0)


def test_output_size_and_errors():
    fe = ConvFrontEnd(3, 8, pool=4)
    assert fe.output_size == 8
    with pytest.raises(ValueError, match="valid names:.*relu"):
        ConvFrontEnd(3, 8, activation="swish2")
    with pytest.raises(ValueError, match=r"x must be \(B, T, 3\), got \(2, 10, 4\)"):
        fe(torch.randn(2, 10, 4))
    with pytest.raises(ValueError, match="too short"):
        fe(torch.randn(2, 10, 3), torch.tensor([10, 3]))
    with pytest.raises(ValueError, match="1 <= lengths <= T"):
        fe(torch.randn(2, 10, 3), torch.tensor([11, 5]))


def test_gradient_does_not_reach_padding():
    fe = ConvFrontEnd(2, 3, kernel_size=3, num_layers=2)
    x = torch.randn(2, 8, 2, requires_grad=True)
    y, _ = fe(x, torch.tensor([8, 5]))
    y.sum().backward()
    assert torch.all(x.grad[1, 5:] == 0) and x.grad[1, :5].abs().sum() > 0
