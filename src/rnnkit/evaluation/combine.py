"""Forecast combinations of the network with the classical baselines, chosen on rolling validation origins.

A small network trained on one short series often loses to ETS or ARIMA, and a forecaster that knows it
should not ship the loser. With ``model.combine = "auto"`` (the data-aware default) the forecast task
re-trains the network from a few *probe* origins inside the training rows (the last ones, a horizon
apart; every probe sees only the rows before its origin, as a backtest does), forecasts each probe's
next horizon with the network and with the baselines, and keeps the candidate of :data:`AUTO` (the
network, ETS, ARIMA, seasonal naive) with the lowest mean MASE over the probes. The choice is saved as the
artifact
``combine.json``; every forecast of the model (evaluate, ``rnnkit forecast``, backtest, serve) is then
that candidate. :data:`COMBINATIONS` also holds the equal-weight mean of the network, ETS and ARIMA (the
kind of combination the M-competitions found hard to beat), Theta, the mean of ETS and Theta and the
naive forecasts, which ``model.combine`` can name. The test split is never read.

A series too short for one probe (each needs its own training windows before the origin) does not
re-train the network: the classical baselines alone are refitted before up to :data:`BASELINE_PROBES`
*baseline origins* (a step apart, each with :data:`MIN_HISTORY` rows before it and a whole horizon after
it inside the training rows), and the candidate of :data:`SHORT_AUTO` with the lower mean MASE there is
kept: ETS, or seasonal naive (on a yearly series the last value, which on a short series that has
stopped doing what its history did no smoother beats). A series too short even for that gets the first of
:data:`TOO_SHORT` that its baselines allow (see docs/defaults.md for how all of these were chosen).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from rnnkit.baselines.forecast import run_baselines

log = logging.getLogger(__name__)

COMBINE_FILE = "combine.json"
NETWORK = "network"

#: candidate -> its members (equal weights); "network" is the trained model's own forecast
COMBINATIONS: dict[str, tuple[str, ...]] = {
    NETWORK: (NETWORK,),
    "mean": (NETWORK, "ets", "arima"),
    "ets": ("ets",),
    "arima": ("arima",),
    "seasonal_naive": ("seasonal_naive",),
    "naive": ("naive",),
    "theta": ("theta",),
    "ets_theta": ("ets", "theta"),
}
#: the candidates ``auto`` chooses among. Chosen on the development series (scripts/dev_forecast_combine.py,
#: docs/defaults.md): over all six candidates the probes' noise picked naive on shampoo and ETS on yearly
#: series the network forecast better; these three gave the best test MASE of the rules compared there. With
#: Theta a fourth (session 11) the probes picked it on shampoo, worse on its test year (1.13 vs 0.97). Seasonal
#: naive the fourth since session 13: on the 36 development series long enough to probe (the 16 of before and 20
#: of the M1 yearly series added then) it changed two picks, both better on test (M1 yearly 17: 5.37 -> 2.55, 99:
#: 0.77 -> 0.67; geometric mean vs the better of ETS/ARIMA 1.109 -> 1.082, at or below seasonal naive 29 -> 31)
AUTO = (NETWORK, "ets", "arima", "seasonal_naive")
#: model.combine values: none (the network alone, no probes), auto (chosen on probes) or a candidate
CHOICES = ("none", "auto", *COMBINATIONS)
#: the combination of a series too short for one probe where no baseline origin fits either (or the run's
#: baselines lack seasonal naive), the first of these that ``data.baselines`` allows: ETS, else the network.
#: Earlier fallbacks (the mean of the network, ETS and ARIMA in sessions 8-10; the mean of ETS and Theta in
#: session 11) were chosen on the first 31 development series too short to probe and lost to ETS on the wider
#: pool of session 13 (docs/defaults.md); on 15-30 yearly values the network, ARIMA and Theta's drift
#: extrapolate noise
TOO_SHORT = ("ets", NETWORK)
#: the candidates of a series too short to probe, chosen on baseline origins (ties: the first). Chosen in session
#: 13 on the 123 development series too short to probe (M1 yearly 3-42 and the 112 M1 yearly series in no list
#: before, made development then; scripts/dev_short_forecasts.py, docs/defaults.md): against ETS alone, the
#: geometric mean of test MASE over the better of ETS/ARIMA 1.162 vs 1.175, mean test MASE 3.55 vs 3.52, at or
#: below seasonal naive on 102 of 123 vs 93; the mean of ETS and Theta (the rule before) 1.295, 3.83, 98
SHORT_AUTO = ("ets", "seasonal_naive")
BASELINE_PROBES = 6  # baseline origins at most, one step apart
MIN_HISTORY = 8  # rows a baseline origin needs before it
PROBES = 3  # probe origins at most
MIN_WINDOWS = 4  # training windows a probe's network needs before its origin


def probe_origins(n_train: int, horizon: int, context: int, val_size: int, probes: int = PROBES,
                  step: int | None = None) -> np.ndarray:
    """The last ``probes`` origins inside the first ``n_train`` rows, ``step`` apart (default: ``horizon``),
    each leaving the network at least :data:`MIN_WINDOWS` training windows (and its validation tail) before
    it; the last one's horizon ends at row ``n_train``."""
    need = val_size + context + horizon + MIN_WINDOWS - 1
    origins = n_train - horizon - (step or horizon) * np.arange(probes)
    return np.sort(origins[origins >= need])


def baseline_origins(n_train: int, horizon: int, probes: int = BASELINE_PROBES,
                     min_history: int = MIN_HISTORY) -> np.ndarray:
    """The last ``probes`` origins inside the first ``n_train`` rows, a step apart, for the baselines alone:
    each with ``min_history`` rows before it and its whole horizon before row ``n_train``."""
    return np.arange(max(min_history, n_train - horizon - probes + 1), n_train - horizon + 1)


def members_needed(names: tuple[str, ...] = tuple(COMBINATIONS)) -> tuple[str, ...]:
    """The baselines the candidates ``names`` read (in a stable order)."""
    return tuple(dict.fromkeys(m for n in names for m in COMBINATIONS[n] if m != NETWORK))


def blend(name: str, network: dict[str, np.ndarray] | None, baselines: dict[str, dict]) -> dict[str, np.ndarray]:
    """The candidate ``name``'s forecast from the network's (``{"mean": (N, K, H), "lower"...}``) and the
    baselines' (:func:`run_baselines`) on the same origins. The network's interval, if it has one, moves
    with the mean (its width stays the network's), except that a single baseline with its own interval
    (ARIMA's) brings that one. ``network=None``: candidates of baselines only, the point forecast alone."""
    members = COMBINATIONS[name]
    mean = np.mean([network["mean"] if m == NETWORK else baselines[m]["mean"] for m in members], axis=0)
    if network is None:  # baselines alone (a series too short to probe the network): the point forecast
        return {"mean": mean}
    out = {k: (mean if k == "mean" else v + (mean - network["mean"])) for k, v in network.items()}
    only = baselines.get(members[0]) if len(members) == 1 and members[0] != NETWORK else None
    if only is not None and only.get("lower") is not None and "lower" in network:
        out.update(lower=only["lower"], upper=only["upper"])
    return out


def combined_forecasts(name: str, network: dict[str, np.ndarray], targets: np.ndarray, origins: np.ndarray,
                       period: int, interval: float | None) -> dict[str, np.ndarray]:
    """Apply the saved combination ``name`` at ``origins`` of the series ``targets (T, K)``: the
    baselines it needs are fitted on the rows before each origin."""
    if name == NETWORK:
        return network
    H = network["mean"].shape[-1]
    base = run_baselines(targets, np.asarray(origins), H, period, members_needed((name,)), interval or 0.9)
    return blend(name, network, base)


def mase_per_origin(y: np.ndarray, pred: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """MASE of each origin (N,), averaged over series and steps: |error| / the series' in-sample scale."""
    return np.nanmean(np.abs(pred - y).mean(-1) / scales, axis=1)


def choose(y: np.ndarray, scales: np.ndarray, network: dict[str, np.ndarray] | None, baselines: dict[str, dict],
           names: tuple[str, ...] = AUTO, scored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The candidate of ``names`` with the lowest mean MASE over the probe origins (MAE where a history has
    no MASE scale: ``metric`` says which; the scores stay under ``val_mase``) (ties: the earlier in
    ``names``, so the network alone wins a tie; ``network=None``: baselines only, the first of ``names`` is
    the fallback); ``val_mase`` also scores the candidates ``scored`` (the
    run's baselines, for the verdict beside them). ``y`` (N, K, H) the observed values after each probe
    origin, ``scales`` (N, K) their MASE denominators."""
    every = tuple(dict.fromkeys(names + scored))
    metric = "val_mase"
    if not np.isfinite(scales).all():  # a history without seasonal change has no MASE scale: score by MAE
        scales, metric = np.ones_like(scales), "val_mae"
    scores = {n: float(np.mean(mase_per_origin(y, blend(n, network, baselines)["mean"], scales))) for n in every}
    finite = [n for n in names if np.isfinite(scores[n])]
    best = min(finite, key=lambda n: (scores[n], names.index(n))) if finite else (NETWORK if network else names[0])
    return {"combination": best, "members": list(COMBINATIONS[best]), "metric": metric, "val_mase": scores}


__all__ = ["AUTO", "BASELINE_PROBES", "CHOICES", "COMBINATIONS", "COMBINE_FILE", "MIN_HISTORY", "MIN_WINDOWS",
           "NETWORK", "PROBES", "SHORT_AUTO", "TOO_SHORT", "baseline_origins", "blend", "choose", "combined_forecasts",
           "members_needed", "probe_origins"]
