"""The forecasting task (issue 5) as a `TaskSpec` (`forecast` and `backtest` on a trained model: forecast_ops).

series (bundled or CSV) -> time split, scalers fitted on the training rows -> windows -> Forecaster
-> `fit()` -> held-out forecast scored beside naive / seasonal naive / ETS / ARIMA on the same origin.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, ClassVar

import numpy as np
import torch

from rnnkit.baselines.forecast import DEFAULT_BASELINES, run_baselines
from rnnkit.config import RunConfig
from rnnkit.data.forecast import Frame, load_frame
from rnnkit.data.forecast_bundle import ForecastBundle, prepare
from rnnkit.defaults import summarise_frame
from rnnkit.errors import ConfigError
from rnnkit.evaluation.backtest import (
    combination_of,
    compare_combined,
    mase_scales,
    model_forecasts,
    truth,
)
from rnnkit.evaluation.combine import (
    AUTO,
    COMBINATIONS,
    COMBINE_FILE,
    MIN_WINDOWS,
    NETWORK,
    SHORT_AUTO,
    TOO_SHORT,
    baseline_origins,
    members_needed,
    probe_origins,
)
from rnnkit.evaluation.combine import choose as choose_candidate
from rnnkit.models.forecaster import Forecaster, ForecasterConfig, forecast_loss
from rnnkit.tasks import TaskSpec
from rnnkit.train.fit import fit
from rnnkit.verdicts import verdict

log = logging.getLogger(__name__)
SCALER_FILE = "scaler.json"


@dataclasses.dataclass(frozen=True)
class ForecastDataConfig:
    """Where the series comes from and how it is windowed, split and scaled."""

    source: str = "airline"  # bundled series name (rnnkit datasets) or a CSV path
    time_column: str = ""  # CSV: time column ("" = the first column)
    id_column: str = ""  # CSV in long format: the column naming each series ("" = one row per time)
    target_columns: tuple[str, ...] = ()  # CSV: targets ("" = every column that is not time/covariate)
    past_covariates: tuple[str, ...] = ()  # observed only up to the forecast origin
    known_covariates: tuple[str, ...] = ()  # known for the future too (prices, promotions, holidays)
    calendar: bool = True  # add sin/cos calendar features as known-future covariates
    horizon: int = 12
    context: int = 36
    test_size: int = 0  # held-out tail in rows (0 = horizon)
    val_size: int = 0  # validation tail of the training part (0 = validate on the training windows)
    scaler: str = "log1p"  # none | standard | minmax | log1p  (targets)
    freq: str = ""  # "" = from the data set / inferred from the timestamps
    seasonal_period: int = 0  # 0 = from the data set / the frequency
    impute: str = "error"  # error | interpolate  (NaN values and missing timestamps)
    baselines: tuple[str, ...] = DEFAULT_BASELINES  # scored on the same origins

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "horizon": "[1, inf)", "context": "[1, inf)", "test_size": "[0, inf)", "val_size": "[0, inf)",
        "seasonal_period": "[0, inf)",
    }

    def __post_init__(self) -> None:
        if self.impute not in ("error", "interpolate"):
            raise ConfigError(f"data.impute={self.impute!r}; valid: error, interpolate")


def prepare_data(cfg: RunConfig, raw: Frame | None = None, **kw: Any) -> ForecastBundle:
    """Read ``cfg.data.source`` (or take ``raw``: a frame built from data in memory), split by time,
    fit the scalers on the training rows, build the windows."""
    b = prepare(cfg.data, cfg.train.batch_size, cfg.train.seed, frame=raw, **kw)
    log.info("%s: %d rows x %d series (freq %s, season %d); %d training windows, %d validation, %d test origins",
             b.frame.name, len(b.frame.targets), b.n_series, b.frame.freq, b.frame.period,
             len(b.train_origins) * b.n_series, len(b.val_origins), len(b.test_origins))
    return b


def artifacts(bundle: ForecastBundle) -> dict[str, dict]:
    return {SCALER_FILE: bundle.meta}


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> Forecaster:
    sc = arts[SCALER_FILE]
    P, F = sc["n_past"], sc["n_known"]
    return Forecaster(cfg.model, 1 + P + F, F, len(sc["series"]), cfg.data.horizon, cfg.data.context,
                      sc["seasonal_period"])


@torch.no_grad()
def validate(model: Forecaster, bundle: ForecastBundle) -> dict[str, float]:
    """Forecast loss on the validation windows (on the training windows when data.val_size = 0)."""
    origins = bundle.val_origins if len(bundle.val_origins) else bundle.train_origins
    o = np.repeat(origins, bundle.n_series)
    s = np.tile(np.arange(bundle.n_series), len(origins))
    batch = bundle.windows.batch(o, s)
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in batch.items()}
    # free-running forecasts (a recursive model feeds back its own predictions, as at test time)
    losses = [forecast_loss(out, batch["y"], model.config) for out, _ in model.member_outputs(batch)]
    point = model.predict(batch)["mean"]
    return {"val_loss": float(sum(losses) / len(losses)), "val_mse_scaled": float(((point - batch["y"]) ** 2).mean())}


def evaluate(model: Forecaster, bundle: ForecastBundle, cfg: RunConfig) -> dict[str, Any]:
    """Held-out forecast(s) scored beside the baselines on the identical origin(s). With a combination
    (``combine.json``) the headline is the combination's, and ``network`` holds the network alone's."""
    origins = bundle.test_origins
    res = compare_combined(bundle, origins, model_forecasts(model, bundle, origins, combine=False),
                           combination_of(model), cfg.data.horizon, baselines=cfg.data.baselines,
                           interval=model.interval_level)
    res["data"] = bundle.frame.name
    return res


def choose_combination(model: Forecaster, bundle: ForecastBundle, cfg: RunConfig) -> dict[str, dict]:
    """``model.combine``: the combination with the classical baselines, as the artifact ``combine.json``
    (:mod:`rnnkit.evaluation.combine`). ``auto`` re-trains the network from up to three probe origins
    inside the training rows and keeps the candidate (network, ETS, ARIMA or seasonal naive, those in
    ``data.baselines``)
    with the lowest mean MASE over them."""
    how = cfg.model.combine
    if how == "none":
        return {}
    if how != "auto":
        return {COMBINE_FILE: {"combination": how, "members": list(COMBINATIONS[how]), "rule": "model.combine"}}
    h = cfg.data.horizon
    # the candidates made of the network and the run's baselines (data.baselines) only; every one of them
    # is scored and recorded (the verdict compares with them), auto's own are chosen among
    scored = tuple(n for n, m in COMBINATIONS.items() if set(m) - {NETWORK} <= set(cfg.data.baselines))
    names = tuple(n for n in AUTO if n in scored)
    short = next(n for n in TOO_SHORT if n in scored)
    if names == (NETWORK,):  # data.baselines leave nothing to choose: no probes
        return {COMBINE_FILE: {"combination": NETWORK, "members": [NETWORK],
                               "rule": "no ETS / ARIMA in data.baselines"}}
    n_train = int(bundle.test_origins[0]) if len(bundle.test_origins) else len(bundle.frame.targets)
    origins = probe_origins(n_train, h, cfg.data.context, cfg.data.val_size)
    if not len(origins):
        log.info("combine=auto: %d training rows leave no probe origin (each needs %d windows of context %d "
                 "and horizon %d before it)", n_train, MIN_WINDOWS, cfg.data.context, h)
        return {COMBINE_FILE: choose_short(bundle, cfg, n_train, short, scored)}
    # the probes share the run's time budget once more (a forecast network trains in seconds; the cap is
    # for the rare long series), and run in this process alone after a data-parallel run
    minutes = cfg.train.max_minutes and cfg.train.max_minutes / len(origins)
    probe_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, combine="none"),
                                    train=dataclasses.replace(cfg.train, max_minutes=minutes))
    parts = []
    for i, o in enumerate(origins):
        log.info("combine=auto: probe %d of %d, the network re-trained on the rows before %s", i + 1, len(origins),
                 bundle.frame.times[int(o)])
        parts.append(refit_forecast(probe_cfg, bundle, int(o), local=True))
    network = {k: np.concatenate([p[k] for p in parts], 0) for k in parts[0]}
    base = run_baselines(bundle.frame.targets, origins, h, bundle.frame.period, members_needed(scored))
    picked = choose_candidate(truth(bundle, origins, h), mase_scales(bundle, origins), network, base, names, scored)
    picked.update(rule="auto", origins=[bundle.frame.times[int(o)] for o in origins])
    log.info("combine=auto: %s (validation MASE over %d probe origins: %s)", picked["combination"], len(origins),
             ", ".join(f"{k} {v:.3f}" for k, v in picked["val_mase"].items()))
    return {COMBINE_FILE: picked}


def choose_short(bundle: ForecastBundle, cfg: RunConfig, n_train: int, short: str,
                 scored: tuple[str, ...]) -> dict[str, Any]:
    """The combination of a series too short to probe the network: the candidate of :data:`SHORT_AUTO` (ETS or
    seasonal naive) with the lower mean MASE over the baseline origins, every
    baseline refitted on the rows before each; ``short`` where the run's baselines lack them or the series
    leaves no baseline origin either."""
    h = cfg.data.horizon
    names = tuple(n for n in SHORT_AUTO if n in scored)
    origins = baseline_origins(n_train, h)
    if short != SHORT_AUTO[0] or len(names) < 2 or not len(origins):
        log.info("combine=auto: too short to probe: the combination %r", short)
        return {"combination": short, "members": list(COMBINATIONS[short]), "rule": "too short to probe"}
    alone = tuple(n for n in scored if NETWORK not in COMBINATIONS[n])  # what can be scored without the network
    base = run_baselines(bundle.frame.targets, origins, h, bundle.frame.period, members_needed(alone))
    picked = choose_candidate(truth(bundle, origins, h), mase_scales(bundle, origins), None, base, names, alone)
    picked.update(rule="too short to probe: baseline origins", origins=[bundle.frame.times[int(o)] for o in origins])
    log.info("combine=auto: too short to probe the network: %s (validation MASE of the baselines over %d "
             "origins: %s)", picked["combination"], len(origins),
             ", ".join(f"{k} {v:.3f}" for k, v in picked["val_mase"].items()))
    return picked


def baseline_check(model: Forecaster, bundle: ForecastBundle, cfg: RunConfig) -> dict[str, Any] | None:
    """The model beside the baselines on validation MASE: over the probe origins when ``combine=auto``
    chose on them, else over the origins of the ``val_size`` tail (every baseline refitted before each
    origin); None without either (the held-out test comparison then says it, as ``rnn_loses``)."""
    chosen = model.artifacts.get(COMBINE_FILE) or {}
    if "val_mase" in chosen:
        scores = chosen["val_mase"]
        v = verdict(chosen.get("metric", "val_mase"), scores[chosen["combination"]],
                    {k: scores[k] for k in cfg.data.baselines if k in scores}, higher_is_better=False,
                    n=len(chosen.get("origins", ())) * cfg.data.horizon * bundle.n_series)
        if v is not None and NETWORK not in scores:  # too short to probe: the baselines alone were scored
            v.update(combination=chosen["combination"], without_network=True,
                     note=f"too short to probe the network: this model forecasts {chosen['combination']}'s values, "
                          "chosen among the baselines on the last origins of the training rows (model.combine=none "
                          "keeps the network's)")
        elif v is not None:
            v.update(combination=chosen["combination"], network=scores[NETWORK])
            if NETWORK not in COMBINATIONS[chosen["combination"]]:
                v["note"] = (f"the network lost to {chosen['combination']} on the validation probes (val_mase "
                             f"{scores[NETWORK]:.4g} vs {v['model']:.4g}): this model forecasts "
                             f"{chosen['combination']}'s values (model.combine=auto; model.combine=none keeps the "
                             "network's)")
        if v is not None and NETWORK not in COMBINATIONS[chosen["combination"]] and v["model"] <= v["baseline"]:
            v["behind"] = False  # the model *is* a baseline as good as the best (as a classifier's member is)
        return v
    origins = bundle.val_origins[:: cfg.data.horizon]
    if not len(origins):
        return None
    res = compare_combined(bundle, origins, model_forecasts(model, bundle, origins, combine=False),
                           combination_of(model), cfg.data.horizon, prefix="val_", baselines=cfg.data.baselines,
                           interval=model.interval_level)
    v = verdict("val_mase", res["val_mase"], {k: v["val_mase"] for k, v in res["baselines"].items()},
                higher_is_better=False, n=len(origins) * cfg.data.horizon * bundle.n_series)
    name = chosen.get("combination")
    if v is not None and name and NETWORK not in COMBINATIONS[name]:
        v["note"] = (f"this model forecasts {name}'s values (model.combine={name}): it matches the {name} "
                     f"baseline on validation by construction (val_mase {v['model']:.4g}; the best baseline "
                     f"{v['best_baseline']} {v['baseline']:.4g})")
    return v


TASK = TaskSpec(
    name="forecast",
    description="time-series forecasting, backtested against naive / seasonal naive / ETS / ARIMA",
    model_config_cls=ForecasterConfig,
    data_config_cls=ForecastDataConfig,
    prepare_data=prepare_data,
    artifacts=artifacts,
    build_model=build_model,
    validate=validate,
    evaluate=evaluate,
    recipe="forecast",
    monitor="val_loss",
    headline=("test_mape", "test_mase", "skill_vs_best_baseline"),
    progress_fields={"loss": "loss"},
    estimator="rnnkit.estimators.forecaster:Forecaster",
    cli_options={"--horizon": ("data.horizon", "steps to forecast"),
                 "--time-column": ("data.time_column", "CSV: the time column"),
                 "--id-column": ("data.id_column", "CSV in long format: the column naming each series"),
                 "--target-column": ("data.target_columns", "CSV: target column(s), comma-separated"),
                 "--covariates": ("data.past_covariates", "CSV: past covariate columns, comma-separated"),
                 "--known-covariates": ("data.known_covariates", "CSV: covariates known ahead, comma-separated")},
    baseline_check=baseline_check, post_fit=choose_combination, load_raw=lambda cfg: load_frame(cfg.data),
    summarise=lambda cfg, frame: summarise_frame("forecast", frame, cfg.data.horizon),
)


def refit_forecast(cfg: RunConfig, full: ForecastBundle, origin: int, local: bool = False) -> dict[str, np.ndarray]:
    """Train a fresh model on rows before ``origin`` only (scalers too) and forecast from ``origin``
    (``local``: in this process alone, even under torchrun)."""
    from rnnkit.tasks import TASKS  # the spec, so build_model is the very function `train` uses

    b = prepare(cfg.data, cfg.train.batch_size, cfg.train.seed, cutoff=origin, frame=full.frame)
    torch.manual_seed(cfg.train.seed)
    model = TASKS["forecast"].build_model(cfg, artifacts(b))
    fit(model, b.train, cfg.train, evaluate=lambda m: validate(m, b), monitor="val_loss", local=local)
    model.eval()
    log.info("refit for origin %s done", full.frame.times[origin])
    return model_forecasts(model, b, np.array([origin]))
