"""Forecast evaluation: metrics and baselines against statsmodels / sklearn / hand values; CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnkit.baselines.forecast import arima, ets, run_baselines, seasonal_naive
from rnnkit.cli import app
from rnnkit.evaluation.backtest import forecast_metrics, mase_scale, rolling_origins


def nile() -> np.ndarray:
    from statsmodels.datasets import nile as ds

    return ds.load_pandas().data["volume"].to_numpy(dtype=float)


def test_metrics_match_statsmodels_and_sklearn() -> None:
    from sklearn.metrics import mean_absolute_percentage_error
    from statsmodels.tools.eval_measures import meanabs, rmse

    y = nile()
    hist, fut = y[:-10], y[-10:]
    pred, _, _ = ets(hist, 10, 1)
    m = forecast_metrics(fut[None], pred[None], np.array([mase_scale(hist, 1)]))
    assert m["mae"] == pytest.approx(meanabs(pred, fut))
    assert m["rmse"] == pytest.approx(rmse(pred, fut))
    assert m["mape"] == pytest.approx(100 * mean_absolute_percentage_error(fut, pred))
    assert m["mase"] == pytest.approx(np.abs(pred - fut).mean() / np.abs(np.diff(hist)).mean())


def test_baselines_equal_direct_statsmodels_fits() -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = nile()[:90]
    ref = ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="estimated").fit()
    np.testing.assert_allclose(ets(y, 5, 1)[0], ref.forecast(5), rtol=1e-6)
    order = ((1, 1, 1), (0, 0, 0, 0))
    ref = SARIMAX(np.log(y), order=order[0], seasonal_order=order[1], trend="n").fit(disp=False).get_forecast(5)
    mean, lo, up = arima(y, 5, 1, order=order, alpha=0.1)
    np.testing.assert_allclose(mean, np.exp(ref.predicted_mean), rtol=1e-5)
    np.testing.assert_allclose(lo, np.exp(ref.conf_int(alpha=0.1)[:, 0]), rtol=1e-5)
    assert (lo < mean).all() and (mean < up).all()


def test_seasonal_naive_and_mase_by_hand() -> None:
    y = np.array([1.0, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6])  # period 4, +1 per season
    f, _, _ = seasonal_naive(y[:8], 4, 4)
    np.testing.assert_array_equal(f, [2, 3, 4, 5])
    assert mase_scale(y[:8], 4) == 1.0  # every value is 1 above the one a season before
    m = forecast_metrics(y[None, 8:], f[None], np.array([1.0]))
    assert m["mae"] == 1.0 and m["mase"] == 1.0
    out = run_baselines(y[:, None], np.array([8]), 4, 4, ("naive", "seasonal_naive"))
    np.testing.assert_array_equal(out["naive"]["mean"][0, 0], [5, 5, 5, 5])
    np.testing.assert_array_equal(rolling_origins(100, 12, 3), [64, 76, 88])


@pytest.mark.network
def test_airline_seasonal_naive_reference() -> None:
    from rnnkit.data.registry import load_dataset

    y = load_dataset("airline").values
    f, _, _ = seasonal_naive(y[:-12], 12, 12)
    assert forecast_metrics(y[None, -12:], f[None], np.array([1.0]))["mape"] == pytest.approx(9.99, abs=0.005)


TINY = ["train.max_steps=20", "train.eval_every=10", "train.log_every=10", "train.batch_size=8",
        "model.hidden_size=8", "model.ensemble=1", "data.context=12", "model.loss=quantile",
        "data.baselines=naive,seasonal_naive"]  # ETS/ARIMA are tested above; here they only cost time


def _json(output: str) -> dict:
    """The JSON line of a command's output (log warnings may share the captured stream)."""
    return json.loads(next(ln for ln in reversed(output.splitlines()) if ln.startswith("{")))


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


def test_cli_train_evaluate_forecast_backtest(tmp_path) -> None:
    t = np.arange(72)
    y = 50 + 0.5 * t + 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.5, 72)
    csv = tmp_path / "sales.csv"
    csv.write_text("date,units,price\n" + "".join(
        f"{2000 + i // 12}-{i % 12 + 1:02d},{v:.3f},{1 + i % 3}\n" for i, v in enumerate(y)))
    run, r = tmp_path / "run", CliRunner()
    res = r.invoke(app, ["train", "forecast", "--data", str(csv), "--time-column", "date", "--target-column",
                         "units", "--covariates", "price", "--horizon", "6", "--out", str(run), *_sets(TINY)])
    assert res.exit_code == 0, res.output
    assert (run / "scaler.json").is_file() and (run / "model.safetensors").is_file()
    res = r.invoke(app, ["evaluate", str(run), "--json"])
    assert res.exit_code == 0, res.output
    m = _json(res.output)
    for key in ("test_mape", "test_mase", "test_coverage", "skill_vs_best_baseline", "rnn_loses"):
        assert key in m
    assert set(m["baselines"]) == {"naive", "seasonal_naive"}
    assert all("test_mase" in b and "test_mape" in b for b in m["baselines"].values())
    res = r.invoke(app, ["forecast", str(run), "--holdout", "--plot", str(tmp_path / "f.png"), "--json"])
    assert res.exit_code == 0, res.output
    fc = _json(res.output)
    assert len(fc["mean"][0]) == 6 and (tmp_path / "f.png").stat().st_size > 1000
    assert all(lo <= mu <= up for lo, mu, up in zip(fc["lower"][0], fc["mean"][0], fc["upper"][0]))
    res = r.invoke(app, ["backtest", str(run), "--folds", "2", "--baselines", "seasonal_naive", "--json"])
    assert res.exit_code == 0, res.output
    b = _json(res.output)
    assert b["folds"] == 2 and b["refit"] is True and list(b["baselines"]) == ["seasonal_naive"]
    res = r.invoke(app, ["backtest", str(run), "--folds", "1", "--refit", "never", "--json"])
    assert res.exit_code == 0 and _json(res.output)["refit"] is False  # held-out origin: no retraining
    assert _json(res.output)["test_mase"] == pytest.approx(m["test_mase"])  # same origin as evaluate
    res = r.invoke(app, ["backtest", str(run), "--folds", "3", "--refit", "never"])
    assert res.exit_code == 2 and "inside the run's training data" in res.output
    # a past covariate has no future values: forecasting past the data end must say so
    res = r.invoke(app, ["forecast", str(run), "--horizon", "12"])
    assert res.exit_code == 2 and "horizon 6" in res.output


def test_cli_bad_input_is_one_clean_line(tmp_path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("date,y\n2000-01,1\n2000-03,2\n2000-04,3\n")
    res = CliRunner().invoke(app, ["train", "forecast", "--data", str(csv), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "missing timestamps" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("sets", [["model.strategy=recursive", "model.loss=gaussian"],
                                  ["model.decoder=rnn", "model.attention=additive", "data.val_size=6"]])
def test_train_run_other_strategies(tmp_path, sets) -> None:
    from rnnkit.tasks import load_run, make_run_config, train_run

    t = np.arange(60)
    csv = tmp_path / "s.csv"
    csv.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 2):.4f}\n" for i in t))
    cfg = make_run_config("forecast", [*TINY, "data.horizon=6", *sets], data=str(csv))
    out = train_run(cfg, tmp_path / "run")
    assert np.isfinite(out.metrics["test_mase"]) and out.fit.last_eval["val_loss"] == out.fit.last_eval["val_loss"]
    assert load_run(tmp_path / "run").config == out.config.model  # as trained, data-aware defaults resolved


def test_a_baseline_exact_on_validation_is_not_a_crash(tmp_path) -> None:
    """An intermittent or flat stretch can make a baseline exact on the validation origins (MASE 0): the
    comparison says so (skill None) instead of dividing by zero (pbs, an intermittent count series)."""
    from rnnkit.tasks import make_run_config, train_run

    t = np.arange(240)
    y = np.where(t < 200, 10 + np.sin(t / 2), 10.0)  # flat at the end: naive is exact on the validation tail
    csv = tmp_path / "s.csv"
    csv.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{v:.4f}\n" for i, v in zip(t, y)))
    cfg = make_run_config("forecast", [*TINY, "data.horizon=6"], data=str(csv))
    out = train_run(cfg, tmp_path / "run")
    assert out.config.data.val_size == 6  # the validation-tail rule chose a tail, where naive is exact
    v = out.vs_baselines
    assert v["baseline"] == 0  # the exact baseline, and said so
    assert v["behind"] == (v["model"] > 0)  # unless the model forecasts that baseline (the probes chose it)
    assert np.isfinite(out.metrics["test_mase"])
