"""`rnnkit forecast` and `rnnkit backtest` on a trained forecaster (a model directory or an estimator's
model): forecasts past the end of the data or over its held-out tail, and rolling-origin backtests
beside the baselines, each in the model's combination with the baselines (``combine.json``).
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.apps.forecast import SCALER_FILE, refit_forecast
from rnnkit.config import RunConfig
from rnnkit.data.forecast import Frame
from rnnkit.data.forecast_bundle import prepare
from rnnkit.data.forecast_time import step_labels
from rnnkit.errors import ConfigError, DataError
from rnnkit.evaluation.backtest import combination_of, compare_combined, model_forecasts, rolling_origins
from rnnkit.evaluation.combine import combined_forecasts
from rnnkit.models.forecaster import Forecaster
from rnnkit.tasks import IN_MEMORY, load_run


def forecast_run(run_dir: str | Path, horizon: int | None = None, holdout: bool = False) -> dict[str, Any]:
    """Forecast from a model directory (see :func:`forecast_model`), on its own data source."""
    return forecast_model(load_run(run_dir), None, horizon, holdout)


_HORIZON_LOCK = threading.Lock()
IN_MEMORY_FORECASTER = ("this forecaster was trained on data given in memory (from Python), which its model directory "
                        "does not keep: there is no series to forecast from; pass the series "
                        "(rnnkit.load(run).predict(data=df)) or train from a file or bundled set (fit_dataset)")


def forecast_model(model: Forecaster, frame: Frame | None = None, horizon: int | None = None,
                   holdout: bool = False) -> dict[str, Any]:
    """Forecast past the end of the data, or (``holdout``) over the held-out tail; ``frame`` is the
    series (None: the model's data source, read again).

    Returns times, per-series ``mean`` / ``lower`` / ``upper`` (original units), the history used and,
    for ``holdout``, the actual values.
    """
    cfg: RunConfig = model.run_config
    if frame is None and cfg.data.source == IN_MEMORY:
        raise DataError(IN_MEMORY_FORECASTER)
    H, dcfg = horizon or cfg.data.horizon, cfg.data
    if H > cfg.data.horizon:
        if cfg.model.strategy != "recursive":
            raise ConfigError(f"the model was trained for horizon {cfg.data.horizon}; a direct model cannot "
                              f"forecast {H} steps (retrain with data.horizon={H} or model.strategy=recursive)")
        dcfg = dataclasses.replace(dcfg, horizon=H, test_size=max(H, dcfg.test_size))
    bundle = prepare(dcfg, extra=H, scalers=model.artifacts[SCALER_FILE], frame=frame)
    T = len(bundle.frame.targets)
    origin = int(bundle.test_origins[0]) if holdout else T
    if not holdout and bundle.frame.known.shape[1]:
        raise ConfigError("forecasting past the end of the data needs the future values of the known "
                          "covariates, which the data source does not hold; use --holdout")
    # a recursive model rolls forward model.horizon steps: set it for this call only, under a lock (a
    # longer horizon left on the model broke every later shorter forecast; `rnnkit serve` runs requests
    # in threads)
    with _HORIZON_LOCK:
        trained, model.horizon = model.horizon, max(H, cfg.data.horizon)
        try:
            fc = model_forecasts(model, bundle, np.array([origin]), combine=False)
        finally:
            model.horizon = trained
    name = combination_of(model)
    if name is not None:  # outside the lock: ETS / ARIMA fits must not hold up other requests
        fc = combined_forecasts(name, fc, bundle.frame.targets, np.array([origin]), bundle.frame.period,
                                model.interval_level)
    fc = {k: v[0, :, :H] for k, v in fc.items()}
    f = bundle.frame
    out = {"series": f.target_names, "origin": origin,
           "times": step_labels(f.times, f.ordinal, f.freq, origin + np.arange(H)),
           "history_times": bundle.frame.times[:origin], "history": bundle.frame.targets[:origin].T.tolist(),
           "interval": model.interval_level, **{k: v.tolist() for k, v in fc.items()}}
    if name is not None:
        out["combination"] = name
    if holdout:
        out["actual"] = bundle.frame.targets[origin:origin + H].T.tolist()
    return out


def backtest_run(run_dir: str | Path, folds: int = 5, step: int | None = None, refit: str = "auto",
                 baselines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Rolling-origin backtest of a model directory on its own data source (see :func:`backtest_model`)."""
    return backtest_model(load_run(run_dir), None, folds, step, refit, baselines)


def backtest_model(model: Forecaster, frame: Frame | None = None, folds: int = 5, step: int | None = None,
                   refit: str = "auto", baselines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Rolling-origin backtest over the last ``folds`` origins of the data (``frame``; None: the
    model's data source, read again).

    Origins inside the run's held-out tail use the trained model in one batched pass. Earlier origins
    would be in-sample for it, so (``refit="auto"`` or ``"always"``) a fresh model is trained per origin
    on the rows before it only, with the run's config, and forecasts in the run's saved combination
    (``combine.json``, if any: the candidate chosen once, not again per origin); ``refit="never"`` refuses
    such origins.
    ``baselines`` overrides the run's ``data.baselines``.
    """
    if refit not in ("auto", "always", "never"):
        raise ConfigError(f"refit={refit!r}; valid: auto, always, never")
    cfg: RunConfig = model.run_config
    bundle = prepare(cfg.data, scalers=model.artifacts[SCALER_FILE], frame=frame)
    if baselines:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, baselines=tuple(baselines)))
    h = cfg.data.horizon
    origins = rolling_origins(len(bundle.frame.targets), h, folds, step)
    n_train = len(bundle.frame.targets) - (cfg.data.test_size or h)
    in_sample = origins < n_train
    if refit == "never" and in_sample.any():
        raise ConfigError(f"{int(in_sample.sum())} of {folds} origins fall inside the run's training data "
                          f"(before row {n_train}); use refit=auto or fewer folds")
    refitted = refit == "always" or bool(in_sample.any())
    if refitted:  # the refitted networks forecast as the model does: in its saved combination
        parts = [refit_forecast(cfg, bundle, int(o)) for o in origins]
        network = {k: np.concatenate([p[k] for p in parts], 0) for k in parts[0]}
    else:
        network = model_forecasts(model, bundle, origins, combine=False)
    res = compare_combined(bundle, origins, network, combination_of(model), h, baselines=cfg.data.baselines,
                           interval=model.interval_level)
    res["refit"] = refitted
    return res
