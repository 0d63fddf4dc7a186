"""Regularisers: mask structure and statistics, gradients to raw weights, zoneout modes, penalties."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.layers.regularize import LockedDropout, param_group, penalty, weight_drop, zoneout


def test_locked_dropout_mask_constant_over_time_and_scaled():
    torch.manual_seed(0)
    p = 0.3
    drop = LockedDropout(p).train()
    x = torch.randn(64, 10, 50)
    y = drop(x)
    ratio = y / x  # the mask / (1 - p) at each position
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))  # same at every step
    kept = ratio != 0
    torch.testing.assert_close(ratio[kept], torch.full_like(ratio[kept], 1 / (1 - p)))  # kept: x / (1-p)
    assert abs((ratio[:, 0] == 0).float().mean().item() - p) < 0.03  # 3200 draws, sd ~ 0.008
    # E[y] = x: mean of the mask over many sequences is 1
    big = drop(torch.ones(4000, 2, 8))
    assert abs(big.mean().item() - 1.0) < 0.03


def test_locked_dropout_eval_and_p0_identity():
    x = torch.randn(2, 5, 3)
    assert LockedDropout(0.5).eval()(x) is x
    assert LockedDropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LockedDropout(1.0)


def test_weight_drop_mask_statistics_and_gradient():
    torch.manual_seed(1)
    p = 0.4
    w = torch.randn(200, 200, requires_grad=True)
    wd = weight_drop(w, p, training=True)
    kept = wd != 0
    assert abs(1 - kept.float().mean().item() - p) < 0.02  # 40000 draws, sd ~ 0.0025
    torch.testing.assert_close(wd[kept], w.detach()[kept] / (1 - p))
    (wd * 3.0).sum().backward()
    torch.testing.assert_close(w.grad, kept.float() * 3.0 / (1 - p))
    assert weight_drop(w, p, training=False) is w
    assert weight_drop(w, 0.0, training=True) is w
    # one mask per call: two calls differ
    assert not torch.equal(weight_drop(w, p, True) != 0, weight_drop(w, p, True) != 0)


def test_weight_drop_through_fused_lstm_kernel():
    """The functional copy is fed to nn.LSTM's fused kernel; grads reach the raw weight, masked."""
    torch.manual_seed(2)
    lstm = nn.LSTM(3, 8, batch_first=True)
    x = torch.randn(2, 5, 3)
    raw = lstm.weight_hh_l0
    dropped = weight_drop(raw, 0.5, training=True)
    y, _ = torch.func.functional_call(lstm, {"weight_hh_l0": dropped}, (x,))
    y.sum().backward()
    assert raw.grad is not None and raw.grad.abs().sum() > 0
    assert torch.all(raw.grad[dropped == 0] == 0)
    # eval: identical to the plain module
    y_eval, _ = torch.func.functional_call(lstm, {"weight_hh_l0": weight_drop(raw, 0.5, False)}, (x,))
    torch.testing.assert_close(y_eval, lstm(x)[0])


def test_zoneout_training_mixes_prev_and_new():
    torch.manual_seed(3)
    p = 0.25
    h_new, h_prev = torch.randn(100, 100), torch.randn(100, 100)
    h = zoneout(h_new, h_prev, p, training=True)
    from_prev, from_new = h == h_prev, h == h_new
    assert torch.all(from_prev | from_new)
    assert abs(from_prev.float().mean().item() - p) < 0.02
    torch.testing.assert_close(zoneout(h_new, h_prev, 0.0, True), h_new)


def test_zoneout_eval_is_expectation():
    p = 0.3
    h_new, h_prev = torch.tensor([[1.0, -2.0]]), torch.tensor([[3.0, 5.0]])
    out = zoneout(h_new, h_prev, p, training=False)
    torch.testing.assert_close(out, torch.tensor([[0.3 * 3 + 0.7 * 1, 0.3 * 5 + 0.7 * -2]]))
    # and the mean of many training draws approaches it
    torch.manual_seed(4)
    draws = torch.stack([zoneout(h_new, h_prev, p, True) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(draws, out, atol=0.15, rtol=0)
    with pytest.raises(ValueError, match="equal shapes"):
        zoneout(torch.zeros(2, 3), torch.zeros(3, 2), p, True)


def test_param_group_names():
    assert param_group("rnn.weight_ih_l0") == "input"
    assert param_group("cell.weight_hh_raw") == "recurrent"
    assert param_group("rnn.bias_hh_l1_reverse") == "bias"
    assert param_group("bias_net.weight") is None
    assert param_group("embed.weight") is None


def test_penalty_matches_hand_sum_on_lstm():
    torch.manual_seed(5)
    model = nn.ModuleDict({"rnn": nn.LSTM(3, 4, num_layers=2), "embed": nn.Embedding(5, 3)})
    rnn = model["rnn"]
    w_ih = [rnn.weight_ih_l0, rnn.weight_ih_l1]
    w_hh = [rnn.weight_hh_l0, rnn.weight_hh_l1]
    bias = [rnn.bias_ih_l0, rnn.bias_hh_l0, rnn.bias_ih_l1, rnn.bias_hh_l1]

    def l1(ws):
        return sum(w.abs().sum() for w in ws)

    def l2(ws):
        return sum((w**2).sum() for w in ws)

    expected = 0.01 * (l1(w_ih) + l1(w_hh) + l1(bias)) + 0.1 * (l2(w_ih) + l2(w_hh) + l2(bias))
    torch.testing.assert_close(penalty(model, l1=0.01, l2=0.1), expected)
    # only the recurrent group
    torch.testing.assert_close(penalty(model, l2=0.1, groups=("recurrent",)), 0.1 * l2(w_hh))
    # per-group coefficients
    got = penalty(model, l1={"input": 0.5}, l2={"recurrent": 2.0, "bias": 0.3})
    torch.testing.assert_close(got, 0.5 * l1(w_ih) + 2.0 * l2(w_hh) + 0.3 * l2(bias))
    # differentiable
    got.backward()
    torch.testing.assert_close(rnn.weight_hh_l1.grad, 4.0 * rnn.weight_hh_l1.detach())
    assert model["embed"].weight.grad is None
    assert penalty(model).item() == 0.0
    with pytest.raises(ValueError, match="valid groups: input, recurrent, bias"):
        penalty(model, l2=0.1, groups=("hidden",))
