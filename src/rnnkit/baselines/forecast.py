"""Statistical forecasting baselines, run on exactly the folds the RNN is scored on.

Each baseline maps one history ``(T,)`` (everything before a forecast origin, nothing after) to a
forecast ``(H,)`` and optionally a central prediction interval:

* ``naive``: the last value.  ``seasonal_naive``: the value one season earlier (the last season
  repeated), the MASE reference.
* ``ets``: Holt-Winters exponential smoothing (statsmodels ``ExponentialSmoothing``): additive
  damped trend, multiplicative season for positive series (additive otherwise), fitted by MLE.
* ``theta``: the Theta method (Assimakopoulos & Nikolopoulos 2000; the M3 competition's best), as
  statsmodels ``ThetaModel`` fits it: simple exponential smoothing with a drift of half the linear
  trend's slope (Hyndman & Billah 2003), on the history deseasonalised (multiplicatively for a
  positive series) when it holds two seasons and a seasonality test finds one.
* ``arima``: statsmodels ``SARIMAX``. Positive series are modelled in logs. The order is picked
  by AIC on the first fold from a small grid (:func:`choose_arima_order`; seasonal (0,1,1) with
  d = D = 1 when the season is at most 24 steps) and refitted, with that order, on every fold.

statsmodels warnings about convergence are silenced; a fit that fails falls back to seasonal
naive and is counted in the result (``failures``) so it is never hidden.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

Forecast = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]  # mean, lower, upper


def naive(history: np.ndarray, horizon: int, period: int, **_) -> Forecast:
    return np.full(horizon, history[-1], dtype=np.float64), None, None


def seasonal_naive(history: np.ndarray, horizon: int, period: int, **_) -> Forecast:
    m = period if 1 < period <= len(history) else 1
    idx = len(history) - m + np.arange(horizon) % m
    return history[idx].astype(np.float64), None, None


def ets(history: np.ndarray, horizon: int, period: int, **_) -> Forecast:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = None
    if period > 1 and len(history) >= 2 * period + 2:
        seasonal = "mul" if history.min() > 0 else "add"
    model = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal=seasonal,
                                 seasonal_periods=period if seasonal else None, initialization_method="estimated")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit()
    return np.asarray(fit.forecast(horizon), dtype=np.float64), None, None


def theta(history: np.ndarray, horizon: int, period: int, alpha: float = 0.1, **_) -> Forecast:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    seasonal = 1 < period and len(history) >= 2 * period
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ThetaModel(history.astype(np.float64), period=period if seasonal else 1, deseasonalize=seasonal,
                         method="auto" if history.min() > 0 else "additive").fit()
        mean = np.asarray(fit.forecast(horizon), dtype=np.float64)
        iv = np.asarray(fit.prediction_intervals(horizon, alpha=alpha), dtype=np.float64)
    return mean, iv[:, 0], iv[:, 1]


def _sarimax(history: np.ndarray, order: tuple, seasonal: tuple):
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SARIMAX(history, order=order, seasonal_order=seasonal, trend="n").fit(disp=False)


def choose_arima_order(history: np.ndarray, period: int) -> tuple[tuple, tuple]:
    """(order, seasonal_order) with the lowest AIC over a small grid (on the transformed history).

    The differencing is fixed first (AIC is not comparable across differencing orders): seasonal
    series get the "airline" differencing d = D = 1 with a seasonal MA(1) and p, q in 0..1;
    others get d = 1 when the lag-1 autocorrelation exceeds 0.9 (else 0) and p in 0..2, q in 0..1.
    """
    if 1 < period <= 24 and len(history) >= 3 * period:
        seasonal, d, ps = (0, 1, 1, period), 1, range(2)
    else:
        x = history - history.mean()
        r1 = float(x[1:] @ x[:-1] / max(x @ x, 1e-12))
        seasonal, d, ps = (0, 0, 0, 0), int(r1 > 0.9), range(3)
    best, best_aic = ((1, d, 0), seasonal), np.inf
    for p, q in itertools.product(ps, range(2)):
        try:
            aic = _sarimax(history, (p, d, q), seasonal).aic
        except Exception:  # noqa: BLE001 - a grid point that does not fit is skipped
            continue
        if np.isfinite(aic) and aic < best_aic:
            best, best_aic = ((p, d, q), seasonal), aic
    return best


def arima(history: np.ndarray, horizon: int, period: int, order: tuple | None = None,
          alpha: float = 0.1, **_) -> Forecast:
    log_scale = history.min() > 0
    h = np.log(history) if log_scale else history.astype(np.float64)
    order = order or choose_arima_order(h, period)
    res = _sarimax(h, *order).get_forecast(horizon)
    mean, ci = np.asarray(res.predicted_mean), np.asarray(res.conf_int(alpha=alpha))
    f = np.exp if log_scale else (lambda v: v)
    return f(mean), f(ci[:, 0]), f(ci[:, 1])


BASELINES: dict[str, Callable[..., Forecast]] = {
    "naive": naive, "seasonal_naive": seasonal_naive, "ets": ets, "arima": arima, "theta": theta,
}
#: the baselines a forecast run scores unless ``data.baselines`` names others: every one of them
DEFAULT_BASELINES: tuple[str, ...] = tuple(BASELINES)


def run_baselines(series: np.ndarray, origins: np.ndarray, horizon: int, period: int,
                  names: tuple[str, ...] = tuple(BASELINES), interval: float = 0.9) -> dict[str, dict]:
    """Forecasts of every baseline at every origin for each column of ``series (T, K)``.

    Returns ``{name: {"mean": (N, K, H), "lower"/"upper": (N, K, H) or None, "failures": int}}``
    with ``N = len(origins)``; each forecast sees only ``series[:origin]``.
    """
    # statsmodels' state-space fits are thousands of tiny matrix products: a multi-threaded BLAS spends
    # them synchronising threads (10x slower on 2 busy cores: 37 s vs 3.5 s for the ARIMA order search
    # of one 200-row series), so the baselines run on one BLAS thread
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run_baselines(series.reshape(len(series), -1), origins, horizon, period, names, interval)


def _run_baselines(series: np.ndarray, origins: np.ndarray, horizon: int, period: int, names: tuple[str, ...],
                   interval: float) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in names:
        if name not in BASELINES:
            raise ValueError(f"unknown baseline {name!r}; valid: {', '.join(BASELINES)}")
        fn, failures = BASELINES[name], 0
        mean = np.zeros((len(origins), series.shape[1], horizon))
        lower, upper = np.full_like(mean, np.nan), np.full_like(mean, np.nan)
        for k in range(series.shape[1]):
            order = None
            for i, o in enumerate(origins):
                hist = series[:o, k]
                try:
                    if name == "arima" and order is None:
                        t = np.log(hist) if hist.min() > 0 else hist
                        order = choose_arima_order(t, period)
                        log.info("arima order for column %d: %s x %s", k, *order)
                    m, lo, up = fn(hist, horizon, period, order=order, alpha=1 - interval)
                    if not np.all(np.isfinite(m)):
                        raise FloatingPointError("non-finite forecast")
                except Exception as e:  # noqa: BLE001 - reported via `failures`, never hidden
                    log.warning("%s failed at origin %d (column %d): %s; using seasonal naive", name, o, k, e)
                    failures += 1
                    m, lo, up = seasonal_naive(hist, horizon, period)
                mean[i, k] = m
                if lo is not None:
                    lower[i, k], upper[i, k] = lo, up
        has_iv = not np.isnan(lower).all()
        out[name] = {"mean": mean, "lower": lower if has_iv else None, "upper": upper if has_iv else None,
                     "failures": failures}
    return out
