"""Forecaster: an encoder `Stack` over the context window, then a multi-step forecast.

Strategies (``model.strategy``):

* ``direct``: the encoder's last output feeds a head that emits all H steps at once: a linear
  head (``decoder="linear"``) or a decoder RNN (``decoder="rnn"``) that starts from the encoder
  state, reads the known-future features of each step and optionally attends over the encoder
  outputs (``attention="additive" | "dot" | ...``, Bahdanau / Luong).
* ``recursive``: a one-step model (teacher-forced over context + horizon in training) whose
  prediction is fed back as the next input for H steps.

Everything happens in scaled space (see ``rnnkit.data.forecast_scaler``). ``skip`` makes the
network predict a correction to a classical forecast rather than the level itself: "last" (naive),
"seasonal" (seasonal naive) or "seasonal_trend" (seasonal naive plus the change between the last
two seasons' means: after log1p, seasonal naive times the yearly growth). The target inputs are
also centred on the mean of the last season of the context, which makes the model invariant to the
series' level (scale, after log1p).

Losses (``model.loss``): "mse" / "mae" give point forecasts; "gaussian" (NLL, mean and scale) and
"quantile" (pinball loss) give prediction intervals. ``ensemble = N`` trains N independent
members side by side in one model (averaged forecasts; a cheap, strong regulariser on tiny series).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.errors import ConfigError
from rnnkit.evaluation.combine import CHOICES as COMBINE_CHOICES
from rnnkit.layers.attention import build_attention
from rnnkit.layers.stack import Stack
from rnnkit.layers.step import StepRunner, use_runner

STRATEGIES, DECODERS = ("direct", "recursive"), ("linear", "rnn")
SKIPS = ("none", "last", "seasonal", "seasonal_trend")
LOSSES = ("mse", "mae", "gaussian", "quantile")
ATTENTIONS = ("none", "additive", "dot", "general", "scaled_dot")


@dataclass(frozen=True)
class ForecasterConfig:
    """Model options of the forecast task (`[model]` in a recipe, `--set model.x=...`)."""

    cell: str = "lstm"
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.0  # between layers
    input_dropout: float = 0.0  # locked (variational) dropout on the encoder inputs
    impl: str = "auto"
    strategy: str = "direct"  # direct | recursive
    decoder: str = "linear"  # linear | rnn  (direct only)
    attention: str = "none"  # none | additive | dot | general | scaled_dot  (decoder=rnn)
    loss: str = "mse"  # mse | mae | gaussian | quantile
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)
    interval: float = 0.9  # central interval of the gaussian loss
    skip: str = "seasonal"  # none | last | seasonal | seasonal_trend
    id_embedding: int = 4  # static series-id embedding (global models over several series)
    ensemble: int = 1
    # none: the network's own forecasts | auto: the network, a classical baseline or their mean, whichever
    # forecasts best from probe origins inside the training rows | a named candidate (rnnkit.evaluation.combine)
    combine: str = "none"

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "hidden_size": "[1, inf)", "num_layers": "[1, inf)", "dropout": "[0, 1)", "input_dropout": "[0, 1)",
        "quantiles": "(0, 1)", "interval": "(0, 1)", "id_embedding": "[0, inf)", "ensemble": "[1, inf)",
    }

    def __post_init__(self) -> None:
        for key, valid in (("strategy", STRATEGIES), ("decoder", DECODERS), ("skip", SKIPS),
                           ("loss", LOSSES), ("attention", ATTENTIONS)):
            if getattr(self, key) not in valid:
                raise ConfigError(f"model.{key}={getattr(self, key)!r}; valid: {', '.join(valid)}")
        if self.combine not in COMBINE_CHOICES:
            raise ConfigError(f"model.combine={self.combine!r}; valid: {', '.join(COMBINE_CHOICES)}")
        if self.attention != "none" and self.decoder != "rnn":
            raise ConfigError("model.attention needs model.decoder=rnn (it attends from decoder states)")
        if self.skip == "seasonal_trend" and self.strategy != "direct":
            raise ConfigError("model.skip=seasonal_trend needs model.strategy=direct")

    @property
    def n_params(self) -> int:
        """Outputs per step: 1 (point), 2 (gaussian mean, scale) or one per quantile."""
        return {"gaussian": 2, "quantile": len(self.quantiles)}.get(self.loss, 1)


class _Net(nn.Module):
    """One ensemble member: encoder + head; returns raw per-step outputs (before adding the base)."""

    def __init__(self, cfg: ForecasterConfig, n_in: int, n_known: int, n_series: int, horizon: int) -> None:
        super().__init__()
        self.cfg, self.horizon, P = cfg, horizon, cfg.n_params
        E = cfg.id_embedding if n_series > 1 else 0
        self.embed = nn.Embedding(n_series, E) if E else None
        self.encoder = Stack(cfg.cell, n_in + E, cfg.hidden_size, cfg.num_layers, dropout=cfg.dropout,
                             impl=cfg.impl, input_dropout=cfg.input_dropout)
        Hd = self.encoder.output_size
        self.known_head = nn.Linear(n_known, P) if n_known else None
        if cfg.strategy == "recursive" or cfg.decoder == "linear":
            self.head = nn.Linear(Hd, P if cfg.strategy == "recursive" else horizon * P)
        else:
            self.decoder = Stack(cfg.cell, n_known + horizon + E, cfg.hidden_size, cfg.num_layers,
                                 dropout=cfg.dropout if cfg.num_layers > 1 else 0.0, impl=cfg.impl)
            self.attn = None if cfg.attention == "none" else build_attention(cfg.attention, Hd, Hd)
            self.head = nn.Linear(Hd * (1 if self.attn is None else 2), P)

    def _with_id(self, x: Tensor, sid: Tensor) -> Tensor:
        if self.embed is None:
            return x
        return torch.cat([x, self.embed(sid)[:, None, :].expand(-1, x.shape[1], -1)], -1)

    def _known(self, out: Tensor, known: Tensor) -> Tensor:
        return out if self.known_head is None else out + self.known_head(known)

    def direct(self, x: Tensor, xf: Tensor, sid: Tensor) -> Tensor:
        """x (B, C, n_in), xf (B, H, n_known) -> (B, H, P)."""
        B, H = x.shape[0], self.horizon
        enc, state = self.encoder(self._with_id(x, sid))  # (B, C, Hd)
        if self.cfg.decoder == "linear":
            return self._known(self.head(enc[:, -1]).view(B, H, -1), xf)
        steps = torch.eye(H, device=x.device, dtype=x.dtype).expand(B, H, H)
        dec, _ = self.decoder(self._with_id(torch.cat([xf, steps], -1), sid), state)  # (B, H, Hd)
        if self.attn is not None:
            ctx, _ = self.attn(dec, enc)
            dec = torch.cat([dec, ctx], -1)
        return self._known(self.head(dec), xf)

    def step(self, x: Tensor, sid: Tensor, known_next: Tensor, state=None,
             runner: StepRunner | None = None) -> tuple[Tensor, object]:
        """One-step-ahead outputs at every position of x: (B, T, n_in) -> (B, T, P), state.
        With ``runner`` (``step_runner()``, T=1 only) the encoder steps through the no-grad
        single-step path instead of a one-step sequence forward; same numbers."""
        if runner is None:
            y, state = self.encoder(self._with_id(x, sid), state)
        else:
            y, state = runner(self._with_id(x, sid)[:, 0], state)
            y = y[:, None]
        return self._known(self.head(y), known_next), state

    def step_runner(self) -> StepRunner | None:
        """The encoder's single-step path for recursive forecasting now, or None (gradients on,
        tracing for export, training-mode dropout): then steps are T=1 forwards."""
        return StepRunner.from_stack(self.encoder) if use_runner(self.encoder) else None


class Forecaster(nn.Module):
    """Multi-step forecaster over scaled windows (see the module docstring); batch = dict of tensors
    ``x (B, C, n_in)`` (target first), ``xf (B, H, n_known)``, ``sid (B,)`` and in training ``y (B, H)``."""

    def __init__(self, cfg: ForecasterConfig, n_in: int, n_known: int, n_series: int, horizon: int,
                 context: int, period: int) -> None:
        super().__init__()
        if cfg.skip == "seasonal_trend" and not 1 < period <= context // 2:
            raise ConfigError(f"model.skip=seasonal_trend needs a season (got {period}) and data.context >= "
                              f"two seasons (got {context})")
        if cfg.strategy == "recursive" and n_in != 1 + n_known:
            raise ConfigError("model.strategy=recursive cannot forecast past covariates (their future is "
                              "unknown); use strategy=direct or declare them known_covariates")
        self.config, self.horizon, self.context = cfg, horizon, context
        self.period = period if 1 < period <= context else 1
        self.level_len = min(max(period, 1), context)
        self.nets = nn.ModuleList(_Net(cfg, n_in, n_known, n_series, horizon) for _ in range(cfg.ensemble))

    # ------------------------------------------------------------------ helpers
    def _centre(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Subtract the mean of the context's last season from the target column."""
        if self.config.skip == "none":
            return x, torch.zeros(x.shape[0], 1, device=x.device, dtype=x.dtype)
        level = x[:, -self.level_len:, :1].mean(1)  # (B, 1)
        return torch.cat([x[..., :1] - level[:, :, None], x[..., 1:]], -1), level

    def _base(self, z: Tensor, t: Tensor) -> Tensor:
        """Classical forecast of positions ``t`` (1-D) from the target history ``z`` (B, T) before them."""
        if self.config.skip == "none":
            return torch.zeros(z.shape[0], len(t), device=z.device, dtype=z.dtype)
        m = 1 if self.config.skip == "last" else self.period
        last = z.shape[1]
        src = torch.where(t - m < last, t - m, last - m + (t - last) % m)  # repeat the last season
        base = z[:, src.clamp(min=0)]
        if self.config.skip == "seasonal_trend":  # direct only: every t is past the context
            growth = z[:, last - m:].mean(1, keepdim=True) - z[:, last - 2 * m:last - m].mean(1, keepdim=True)
            base = base + growth * (1 + (t - last) // m)
        return base

    def _recursive_train(self, net: _Net, x: Tensor, xc: Tensor, xf: Tensor, y: Tensor, sid: Tensor,
                         level: Tensor) -> tuple[Tensor, Tensor]:
        C, H = x.shape[1], y.shape[1]
        feed = torch.cat([(y[:, :-1] - level)[..., None], xf[:, :-1]], -1)  # teacher forcing
        z = torch.cat([x[..., 0], y], 1)  # (B, C + H)
        known = torch.cat([x[..., 1:], xf], 1)
        out, _ = net.step(torch.cat([xc, feed], 1), sid, known[:, 1:])
        t = torch.arange(1, C + H, device=x.device)
        warm = self.period if self.config.skip == "seasonal" else 1
        keep = slice(warm - 1, None)  # positions before one full season have no seasonal base
        return (out + self._base(z, t)[..., None])[:, keep], z[:, 1:][:, keep]

    def _recursive(self, net: _Net, x: Tensor, xc: Tensor, xf: Tensor, sid: Tensor, level: Tensor) -> Tensor:
        C, H = x.shape[1], self.horizon
        z = x[..., 0]
        out, state = net.step(xc, sid, torch.cat([x[:, 1:, 1:], xf[:, :1]], 1))
        runner = net.step_runner()
        outs = []
        o = out[:, -1:]  # (B, 1, P)
        for h in range(H):
            t = torch.arange(C + h, C + h + 1, device=x.device)  # not torch.tensor([C + h]): C stays symbolic in export
            o = o + self._base(z, t)[..., None]
            outs.append(o)
            if h == H - 1:
                break
            z = torch.cat([z, self.point(o)], 1)
            inp = torch.cat([(z[:, -1:] - level)[..., None], xf[:, h:h + 1]], -1)
            o, state = net.step(inp, sid, xf[:, h + 1:h + 2], state, runner)
        return torch.cat(outs, 1)

    def point(self, params: Tensor) -> Tensor:
        """Point forecast from per-step outputs (B, H, P): mean, or the median quantile."""
        if self.config.loss == "quantile":
            q = torch.tensor(self.config.quantiles)
            return params[..., int((q - 0.5).abs().argmin())]
        return params[..., 0]

    def member_outputs(self, batch: dict[str, Tensor], train_y: bool = False) -> list[tuple[Tensor, Tensor]]:
        """[(outputs (B, T', P), targets)] per member; targets only in teacher-forced training."""
        x, xf, sid = batch["x"], batch["xf"], batch["sid"]
        xc, level = self._centre(x)
        res = []
        for net in self.nets:
            if self.config.strategy == "recursive" and train_y:
                res.append(self._recursive_train(net, x, xc, xf, batch["y"], sid, level))
            elif self.config.strategy == "recursive":
                res.append((self._recursive(net, x, xc, xf, sid, level), None))
            else:
                base = self._base(x[..., 0], torch.arange(x.shape[1], x.shape[1] + self.horizon, device=x.device))
                res.append((net.direct(xc, xf, sid) + base[..., None], batch.get("y")))
        return res

    # ------------------------------------------------------------------ contract
    def loss(self, batch: dict[str, Tensor], state=None) -> tuple[Tensor, None, dict[str, Tensor]]:
        total = 0.0
        for out, y in self.member_outputs(batch, train_y=True):
            total = total + forecast_loss(out, y, self.config)
        loss = total / len(self.nets)
        n = torch.tensor(float(batch["y"].numel()))
        return loss, None, {"loss_sum": loss.detach() * n, "count": n}

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Scaled forecasts: ``mean`` (B, H) and, for probabilistic losses, ``lower`` / ``upper``."""
        outs = [o for o, _ in self.member_outputs(batch)]
        cfg, stacked = self.config, torch.stack(outs)  # (M, B, H, P)
        if cfg.loss == "gaussian":
            mu, sd = stacked[..., 0], F.softplus(stacked[..., 1]) + 1e-3
            mean = mu.mean(0)
            sd = ((sd ** 2 + mu ** 2).mean(0) - mean ** 2).clamp(min=1e-12).sqrt()  # mixture moments
            zq = NormalDist().inv_cdf((1 + cfg.interval) / 2)  # a Python float: the ONNX export has no erfinv
            return {"mean": mean, "lower": mean - zq * sd, "upper": mean + zq * sd}
        if cfg.loss == "quantile":
            qs = stacked.mean(0).sort(-1).values  # average quantiles (Vincentization), no crossing
            return {"mean": self.point(qs), "lower": qs[..., 0], "upper": qs[..., -1]}
        return {"mean": stacked[..., 0].mean(0)}

    @property
    def interval_level(self) -> float | None:
        if self.config.loss == "gaussian":
            return self.config.interval
        if self.config.loss == "quantile":
            return max(self.config.quantiles) - min(self.config.quantiles)
        return None


def forecast_loss(out: Tensor, y: Tensor, cfg: ForecasterConfig) -> Tensor:
    """Mean loss of per-step outputs ``out (B, T, P)`` against targets ``y (B, T)``."""
    if cfg.loss == "mse":
        return F.mse_loss(out[..., 0], y)
    if cfg.loss == "mae":
        return F.l1_loss(out[..., 0], y)
    if cfg.loss == "gaussian":
        sd = F.softplus(out[..., 1]) + 1e-3
        return (torch.log(sd) + 0.5 * ((y - out[..., 0]) / sd) ** 2).mean()
    q = torch.tensor(cfg.quantiles, device=out.device, dtype=out.dtype)
    err = y[..., None] - out
    return torch.maximum(q * err, (q - 1) * err).sum(-1).mean()
