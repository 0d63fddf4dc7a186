"""Design the forecast combination (model.combine) on the development series (docs/datasets.md).

For each development series the one-command default network is trained (data-aware rules,
``model.combine=none``) and re-trained from a dense grid of probe origins inside the training rows (up to
:data:`GRID` origins, half a horizon apart, each with the windows :func:`probe_origins` asks for). Every
candidate of ``rnnkit.evaluation.combine.COMBINATIONS`` is scored per probe (validation MASE) and on the
held-out tail (test MASE). The rules for ``auto`` (which probes, which candidates, a margin before leaving
the network, what a series too short to probe gets) are then replayed from those numbers. These are
development series, so their test tails may guide the design.

    flock /tmp/rnnkit-cpu.lock python scripts/dev_forecast_combine.py [NAME ...] [--json out.json] [--set k=v ...]
    python scripts/dev_forecast_combine.py --replay out.json   # the rules again, without training
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from rnnkit.apps.forecast import refit_forecast
from rnnkit.baselines.forecast import run_baselines
from rnnkit.evaluation.backtest import mase_scales, model_forecasts, truth
from rnnkit.evaluation.combine import COMBINATIONS, blend, mase_per_origin, members_needed, probe_origins
from rnnkit.tasks import make_run_config, train_run

sys.path.insert(0, str(Path(__file__).parent))
from dev_short_forecasts import GROUPS  # noqa: E402 - the M1 yearly development series, one list

SERIES: dict[str, tuple[int, list[str]]] = {
    "airline": (12, []), "lynx": (10, []), "shampoo": (6, []), "elec_equip": (12, []),
    "co2": (52, ["data.impute=interpolate"]), "uschange": (8, []),
    "macrodata": (8, ["data.target_columns=realgdp,realcons,realinv"]),
    **{f"m1-yearly:{k}": (6, []) for k in sorted(GROUPS["development"])},  # 3-42, and (session 13) the 112 added
}
#: design-only candidates, scored beside COMBINATIONS' own (not offered to users unless a rule adopts one):
#: session 10 compared the first three for a series too short to probe (none was adopted; docs/defaults.md), among them
#: the median of four members, robust to one far off (the network alone reached MASE 19 on a short series)
TRIAL = {"mean_snaive": ("network", "ets", "arima", "seasonal_naive"), "ets+naive": ("ets", "naive"),
         "median4": ("network", "ets", "arima", "seasonal_naive"),
         # session 11, beside COMBINATIONS' theta and ets_theta (adopted for a series too short to probe)
         "mean_theta": ("network", "ets", "arima", "theta"), "classical": ("ets", "arima", "theta"),
         "theta+naive": ("theta", "naive")}
MEDIAN = {"median4"}
COMBINATIONS.update(TRIAL)
NEEDED = members_needed(tuple(COMBINATIONS))  # every baseline a candidate reads (the trial ones too)
GRID = 6  # probe origins at most, half a horizon apart (every second one: the horizon-apart rule)


def candidate_mase(y: np.ndarray, scales: np.ndarray, net: dict, base: dict) -> dict[str, list[float]]:
    """MASE per origin of every candidate (MAE where a history has no MASE scale, as ``choose`` does)."""
    if not np.isfinite(scales).all():
        scales = np.ones_like(scales)
    return {n: mase_per_origin(y, forecast(n, net, base), scales).tolist() for n in COMBINATIONS}


def forecast(name: str, net: dict, base: dict) -> np.ndarray:
    """A candidate's point forecast; the design-only medians take the median of their members instead."""
    if name in MEDIAN:
        return np.median([net["mean"] if m == "network" else base[m]["mean"] for m in COMBINATIONS[name]], axis=0)
    return blend(name, net, base)["mean"]


def run(name: str, sets: tuple[str, ...] = ()) -> dict:
    horizon, extra = SERIES[name]
    cfg = make_run_config("forecast", [f"data.horizon={horizon}", "train.num_threads=1", "model.combine=none",
                                       *extra, *sets], name)
    out = train_run(cfg)
    model, bundle, cfg = out.model, out.bundle, out.config
    origins = bundle.test_origins
    net = model_forecasts(model, bundle, origins, combine=False)
    base = run_baselines(bundle.frame.targets, origins, horizon, bundle.frame.period, NEEDED)
    test = {n: float(np.mean(v)) for n, v in
            candidate_mase(truth(bundle, origins, horizon), mase_scales(bundle, origins), net, base).items()}
    n_train = int(origins[0])
    grid = probe_origins(n_train, horizon, cfg.data.context, cfg.data.val_size, GRID, max(1, horizon // 2))
    val: dict[str, list[float]] = {}
    if len(grid):
        probe_cfg = dataclasses.replace(cfg, train=dataclasses.replace(
            cfg.train, max_minutes=cfg.train.max_minutes and cfg.train.max_minutes / len(grid)))
        parts = [refit_forecast(probe_cfg, bundle, int(o), local=True) for o in grid]
        pnet = {k: np.concatenate([p[k] for p in parts], 0) for k in parts[0]}
        pbase = run_baselines(bundle.frame.targets, grid, horizon, bundle.frame.period, NEEDED)
        val = candidate_mase(truth(bundle, grid, horizon), mase_scales(bundle, grid), pnet, pbase)
    return {"series": name, "rows": len(bundle.frame.targets), "horizon": horizon,
            "grid": (n_train - np.asarray(grid)).tolist(), "val": val, "test": test}


def pick(r: dict, names: tuple[str, ...], every: int, probes: int, margin: float, short: str) -> str:
    """``auto``'s pick under one rule: probes ``every`` grid steps apart (1: half a horizon, 2: a horizon),
    at most ``probes`` of them; a baseline replaces the network only below (1 - margin) x its score."""
    idx = [i for i, back in enumerate(r["grid"]) if (back // max(1, r["horizon"] // 2) - 2) % every == 0]
    idx = sorted(idx, key=lambda i: r["grid"][i])[:probes]
    if not idx:
        return short
    score = {n: float(np.mean([r["val"][n][i] for i in idx])) for n in names}
    best = min(names, key=lambda n: (score[n], names.index(n)))
    if "network" in names and best != "network" and score[best] > (1 - margin) * score["network"]:
        return "network"
    return best


def replay(rows: list[dict]) -> None:
    """Test MASE of each rule's pick over the series, against the better of ETS/ARIMA and seasonal naive."""
    best = np.array([min(r["test"]["ets"], r["test"]["arima"]) for r in rows])
    snaive = np.array([r["test"]["seasonal_naive"] for r in rows])
    sets = {"network, ets, arima": ("network", "ets", "arima"),
            "+ seasonal naive": ("network", "ets", "arima", "seasonal_naive"),
            "+ mean": ("network", "mean", "ets", "arima"), "all six": tuple(COMBINATIONS)}
    spacing = {"3 a horizon apart": (2, 3), "6 half a horizon apart": (1, 6), "4 half a horizon apart": (1, 4),
               "2 a horizon apart": (2, 2), "the last one": (1, 1)}
    print(f"{'candidates':22s} {'probes':24s} margin short    | mean  geo   within10% >=snaive")
    t = np.array([r["test"]["network"] for r in rows])
    print(f"{'network alone':76s} | {t.mean():.3f} {np.exp(np.log(t / best).mean()):.3f} "
          f"{(t <= 1.1 * best).sum():3d}/{len(rows)} {(t <= snaive).sum():3d}/{len(rows)}")
    for (sname, names), (pname, (every, k)), margin, short in itertools.product(
            sets.items(), spacing.items(), (0.0, 0.1, 0.2, 0.3), ("mean", "network", "ets")):
        t = np.array([r["test"][pick(r, names, every, k, margin, short)] for r in rows])
        print(f"{sname:22s} {pname:24s} {margin:.1f}    {short:8s} | {t.mean():.3f} "
              f"{np.exp(np.log(t / best).mean()):.3f} {(t <= 1.1 * best).sum():3d}/{len(rows)} "
              f"{(t <= snaive).sum():3d}/{len(rows)}")


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--replay"]:
        replay(json.load(open(args[1])))
        return
    out_path = None
    if "--json" in args:
        i = args.index("--json")
        out_path, args = args[i + 1], args[:i] + args[i + 2:]
    sets: list[str] = []
    while "--set" in args:  # overrides for every series (a rule under design)
        i = args.index("--set")
        sets.append(args[i + 1])
        args = args[:i] + args[i + 2:]
    torch.set_num_threads(1)
    rows = []
    for name in args or list(SERIES):
        rows.append(run(name, tuple(sets)))
        print(json.dumps({"series": name, "grid": rows[-1]["grid"],
                          "test": {k: round(v, 3) for k, v in rows[-1]["test"].items()}}), flush=True)
        if out_path:
            with open(out_path, "w") as f:
                json.dump(rows, f, indent=1)
    replay(rows)


if __name__ == "__main__":
    main()
