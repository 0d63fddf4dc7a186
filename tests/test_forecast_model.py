"""Forecaster: strategies against hand-computed values, the seasonal skip, learning a noisy sine,
and interval coverage on a synthetic Gaussian series."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.train.fit import fit


def _linear_relu_encoder(net) -> None:
    """h_t = relu(x_t + 0.5 h_{t-1}): linear for positive inputs, so it can be computed by hand."""
    cell = net.encoder.cells[0]
    with torch.no_grad():
        cell.weight_ih.fill_(1.0)
        cell.weight_hh.fill_(0.5)
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()


def _hand_states(xs: list[float]) -> list[float]:
    h, out = 0.0, []
    for x in xs:
        h = max(0.0, x + 0.5 * h)
        out.append(h)
    return out


X = [1.0, 2.0, 3.0, 4.0]
BATCH = {"x": torch.tensor(X)[None, :, None], "xf": torch.zeros(1, 3, 0), "sid": torch.zeros(1, dtype=torch.long)}


def test_direct_linear_head_by_hand() -> None:
    cfg = ForecasterConfig(cell="rnn_relu", hidden_size=1, skip="none", id_embedding=0)
    m = Forecaster(cfg, n_in=1, n_known=0, n_series=1, horizon=3, context=4, period=1).eval()
    _linear_relu_encoder(m.nets[0])
    with torch.no_grad():
        m.nets[0].head.weight.copy_(torch.tensor([[1.0], [2.0], [3.0]]))
        m.nets[0].head.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
    h4 = _hand_states(X)[-1]  # 6.125
    expected = [1 * h4 + 0.1, 2 * h4 + 0.2, 3 * h4 + 0.3]
    np.testing.assert_allclose(m.predict(BATCH)["mean"][0].numpy(), expected, rtol=1e-6)


def test_recursive_feeds_predictions_back_by_hand() -> None:
    cfg = ForecasterConfig(cell="rnn_relu", hidden_size=1, skip="none", id_embedding=0, strategy="recursive")
    m = Forecaster(cfg, n_in=1, n_known=0, n_series=1, horizon=3, context=4, period=1).eval()
    _linear_relu_encoder(m.nets[0])
    with torch.no_grad():
        m.nets[0].head.weight.fill_(0.5)
        m.nets[0].head.bias.fill_(0.1)
    xs, preds = list(X), []
    for _ in range(3):  # feed each prediction back as the next input
        y = 0.5 * _hand_states(xs)[-1] + 0.1
        preds.append(y)
        xs.append(y)
    np.testing.assert_allclose(m.predict(BATCH)["mean"][0].numpy(), preds, rtol=1e-6)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_seasonal_skip_with_zero_network_is_seasonal_naive(strategy) -> None:
    cfg = ForecasterConfig(hidden_size=4, skip="seasonal", id_embedding=0, strategy=strategy)
    m = Forecaster(cfg, n_in=1, n_known=0, n_series=1, horizon=6, context=8, period=4).eval()
    with torch.no_grad():
        m.nets[0].head.weight.zero_()
        m.nets[0].head.bias.zero_()
    z = torch.randn(2, 8)
    batch = {"x": z[..., None], "xf": torch.zeros(2, 6, 0), "sid": torch.zeros(2, dtype=torch.long)}
    expected = z[:, [4, 5, 6, 7, 4, 5]]  # the last season, repeated
    torch.testing.assert_close(m.predict(batch)["mean"], expected)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="model.loss='huber'; valid: mse, mae, gaussian, quantile"):
        ForecasterConfig(loss="huber")
    with pytest.raises(ConfigError, match="attention needs model.decoder=rnn"):
        ForecasterConfig(attention="additive")
    with pytest.raises(ConfigError, match="recursive cannot forecast past covariates"):
        Forecaster(ForecasterConfig(strategy="recursive"), n_in=3, n_known=1, n_series=1, horizon=2,
                   context=4, period=1)


class _Windows:
    """Minimal TrainData over fixed tensors (the real one is tested in test_forecast_data)."""

    carries_state = False

    def __init__(self, batch: dict, bs: int) -> None:
        self.b, self.bs = batch, bs

    def epoch(self, epoch: int, start: int = 0):
        perm = torch.randperm(len(self.b["y"]), generator=torch.Generator().manual_seed(epoch))
        for i, s in enumerate(range(0, len(perm), self.bs)):
            if i >= start:
                yield {k: v[perm[s:s + self.bs]] for k, v in self.b.items()}


def _windows(series: np.ndarray, C: int, H: int, origins) -> dict:
    o = np.asarray(origins)[:, None]
    x = torch.tensor(series[o + np.arange(-C, 0)], dtype=torch.float32)[..., None]
    y = torch.tensor(series[o + np.arange(H)], dtype=torch.float32)
    return {"x": x, "xf": torch.zeros(len(o), H, 0), "sid": torch.zeros(len(o), dtype=torch.long), "y": y}


@pytest.mark.parametrize("cfg", [
    ForecasterConfig(cell="gru", hidden_size=16, skip="none"),
    ForecasterConfig(cell="lstm", hidden_size=16, skip="none", decoder="rnn", attention="dot"),
    ForecasterConfig(cell="gru", hidden_size=16, skip="none", strategy="recursive"),
])
def test_learns_noisy_sine(cfg) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(600)
    clean = np.sin(2 * np.pi * t / 20)
    series = clean + 0.1 * rng.standard_normal(len(t))
    C, H = 30, 5
    train = _windows(series, C, H, range(C, 500 - H))
    model = Forecaster(cfg, 1, 0, 1, H, C, 1)
    fit(model, _Windows(train, 32), TrainConfig(max_steps=300, lr=1e-2, eval_every=300, log_every=300,
                                                schedule="cosine"))
    test = _windows(series, C, H, range(500, 600 - H))
    pred = model.eval().predict(test)["mean"].numpy()
    clean_y = clean[np.arange(500, 600 - H)[:, None] + np.arange(H)]
    rmse = np.sqrt(((pred - clean_y) ** 2).mean())
    naive_rmse = np.sqrt(((test["x"][:, -1, 0].numpy()[:, None] - clean_y) ** 2).mean())
    assert rmse < 0.1 and rmse < naive_rmse / 3, (rmse, naive_rmse)


@pytest.mark.parametrize("loss", ["gaussian", "quantile"])
def test_interval_coverage_near_nominal(loss) -> None:
    """AR(1) with Gaussian noise: the 90% interval should hold ~90% of unseen values."""
    rng = np.random.default_rng(1)
    n, phi = 3000, 0.8
    e = rng.standard_normal(n)
    series = np.zeros(n)
    for i in range(1, n):
        series[i] = phi * series[i - 1] + e[i]
    C, H = 10, 3
    cfg = ForecasterConfig(cell="gru", hidden_size=8, skip="none", loss=loss, quantiles=(0.05, 0.5, 0.95),
                           interval=0.9)
    model = Forecaster(cfg, 1, 0, 1, H, C, 1)
    fit(model, _Windows(_windows(series, C, H, range(C, 2000 - H)), 64),
        TrainConfig(max_steps=400, lr=5e-3, eval_every=400, log_every=400))
    test = _windows(series, C, H, range(2000, n - H))
    p = model.eval().predict(test)
    y = test["y"]
    coverage = ((y >= p["lower"]) & (y <= p["upper"])).float().mean().item()
    assert 0.85 <= coverage <= 0.95, coverage
    # and the width grows with the horizon like the true AR(1) forecast variance
    width = (p["upper"] - p["lower"]).mean(0)
    assert width[0] < width[2]


def test_seasonal_trend_skip_by_hand() -> None:
    """Seasonal naive + (last season mean - previous season mean) per season ahead, by hand."""
    cfg = ForecasterConfig(hidden_size=4, skip="seasonal_trend", id_embedding=0)
    m = Forecaster(cfg, n_in=1, n_known=0, n_series=1, horizon=6, context=8, period=4).eval()
    with torch.no_grad():
        m.nets[0].head.weight.zero_()
        m.nets[0].head.bias.zero_()
    z = torch.tensor([[0.0, 1, 2, 3, 4, 6, 5, 7]])  # season means 1.5 then 5.5: growth 4 per season
    batch = {"x": z[..., None], "xf": torch.zeros(1, 6, 0), "sid": torch.zeros(1, dtype=torch.long)}
    torch.testing.assert_close(m.predict(batch)["mean"], torch.tensor([[8.0, 10, 9, 11, 12, 14]]))
    with pytest.raises(ConfigError, match="two seasons"):
        Forecaster(cfg, n_in=1, n_known=0, n_series=1, horizon=6, context=6, period=4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu", "layernorm_lstm"])
def test_recursive_steps_through_the_step_path_equal_one_step_forwards(cell, monkeypatch) -> None:
    """predict() feeds each forecast back through the encoder's no-grad single-step path; the
    same recursion through T=1 forwards of the Stack (the path with gradients) gives the same."""
    from rnnkit.models.forecaster import _Net

    torch.manual_seed(0)
    cfg = ForecasterConfig(cell=cell, hidden_size=8, num_layers=2, strategy="recursive", skip="last",
                           loss="gaussian", ensemble=2)
    m = Forecaster(cfg, n_in=2, n_known=1, n_series=3, horizon=5, context=6, period=1).eval()
    batch = {"x": torch.randn(4, 6, 2), "xf": torch.randn(4, 5, 1), "sid": torch.tensor([0, 1, 2, 1])}
    with torch.no_grad():
        assert m.nets[0].step_runner() is not None
    assert m.nets[0].step_runner() is None  # gradients on (saliency): the autograd path
    fast = m.predict(batch)
    monkeypatch.setattr(_Net, "step_runner", lambda self: None)
    slow = m.predict(batch)
    for k in ("mean", "lower", "upper"):
        torch.testing.assert_close(fast[k], slow[k], atol=1e-5, rtol=0)
