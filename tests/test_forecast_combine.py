"""model.combine: the forecast's combination with the classical baselines, chosen on probe origins."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnkit.baselines.forecast import run_baselines
from rnnkit.evaluation.combine import COMBINATIONS, NETWORK, SHORT_AUTO, baseline_origins, blend, choose, probe_origins


def test_probe_origins_leave_training_windows_before_each() -> None:
    # 100 training rows, horizon 6, context 12, no validation tail: 3 origins a horizon apart
    assert probe_origins(100, 6, 12, 0).tolist() == [82, 88, 94]
    # each probe's network needs val_size + context + horizon + 3 rows before its origin
    assert probe_origins(40, 6, 12, 6).tolist() == [28, 34]  # 22 < 6 + 12 + 6 + 3: too few rows before it
    assert probe_origins(15, 6, 4, 0).tolist() == []  # a short yearly series: nothing to probe
    assert probe_origins(100, 6, 12, 0, probes=4, step=3).tolist() == [85, 88, 91, 94]  # half a horizon apart


def test_blend_and_choose_by_hand() -> None:
    y = np.array([[[10.0, 10.0]], [[20.0, 20.0]]])  # (N=2 origins, K=1 series, H=2)
    scales = np.ones((2, 1))
    net = {"mean": y + 3.0, "lower": y - 1.0, "upper": y + 7.0}
    base = {"ets": {"mean": y - 1.0, "lower": None}, "arima": {"mean": y + 1.0, "lower": y - 2, "upper": y + 2},
            "seasonal_naive": {"mean": y + 4.0, "lower": None}, "naive": {"mean": y + 2.0, "lower": None},
            "theta": {"mean": y - 2.0, "lower": None}}
    mean = blend("mean", net, base)
    np.testing.assert_allclose(mean["mean"], y + 1.0)  # (3 - 1 + 1) / 3
    np.testing.assert_allclose(mean["upper"] - mean["lower"], 8.0)  # the network's width, moved with the mean
    np.testing.assert_allclose(blend("arima", net, base)["lower"], y - 2)  # a baseline's own interval
    np.testing.assert_allclose(blend("ets", net, base)["mean"], y - 1.0)
    picked = choose(y, scales, net, base, tuple(COMBINATIONS))
    assert picked["val_mase"] == pytest.approx({"network": 3, "mean": 1, "ets": 1, "arima": 1,
                                                "seasonal_naive": 4, "naive": 2, "theta": 2, "ets_theta": 1.5})
    assert picked["combination"] == "mean"  # a three-way tie at 1: the earliest candidate
    same = {**base, "ets": {"mean": y - 1.0}, "arima": {"mean": y + 1.0}}
    tie = choose(y, scales, {"mean": y + 1.0}, same, ("network", "ets", "arima"))
    assert tie["combination"] == NETWORK  # the network alone wins its ties


def _csv(tmp_path, n: int = 96, noise: float = 0.0):
    t = np.arange(n)
    y = 50 + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, noise, n)
    path = tmp_path / "s.csv"
    path.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{v:.4f}\n" for i, v in enumerate(y)))
    return path


TINY = ["train.max_steps=5", "train.eval_every=5", "train.batch_size=8", "model.hidden_size=4", "model.ensemble=1",
        "data.context=12", "data.horizon=6", "data.val_size=0"]


def test_a_baseline_that_wins_on_the_probes_is_what_the_model_forecasts(tmp_path) -> None:
    """A season with little noise: ETS is near exact on every probe, a 5-step network is not. ``auto``
    keeps ETS, the held-out forecasts are ETS's (fitted independently here), the model directory reloads
    to the same forecasts, and the verdict says the network lost (the model, ETS itself, is not behind)."""
    from rnnkit.apps.forecast_ops import forecast_run
    from rnnkit.tasks import load_run, make_run_config, train_run

    csv = _csv(tmp_path, noise=0.3)
    cfg = make_run_config("forecast", [*TINY, "model.combine=auto", "data.baselines=seasonal_naive,ets"],
                          data=str(csv))
    out = train_run(cfg, tmp_path / "run")
    chosen = json.loads((tmp_path / "run" / "combine.json").read_text())
    assert chosen["combination"] == "ets" and len(chosen["origins"]) == 3
    assert chosen["val_mase"]["ets"] < 2 < chosen["val_mase"][NETWORK]
    assert set(chosen["val_mase"]) == {NETWORK, "ets", "seasonal_naive"}  # every candidate the baselines allow
    y = np.loadtxt(csv, delimiter=",", skiprows=1, usecols=1)
    ref = run_baselines(y[:, None], np.array([90]), 6, 12, ("ets",))["ets"]["mean"]
    fc = forecast_run(tmp_path / "run", holdout=True)
    np.testing.assert_allclose(fc["mean"][0], ref[0, 0], rtol=1e-6)
    sn = out.metrics["baselines"]["ets"]["test_mase"]
    assert out.metrics["test_mase"] == pytest.approx(sn) and out.metrics["combination"] == "ets"
    assert out.metrics["network"]["test_mase"] > 2 * sn  # the network alone is reported beside it
    v = out.metrics["vs_baselines"]
    # the model forecasts ETS, the best baseline on the probes: not behind it, and the note says what it is
    assert not v["behind"] and v["best_baseline"] == "ets" and "the network lost to ets" in v["note"]
    again = load_run(tmp_path / "run")
    assert again.artifacts["combine.json"] == chosen
    np.testing.assert_allclose(forecast_run(tmp_path / "run", holdout=True)["mean"], fc["mean"])


def test_none_keeps_the_network_and_a_named_candidate_needs_no_probe(tmp_path) -> None:
    from rnnkit.apps.forecast_ops import forecast_run
    from rnnkit.tasks import make_run_config, train_run

    csv = _csv(tmp_path, noise=1.0)
    base = [*TINY, "data.baselines=naive,seasonal_naive"]
    out = train_run(make_run_config("forecast", [*base, "model.combine=none"], data=str(csv)), tmp_path / "a")
    assert not (tmp_path / "a" / "combine.json").exists() and "combination" not in out.metrics
    named = train_run(make_run_config("forecast", [*base, "model.combine=naive"], data=str(csv)), tmp_path / "b")
    assert json.loads((tmp_path / "b" / "combine.json").read_text())["rule"] == "model.combine"
    fc = forecast_run(tmp_path / "b", holdout=True)
    assert np.allclose(fc["mean"][0], fc["history"][0][-1])  # naive: the last value, repeated
    assert named.metrics["network"]["test_mase"] == pytest.approx(out.metrics["test_mase"], rel=1e-5)
    # an evaluation-time override decides: none -> the network's own forecasts
    from rnnkit.tasks import evaluate_run

    again = evaluate_run(tmp_path / "b", overrides=["model.combine=none"])
    assert "combination" not in again and again["test_mase"] == pytest.approx(named.metrics["network"]["test_mase"])
    # a backtest's refitted networks forecast in the run's combination too (naive: exactly the baseline)
    from rnnkit.apps.forecast_ops import backtest_run

    b = backtest_run(tmp_path / "b", folds=2, refit="always", baselines=("naive",))
    assert b["combination"] == "naive" and b["test_mase"] == pytest.approx(b["baselines"]["naive"]["test_mase"])
    # an ONNX export holds the network alone and says so
    from rnnkit.export import export_run

    manifest = export_run(tmp_path / "b", tmp_path / "onnx")
    assert manifest["combine"]["combination"] == "naive" and (tmp_path / "onnx" / "combine.json").is_file()


@pytest.mark.parametrize("baselines, expect", [("naive,seasonal_naive,ets,arima,theta", "ets"),
                                                ("naive,ets,arima,theta", "ets"),
                                                ("naive,seasonal_naive,arima,theta", NETWORK)])
def test_a_series_too_short_to_probe_gets_the_fallback(tmp_path, baselines: str, expect: str) -> None:
    """The fallback is the first of TOO_SHORT that data.baselines allows (ETS, which competes with seasonal naive
    on baseline origins where data.baselines has both); its forecasts are its members' mean."""
    from rnnkit.tasks import make_run_config, train_run

    csv = _csv(tmp_path, n=22, noise=1.0)  # 16 training rows: the one probe origin (10) leaves no window
    cfg = make_run_config("forecast", [*TINY, "data.context=8", "model.combine=auto", f"data.baselines={baselines}"],
                          data=str(csv))
    out = train_run(cfg)
    chosen = out.model.artifacts["combine.json"]
    if "seasonal_naive" in baselines and expect == "ets":  # chosen between ETS and seasonal naive on baseline origins
        assert chosen["rule"] == "too short to probe: baseline origins" and chosen["combination"] in SHORT_AUTO
        expect = chosen["combination"]
    else:
        assert chosen["rule"] == "too short to probe"
    assert out.metrics["combination"] == expect
    if expect == NETWORK:
        return
    # the reported test MASE is that of the members' mean, the baselines refitted independently
    from rnnkit.evaluation.backtest import mase_scales, model_forecasts, truth

    b, origins = out.bundle, out.bundle.test_origins
    members = COMBINATIONS[expect]
    net = model_forecasts(out.model, b, origins, combine=False)["mean"]
    base = run_baselines(b.frame.targets, origins, 6, b.frame.period, tuple(m for m in members if m != NETWORK))
    mean = np.mean([net if m == NETWORK else base[m]["mean"] for m in members], axis=0)
    ref = np.nanmean(np.abs(mean - truth(b, origins, 6)).mean(-1) / mase_scales(b, origins))
    assert out.metrics["test_mase"] == pytest.approx(ref, rel=1e-5)


def test_theta_continues_a_straight_line_at_half_its_slope() -> None:
    """The Theta method's defining property (Hyndman & Billah 2003): SES (here alpha -> 1: the last value) plus
    a drift of half the linear trend's slope."""
    from rnnkit.baselines.forecast import theta

    y = 3.0 + 2.0 * np.arange(20)
    mean, lower, upper = theta(y, 5, 1)
    np.testing.assert_allclose(mean, y[-1] + np.arange(1, 6), atol=1e-3)
    assert np.all(lower < mean) and np.all(mean < upper)
    seasonal = 100 + 10 * np.sin(2 * np.pi * np.arange(60) / 12)  # deseasonalised first: the season comes back
    np.testing.assert_allclose(theta(seasonal, 12, 12)[0], seasonal[-12:], rtol=0.02)


def test_combine_is_validated_with_the_config() -> None:
    from rnnkit.errors import ConfigError
    from rnnkit.tasks import make_run_config

    with pytest.raises(ConfigError, match="model.combine='ensemble'; valid: none, auto, network, mean"):
        make_run_config("forecast", ["model.combine=ensemble"])


def test_a_history_without_seasonal_change_is_scored_by_mae() -> None:
    """An exactly periodic history has no MASE scale (its seasonal differences are all 0): the choice falls
    back to MAE instead of NaN scores that would keep the network and hide the verdict."""
    y = np.array([[[1.0, 2.0]], [[1.0, 2.0]]])
    base = {"ets": {"mean": y.copy()}, "arima": {"mean": y + 0.5}}
    picked = choose(y, np.full((2, 1), np.nan), {"mean": y + 3.0}, base, ("network", "ets", "arima"))
    assert picked["combination"] == "ets" and picked["metric"] == "val_mae"
    assert picked["val_mase"] == pytest.approx({"network": 3.0, "ets": 0.0, "arima": 0.5})


def test_auto_without_its_choice_warns_and_forecasts_the_network(tmp_path, caplog) -> None:
    """A run stopped between training and the probes leaves a loadable directory without combine.json:
    its forecasts are the network's, and it says so."""
    import dataclasses
    import logging

    from rnnkit.evaluation.backtest import model_forecasts
    from rnnkit.tasks import make_run_config, train_run

    cfg = make_run_config("forecast", [*TINY, "data.baselines=naive"], data=str(_csv(tmp_path, noise=1.0)))
    out = train_run(cfg)
    model = out.model
    model.run_config = dataclasses.replace(out.config, model=dataclasses.replace(out.config.model, combine="auto"))
    model.artifacts = {k: v for k, v in model.artifacts.items() if k != "combine.json"}
    with caplog.at_level(logging.WARNING):
        fc = model_forecasts(model, out.bundle, out.bundle.test_origins)
    assert "no combine.json" in caplog.text
    np.testing.assert_allclose(fc["mean"], model_forecasts(model, out.bundle, out.bundle.test_origins,
                                                           combine=False)["mean"])


def test_baseline_origins_keep_history_before_and_a_horizon_after() -> None:
    assert baseline_origins(16, 6).tolist() == [8, 9, 10]  # 8 rows before the first, the last horizon ends at 16
    assert baseline_origins(40, 6).tolist() == [29, 30, 31, 32, 33, 34]  # the last six, a step apart
    assert baseline_origins(13, 6).tolist() == []  # too short for one: the fallback


def _yearly(tmp_path, name: str, y: np.ndarray):
    path = tmp_path / f"{name}.csv"
    path.write_text("year,y\n" + "".join(f"{1950 + i}-01-01,{v:.4f}\n" for i, v in enumerate(y)))
    return path


@pytest.mark.parametrize("shape, expect", [("plateau", "seasonal_naive"), ("trend", "ets")])
def test_too_short_to_probe_chooses_among_baselines_on_the_training_rows(tmp_path, shape: str, expect: str) -> None:
    """22 yearly values, the last 6 held out: no probe origin for the network, so ETS and seasonal naive (here
    the last value) are scored on the baseline origins inside the 16 training rows. A plateau after a climb:
    ETS carries the old trend on and the last value wins; a steady trend: ETS wins. The recorded scores are
    those of the baselines fitted independently here; the test rows are never read (changing them changes no
    choice)."""
    from rnnkit.evaluation.backtest import mase_scale
    from rnnkit.tasks import make_run_config, train_run

    t = np.arange(22)
    y = np.round(100 + (10 * np.minimum(t, 7) if shape == "plateau" else 5 * t) + np.sin(t), 4)  # as written
    sets = [*TINY, "data.context=4", "model.combine=auto"]
    out = train_run(make_run_config("forecast", sets, data=str(_yearly(tmp_path, "a", y))))
    chosen = out.model.artifacts["combine.json"]
    assert chosen["rule"] == "too short to probe: baseline origins" and chosen["combination"] == expect
    assert chosen["origins"] == ["1958-01-01", "1959-01-01", "1960-01-01"]
    origins = np.array([8, 9, 10])
    base = run_baselines(y[:16, None], origins, 6, 1, ("ets", "seasonal_naive"))
    ref = {}
    for name in ("ets", "seasonal_naive"):
        f = np.mean([base[m]["mean"][:, 0] for m in COMBINATIONS[name]], axis=0)
        ref[name] = np.mean([np.abs(f[i] - y[o:o + 6]).mean() / mase_scale(y[:o], 1) for i, o in enumerate(origins)])
    assert {k: chosen["val_mase"][k] for k in ref} == pytest.approx(ref, rel=1e-6)
    assert NETWORK not in chosen["val_mase"] and out.metrics["combination"] == expect
    assert "too short to probe the network" in out.metrics["vs_baselines"]["note"]
    assert out.metrics["vs_baselines"]["without_network"]  # the advice, if behind, is a baseline, not a search
    other = y.copy()
    other[16:] = other[16:][::-1] * 3  # the held-out rows only
    again = train_run(make_run_config("forecast", sets, data=str(_yearly(tmp_path, "b", other))))
    assert again.model.artifacts["combine.json"]["val_mase"] == pytest.approx(chosen["val_mase"])
