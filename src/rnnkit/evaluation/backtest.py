"""Rolling-origin evaluation of a Forecaster against the statistical baselines on identical folds.

A fold is a forecast origin ``t0``: the model (and every baseline) sees only rows before ``t0`` and
forecasts rows ``t0 .. t0+H-1``. The model forecasts every (origin, series) window in ONE batched
forward pass; baselines are fitted per origin (statsmodels has no batched fit).

Metrics, averaged over folds, series and steps (original units):
MAE, RMSE, MAPE and sMAPE (in %), MASE (|error| divided by the in-sample seasonal-naive MAE of the
history before each origin, Hyndman & Koehler 2006) and, for interval forecasts, coverage.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from rnnkit.baselines.forecast import DEFAULT_BASELINES, run_baselines
from rnnkit.data.forecast import pairs
from rnnkit.data.forecast_bundle import ForecastBundle
from rnnkit.evaluation.combine import COMBINE_FILE, blend, combined_forecasts, members_needed

log = logging.getLogger(__name__)

METRICS = ("mae", "rmse", "mape", "smape", "mase")


def mase_scale(history: np.ndarray, period: int) -> float:
    """In-sample MAE of the seasonal naive forecast (naive when the history is shorter than 2 seasons)."""
    m = period if 1 < period < len(history) else 1
    d = np.abs(history[m:] - history[:-m])
    return float(d.mean()) if len(d) and d.mean() > 0 else float("nan")


def forecast_metrics(y: np.ndarray, pred: np.ndarray, scale: np.ndarray, lower: np.ndarray | None = None,
                     upper: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of forecasts ``pred`` against ``y`` (both (N, H)); ``scale`` (N,) is the MASE denominator."""
    err = pred - y
    nz = np.abs(y) > 1e-12
    out = {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "mape": float(100 * np.mean(np.abs(err[nz]) / np.abs(y[nz]))) if nz.any() else float("nan"),
        "smape": float(100 * np.mean(2 * np.abs(err) / np.maximum(np.abs(y) + np.abs(pred), 1e-12))),
        "mase": float(np.nanmean(np.abs(err).mean(1) / scale)),
    }
    if lower is not None and upper is not None:
        out["coverage"] = float(np.mean((y >= lower) & (y <= upper)))
    return out


@torch.no_grad()
def model_forecasts(model: torch.nn.Module, bundle: ForecastBundle, origins: np.ndarray,
                    combine: bool = True) -> dict[str, np.ndarray]:
    """Forecasts in original units for every (origin, series): arrays (N, K, H); one forward pass.

    A model whose artifacts hold a combination with the classical baselines (``combine.json``, see
    :mod:`rnnkit.evaluation.combine`) forecasts that combination; ``combine=False``: the network alone."""
    o, s = pairs(origins, bundle.n_series)
    batch = bundle.windows.batch(o, s, with_target=False)
    device = next(model.parameters()).device
    pred = model.predict({k: v.to(device) for k, v in batch.items()})
    cols = s[:, None]
    shape = (len(origins), bundle.n_series, -1)
    out = {k: bundle.target_scaler.inverse(v.cpu().double().numpy(), cols).reshape(shape) for k, v in pred.items()}
    name = combination_of(model) if combine else None
    if name is None:
        return out
    return combined_forecasts(name, out, bundle.frame.targets, origins, bundle.frame.period,
                              getattr(model, "interval_level", None))


def combination_of(model: torch.nn.Module) -> str | None:
    """The combination a model forecasts in: its config's ``model.combine`` when that names one (an
    evaluation-time ``--set model.combine=...`` too; ``none``: the network), the choice saved in
    ``combine.json`` for ``auto``; None for the network alone."""
    cfg = getattr(model, "run_config", None)
    how = getattr(getattr(cfg, "model", None), "combine", None)
    chosen = (getattr(model, "artifacts", None) or {}).get(COMBINE_FILE)
    if how == "none":
        return None
    if how not in (None, "auto"):
        return how
    if chosen is None:
        if how == "auto":
            _warn_once(f"model.combine=auto but the model directory has no {COMBINE_FILE} (the choice after "
                       "training did not finish: interrupted?): forecasting with the network alone; train "
                       "again with --resume to choose")
        return None
    return chosen["combination"]


def truth(bundle: ForecastBundle, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Observed values (N, K, H) after each origin."""
    idx = np.asarray(origins)[:, None] + np.arange(horizon)
    return bundle.frame.targets[idx].transpose(0, 2, 1)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning("%s", message)


def mase_scales(bundle: ForecastBundle, origins: np.ndarray) -> np.ndarray:
    """(N, K): the MASE denominator of each series at each origin (from the rows before it)."""
    t, period = bundle.frame.targets, bundle.frame.period
    return np.array([[mase_scale(t[:o, k], period) for k in range(bundle.n_series)] for o in origins])


def score(bundle: ForecastBundle, origins: np.ndarray, fc: dict[str, np.ndarray], horizon: int,
          prefix: str = "test_") -> dict[str, float]:
    """The metrics of forecasts ``fc`` at ``origins`` (no baselines)."""
    y = truth(bundle, origins, horizon)
    return {f"{prefix}{k}": v for k, v in _score(y, fc, mase_scales(bundle, origins)).items()}


def _score(y: np.ndarray, f: dict[str, Any], scales: np.ndarray) -> dict[str, float]:
    def flat(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a.reshape(-1, a.shape[-1])

    return forecast_metrics(flat(y), flat(f["mean"]), scales.reshape(-1), flat(f.get("lower")),
                            flat(f.get("upper")))


def compare(bundle: ForecastBundle, origins: np.ndarray, model_fc: dict[str, np.ndarray], horizon: int,
            prefix: str = "test_", baselines: tuple[str, ...] = DEFAULT_BASELINES,
            interval: float | None = 0.9, base: dict[str, dict] | None = None) -> dict[str, Any]:
    """Score the model and the baselines on the same origins; skill = 1 - MASE / best baseline MASE.
    ``base``: the baselines' forecasts at these origins when the caller has fitted them already."""
    y = truth(bundle, origins, horizon)
    scales = mase_scales(bundle, origins)
    res: dict[str, Any] = {f"{prefix}{k}": v for k, v in _score(y, model_fc, scales).items()}
    if interval is not None and "lower" in model_fc:
        res["interval"] = interval
    if base is None:
        base = run_baselines(bundle.frame.targets, origins, horizon, bundle.frame.period, baselines, interval or 0.9)
    else:
        base = {name: base[name] for name in baselines}
    res["baselines"] = {}
    for name, f in base.items():
        scores = _score(y, f, scales)
        res["baselines"][name] = {f"{prefix}{k}": v for k, v in scores.items()}
        if f["failures"]:
            res["baselines"][name]["failures"] = f["failures"]
    best = min(res["baselines"], key=lambda n: res["baselines"][n][f"{prefix}mase"])
    best_mase = res["baselines"][best][f"{prefix}mase"]
    res.update({
        "best_baseline": best,
        # > 0: the RNN is better; None when the best baseline is exact on these origins (a flat stretch)
        "skill_vs_best_baseline": 1 - res[f"{prefix}mase"] / best_mase if best_mase > 0 else None,
        "rnn_loses": bool(res[f"{prefix}mase"] > best_mase),
        "matches_seasonal_naive": bool(res[f"{prefix}mase"] <= res["baselines"]["seasonal_naive"][f"{prefix}mase"])
        if "seasonal_naive" in res["baselines"] else None,
        "folds": len(origins), "series": bundle.n_series, "horizon": horizon,
        "origins": [bundle.frame.times[int(o)] for o in origins],
    })
    if res["rnn_loses"]:
        log.warning("the model loses to %s on MASE (%.3f vs %.3f)", best, res[f"{prefix}mase"], best_mase)
    return res


def compare_combined(bundle: ForecastBundle, origins: np.ndarray, network: dict[str, np.ndarray], name: str | None,
                     horizon: int, prefix: str = "test_",
                     baselines: tuple[str, ...] = DEFAULT_BASELINES,
                     interval: float | None = 0.9) -> dict[str, Any]:
    """:func:`compare` for a model that forecasts in the combination ``name`` (:func:`combination_of`;
    None: the network alone) from the network's forecasts ``network``. Each baseline is fitted once: the
    combination's members are the very fits the comparison scores. With a combination the result also
    holds ``combination`` and the network alone's metrics (``network``)."""
    needed = tuple(dict.fromkeys((*baselines, *members_needed((name,))))) if name else baselines
    base = run_baselines(bundle.frame.targets, origins, horizon, bundle.frame.period, needed, interval or 0.9)
    fc = blend(name, network, base) if name else network
    res = compare(bundle, origins, fc, horizon, prefix, baselines, interval, base)
    if name is not None:
        res["combination"] = name
        res["network"] = score(bundle, origins, network, horizon, prefix)
    return res


def rolling_origins(n_rows: int, horizon: int, folds: int, step: int | None = None) -> np.ndarray:
    """The last ``folds`` origins, ``step`` apart (default: horizon, i.e. non-overlapping forecasts)."""
    step = step or horizon
    origins = n_rows - horizon - step * np.arange(folds)[::-1]
    if origins[0] < 1:
        raise ValueError(f"{folds} folds of horizon {horizon} (step {step}) need more than {n_rows} rows")
    return origins
