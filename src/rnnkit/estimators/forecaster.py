"""`Forecaster`: multi-step forecasting of one or several series from a DataFrame, a Series or an array.

    fc = rnnkit.Forecaster(horizon=12).fit(df, time="date", target="sales")
    fc.metrics_                    # the held-out last horizon beside naive / seasonal naive / ETS / ARIMA
    fc.predict()                   # the next 12 steps: time, series, mean (and lower / upper)
    fc.backtest(folds=4)           # rolling-origin evaluation, refitting before each origin

``fit`` holds out the last ``test_size`` rows (one horizon by default) to score the model honestly
beside the baselines, as ``rnnkit train forecast`` does (the same code runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnkit.errors import DataError
from rnnkit.estimators.base import IN_MEMORY, Estimator
from rnnkit.estimators.inputs import _is_pandas, describe


def _time_strings(values: Any) -> list[str]:
    """Time stamps as the strings the forecast data layer parses (ISO dates, periods, integers)."""
    import pandas as pd

    idx = pd.Index(values)
    if isinstance(idx, pd.DatetimeIndex) or str(idx.dtype).startswith("datetime"):
        return [t.strftime("%Y-%m-%d %H:%M:%S") for t in pd.to_datetime(idx)]
    return [str(v) for v in idx]


def frame_table(data: Any, time: str | None = None) -> tuple[str, list[str], dict[str, np.ndarray], str, int]:
    """``(name, times, {column: values}, freq, period)`` of a DataFrame (time column, datetime / period
    index, or a plain index), a Series, or an array whose rows are time steps."""
    if _is_pandas(data, "Series"):
        data = data.to_frame(name=str(data.name) if data.name is not None else "y")
    if _is_pandas(data, "DataFrame"):
        if time is not None:
            if time not in data.columns:
                raise DataError(f"data: no time column {time!r}; columns: {', '.join(map(str, data.columns))}")
            times, data = _time_strings(data[time]), data.drop(columns=[time])
        else:
            times = _time_strings(data.index)
        cols = {str(c): data[c].to_numpy(dtype=np.float64) for c in data.columns if data[c].dtype.kind in "iufb"}
        if not cols:
            raise DataError(f"data: no numeric column to forecast among {list(map(str, data.columns))}")
        return "data", times, cols, "", 0
    arr = np.asarray(data, dtype=np.float64) if not isinstance(data, str) else None
    if arr is None or arr.ndim not in (1, 2) or arr.size == 0:
        raise DataError(f"data: expected a DataFrame, a Series or a (T,) / (T, K) array of numbers, "
                        f"got {describe(data)}")
    arr = arr.reshape(len(arr), -1)
    names = ["y"] if arr.shape[1] == 1 else [f"y{k}" for k in range(arr.shape[1])]
    return "data", [str(i) for i in range(len(arr))], {n: arr[:, k] for k, n in enumerate(names)}, "I", 0


def long_table(data: Any, time: str | None, id_column: str, values: tuple[str, ...] | None
               ) -> tuple[str, list[str], dict[str, np.ndarray], str, int]:
    """:func:`frame_table` of a DataFrame in long format (one row per series and time; ``time`` its column, else
    the index): one column per series, pivoted as the CSV reader pivots (:func:`rnnkit.data.forecast.pivot_long`)."""
    from rnnkit.data.forecast import pivot_long

    if not _is_pandas(data, "DataFrame"):
        raise DataError(f"data: id_column needs a DataFrame in long format, got {describe(data)}")
    if id_column not in data.columns:
        raise DataError(f"data: no id column {id_column!r}; columns: {', '.join(map(str, data.columns))}")
    frame = data.reset_index() if time is None else data
    tcol = time if time is not None else frame.columns[0]
    if tcol not in frame.columns:
        raise DataError(f"data: no time column {tcol!r}; columns: {', '.join(map(str, frame.columns))}")
    values = values or tuple(c for c in frame.columns if c not in (tcol, id_column) and frame[c].dtype.kind in "iufb")
    for c in values:
        if c not in frame.columns or frame[c].dtype.kind not in "iufb":
            raise DataError(f"data: value column {c!r} is not a numeric column besides the time and id columns")
    order, cols = pivot_long([str(s) for s in frame[id_column]], _time_strings(frame[tcol]),
                             {c: frame[c].to_numpy(dtype=np.float64) for c in values}, "",
                             [f"data row {i}" for i in range(len(frame))])
    return "data", order, cols, "", 0


def _columns(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


class Forecaster(Estimator):
    """A recurrent multi-step forecaster with ``fit`` / ``predict`` / ``backtest`` / ``evaluate``.

    Model: ``cell``, ``hidden_size``, ``num_layers``, ``dropout``, ``input_dropout``, ``strategy``
    ("direct" | "recursive"), ``decoder`` ("linear" | "rnn"), ``attention``, ``loss`` ("mse", "mae",
    "gaussian" and "quantile" give intervals), ``quantiles``, ``interval``, ``skip`` (learn a
    correction to "last", "seasonal" or "seasonal_trend" naive forecasts), ``ensemble``, ``impl``,
    ``combine`` ("auto", the data-aware default: the network, ETS or ARIMA, whichever forecast best from
    probe origins inside the training rows; "none": the network alone; or a named candidate).
    Data: ``horizon``, ``context`` (input window), ``scaler`` ("none", "standard", "minmax",
    "log1p"), ``calendar`` (calendar features), ``freq`` / ``seasonal_period`` (inferred when
    unset), ``test_size`` / ``val_size`` (held-out and validation tails, rows), ``impute``
    ("error" | "interpolate"). Training: ``epochs``, ``batch_size``, ``lr``, ``optimizer``,
    ``weight_decay``, ``max_steps``, ``max_minutes``, ``early_stopping_patience``, ``grad_clip``,
    ``device``, ``random_state``.

    Fitted attributes: ``metrics_`` (held-out scores beside the baselines), ``model_``,
    ``config_``, ``history_``, ``artifacts_``.
    """

    _task = "forecast"
    _defaults = ("data.source=" + IN_MEMORY,)  # the rest: data-aware (rnnkit.defaults)

    def __init__(self, horizon: int | None = None, context: int | None = None, cell: str | None = None,
                 hidden_size: int | None = None, num_layers: int | None = None, dropout: float | None = None,
                 input_dropout: float | None = None, strategy: str | None = None, decoder: str | None = None,
                 attention: str | None = None, loss: str | None = None, quantiles: tuple[float, ...] | None = None,
                 interval: float | None = None, skip: str | None = None, ensemble: int | None = None,
                 combine: str | None = None, impl: str | None = None, scaler: str | None = None,
                 calendar: bool | None = None,
                 freq: str | None = None, seasonal_period: int | None = None, test_size: int | None = None,
                 val_size: int | None = None, impute: str | None = None, epochs: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
                 weight_decay: float | None = None, max_steps: int | None = None, max_minutes: float | None = None,
                 early_stopping_patience: int | None = None, grad_clip: float | None = None,
                 device: str | None = None, random_state: int | None = None, recipe: Any = None,
                 overrides: tuple[str, ...] = (), verbose: int | str = "auto") -> None:
        self._store(locals())

    def fit(self, data: Any, y: Any = None, *, time: str | None = None, target: str | list[str] | None = None,
            id_column: str | None = None, past_covariates: list[str] | None = None,
            known_covariates: list[str] | None = None,
            epochs: int | None = None, max_minutes: float | None = None, callbacks: Any = (),
            verbose: int | str | None = None, tune: str | float | None = None, out: Any = None) -> Forecaster:
        """Train on ``data`` (columns: ``target`` series, else every numeric column; ``time`` column,
        else the index), then score the held-out tail beside the baselines (``metrics_``).
        ``past_covariates`` are known up to each forecast origin, ``known_covariates`` also ahead.
        ``id_column``: ``data`` is in long format (one row per series and time, this column naming the series;
        ``target`` the value column(s)): one series per id, as ``rnnkit train forecast --id-column`` reads a CSV."""
        if y is not None:
            raise DataError("a forecaster learns from the series themselves; name them with target=, not y")
        self._long = None
        if id_column is not None:
            if past_covariates or known_covariates:
                raise DataError("id_column (long format) takes no covariates: they would be per series")
            self._long, target = (id_column, _columns(target)), None
        columns = dict(target_columns=_columns(target), past_covariates=_columns(past_covariates),
                       known_covariates=_columns(known_covariates))
        self._time = time
        frame = self._frame_of(data, self._config(**columns), time, self._long)
        return self._train(frame, out=out, callbacks=callbacks, verbose=verbose, tune=tune, final_evaluation=True,
                           epochs=epochs, max_minutes=max_minutes, **columns)

    @staticmethod
    def _frame_of(data: Any, cfg: Any, time: str | None, long: tuple | None = None) -> Any:
        """``long``: (id column, value columns) of data in long format (fit's ``id_column``)."""
        from rnnkit.data.forecast import load_frame

        return load_frame(cfg.data, long_table(data, time, *long) if long else frame_table(data, time))

    def _frame(self, data: Any, time: str | None = None) -> Any:
        """The series to forecast from: ``data`` given now (its ``time`` column, default the one
        ``fit`` was told), else the training data."""
        self._check_fitted()
        if data is not None:  # in long format when fit was given it so
            time = time or getattr(self, "_time", None)
            return self._frame_of(data, self.config_, time, getattr(self, "_long", None))
        bundle = self._training_bundle()
        if bundle is None:
            raise DataError("this model was trained on data given in memory: pass the series, e.g. predict(data=df)")
        return bundle.frame

    def predict(self, horizon: int | None = None, data: Any = None, holdout: bool = False,
                time: str | None = None) -> Any:
        """The forecast past the end of the series (or, ``holdout=True``, over its held-out tail, with
        the actual values) as a DataFrame: time, series, mean and, for probabilistic models, lower /
        upper of the ``interval``."""
        import pandas as pd

        from rnnkit.apps.forecast_ops import forecast_model

        fc = forecast_model(self.model_, self._frame(data, time), horizon, holdout)
        rows = []
        for k, name in enumerate(fc["series"]):
            for i, t in enumerate(fc["times"]):
                row = {"time": t, "series": name, "mean": fc["mean"][k][i]}
                row.update({c: fc[c][k][i] for c in ("lower", "upper", "actual") if c in fc})
                rows.append(row)
        return pd.DataFrame(rows)

    def backtest(self, folds: int = 5, step: int | None = None, refit: str = "auto",
                 baselines: tuple[str, ...] | None = None, data: Any = None, time: str | None = None
                 ) -> dict[str, Any]:
        """Rolling-origin backtest over the last ``folds`` origins, beside the baselines on the same
        origins; origins inside the training rows refit a fresh model on the rows before them."""
        from rnnkit.apps.forecast_ops import backtest_model

        return backtest_model(self.model_, self._frame(data, time), folds, step, refit, baselines)

    def evaluate(self, data: Any = None, time: str | None = None) -> dict[str, Any]:
        """Scores on the held-out tail of ``data`` (default: the training data's, as in ``metrics_``)
        beside naive, seasonal naive, ETS and ARIMA on the same origin."""
        from rnnkit.apps.forecast import SCALER_FILE
        from rnnkit.apps.forecast import evaluate as evaluate_task
        from rnnkit.data.forecast_bundle import prepare

        frame = self._frame(data, time)
        bundle = prepare(self.config_.data, scalers=self.artifacts_[SCALER_FILE], frame=frame)
        return evaluate_task(self.model_, bundle, self.config_)


__all__ = ["Forecaster", "frame_table"]
