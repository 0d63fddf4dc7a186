"""Split a forecasting frame by time, fit scalers on the training rows only, build the windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.data.forecast import ForecastTrainData, Frame, Windows, load_frame
from rnnkit.data.forecast_scaler import Scaler
from rnnkit.data.forecast_time import calendar_features
from rnnkit.errors import DataError


@dataclass
class ForecastBundle:
    """Everything the forecast task needs: frame, windows, split origins, scalers, training data."""

    frame: Frame
    windows: Windows
    target_scaler: Scaler
    train_origins: np.ndarray
    val_origins: np.ndarray
    test_origins: np.ndarray
    train: ForecastTrainData | None
    meta: dict

    @property
    def n_series(self) -> int:
        return self.frame.targets.shape[1]


def split_sizes(n_rows: int, cfg: Any, cutoff: int | None = None) -> tuple[int, int]:
    """(n_fit, n_train): rows usable for fitting, and rows before the held-out tail.

    ``cutoff`` (for refitting backtests) pretends the data ends there for the training part.
    """
    test = cfg.test_size or cfg.horizon
    if cfg.horizon > test:
        raise DataError(f"data.horizon={cfg.horizon} is longer than the held-out tail data.test_size={test}")
    n_train = (n_rows - test) if cutoff is None else cutoff
    n_fit = n_train - cfg.val_size
    if cfg.val_size and cfg.val_size < cfg.horizon:
        raise DataError(f"data.val_size={cfg.val_size} must be 0 or >= data.horizon={cfg.horizon}")
    need = cfg.context + cfg.horizon
    if n_fit < need:
        raise DataError(f"series too short: {n_rows} rows, {test} held out and {cfg.val_size} for validation leave "
                        f"{n_fit} training rows, but one window needs context + horizon = {cfg.context} + "
                        f"{cfg.horizon} = {need}; lower data.context or data.horizon")
    return n_fit, n_train


def build_windows(frame: Frame, cfg: Any, n_fit: int, extra: int,
                  scalers: dict | None = None) -> tuple[Windows, Scaler, dict]:
    """Scale with scalers fitted on rows ``[:n_fit]`` (or given ones, e.g. from scaler.json)."""
    if scalers is None:
        ys = Scaler.fit(frame.targets[:n_fit], cfg.scaler, tuple(frame.target_names))
        covs = np.concatenate([frame.past, frame.known], axis=1)
        cs = Scaler.fit(covs[:n_fit], "standard" if covs.shape[1] else "none",
                        tuple(frame.past_names + frame.known_names))
    else:
        ys, cs = Scaler.from_dict(scalers["target"]), Scaler.from_dict(scalers["covariates"])
    T, P = len(frame.targets), frame.past.shape[1]
    covs = cs.transform(np.concatenate([frame.past, frame.known], axis=1)) if cs.a else np.zeros((T, 0))
    known_user = np.full((T + extra, frame.known.shape[1]), np.nan)
    known_user[:T] = covs[:, P:]
    cal, cal_names = (calendar_features(np.arange(frame.ordinal[0], frame.ordinal[-1] + 1 + extra), frame.freq)
                      if cfg.calendar else (np.zeros((T + extra, 0)), []))
    known = np.concatenate([known_user, cal], axis=1)
    w = Windows(ys.transform(frame.targets), covs[:, :P], known, n_fit, T, cfg.context, cfg.horizon)
    art = {"target": ys.to_dict(), "covariates": cs.to_dict(), "series": frame.target_names,
           "freq": frame.freq, "seasonal_period": frame.period, "n_past": P, "n_known": known.shape[1],
           "known_names": frame.known_names + cal_names, "past_names": frame.past_names}
    return w, ys, art


def prepare(cfg: Any, batch_size: int = 32, seed: int = 0, cutoff: int | None = None,
            extra: int = 0, scalers: dict | None = None, frame: Frame | None = None) -> ForecastBundle:
    """Load, split by time, fit scalers on the training rows, and build the windows of every split."""
    frame = frame or load_frame(cfg)
    T = len(frame.targets)
    n_fit, n_train = split_sizes(T, cfg, cutoff)
    windows, ys, art = build_windows(frame, cfg, n_fit, max(extra, cfg.horizon), scalers)
    h, c = cfg.horizon, cfg.context
    train_o = np.arange(c, n_fit - h + 1)
    val_o = np.arange(n_fit, n_train - h + 1) if cfg.val_size else np.zeros(0, dtype=np.int64)
    test_end = T if cutoff is None else min(T, cutoff + (cfg.test_size or h))
    test_o = np.arange(n_train, test_end - h + 1, h)
    train = ForecastTrainData(windows, train_o, frame.targets.shape[1], batch_size, seed)
    return ForecastBundle(frame, windows, ys, train_o, val_o, test_o, train, art)
