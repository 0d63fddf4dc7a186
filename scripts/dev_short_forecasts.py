"""Design the combination of a forecast too short to probe the network (docs/defaults.md, session 13).

A series whose training rows leave no probe origin for the network (``rnnkit.evaluation.combine.
probe_origins``) never re-trains it; what it forecasts is a blend of the classical baselines. This script
scores, on the M1 yearly series of a group (horizon 6, as the quality suite runs them), every fixed
candidate and every rule that chooses among candidates on the *baseline origins* inside the training rows
(:func:`rnnkit.evaluation.combine.baseline_origins`, the baselines refitted before each, the choice by
:func:`rnnkit.evaluation.combine.choose`), against the better of ETS/ARIMA on the held-out tail (within
10%, geometric mean) and seasonal naive (the floor). The network plays no part (none is trained), so the
numbers are exactly those of the default's forecasts for such series.

Groups: ``dev`` (M1 yearly 3-42, development: the rule was chosen on these), ``held-out`` (the suite's
held-out M1 yearly series) and ``rest`` (the M1 yearly series in neither list; report only).

    flock /tmp/rnnkit-cpu.lock python scripts/dev_short_forecasts.py [--group dev|held-out|rest] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rnnkit.baselines.forecast import run_baselines
from rnnkit.data import tsf
from rnnkit.data.registry import load_dataset
from rnnkit.defaults import Summary, _context
from rnnkit.evaluation.backtest import mase_scale
from rnnkit.evaluation.combine import COMBINATIONS, baseline_origins, choose, probe_origins

H = 6
HELD_OUT = {1, 2, 100, 120, 140, 160, 180, *range(105, 176, 10), *range(50, 96, 5), 110, 130, 150, 170}
GROUPS = {"dev": set(range(3, 43)), "held-out": HELD_OUT,
          "rest": set(range(1, tsf.M1_YEARLY_COUNT + 1)) - HELD_OUT - set(range(3, 43))}
BASES = ("naive", "ets", "theta", "arima")
#: fixed candidates (those of COMBINATIONS the network is not part of) and design-only ones
FIXED = {"ets": ("ets",), "theta": ("theta",), "arima": ("arima",), "naive": ("naive",), "ets_theta": ("ets", "theta"),
         "ets_theta_arima": ("ets", "theta", "arima")}
#: rules choosing on the baseline origins (ties: the first); the first row is the one adopted
RULES = [("ets_theta", "naive"), ("ets_theta", "ets", "theta", "arima", "naive"), ("ets", "theta", "arima", "naive"),
         ("ets", "naive"), ("ets_theta", "ets", "naive")]


def too_short(n_train: int) -> bool:
    """What the default decides for an M1 yearly series: no probe origin for the network (its data-aware
    context is computed from the whole series, as ``rnnkit.defaults`` does)."""
    ctx = _context(Summary("forecast", "series", n_train + H, period=1, horizon=H))
    return not len(probe_origins(n_train, H, ctx, 0))


def score(k: int) -> dict:
    y = np.asarray(load_dataset(f"m1-yearly:{k}").values, dtype=np.float64).reshape(-1)
    n = len(y) - H
    test = run_baselines(y[:, None], np.array([n]), H, 1, BASES)
    scale = mase_scale(y[:n], 1)
    row = {"n_train": n, "too_short": too_short(n),
           "test": {c: float(np.mean(np.abs(np.mean([test[m]["mean"][0, 0] for m in ms], 0) - y[n:])) / scale)
                    for c, ms in FIXED.items()}}
    origins = baseline_origins(n, H)
    row["picked"] = {}
    if len(origins):
        base = run_baselines(y[:n, None], origins, H, 1, BASES)
        truth = np.stack([y[o:o + H] for o in origins])[:, None]
        scales = np.array([[mase_scale(y[:o], 1)] for o in origins])
        for rule in RULES:
            COMBINATIONS.update({c: FIXED[c] for c in rule})
            row["picked"]["/".join(rule)] = choose(truth, scales, None, base, rule)["combination"]
    return row


def report(rows: dict[int, dict]) -> None:
    short = {k: r for k, r in rows.items() if r["too_short"]}
    best = np.array([min(r["test"]["ets"], r["test"]["arima"]) for r in short.values()])
    floor = np.array([r["test"]["naive"] for r in short.values()])
    print(f"{len(short)} of {len(rows)} series too short to probe the network "
          f"({sum(not r['picked'] for r in short.values())} too short for a baseline origin: ets_theta)")
    print("| candidate or rule | mean test MASE | geometric mean vs the better of ETS/ARIMA | within 10% | "
          "at or below seasonal naive |\n|---|---|---|---|---|")
    cands = [(c, [r["test"][c] for r in short.values()]) for c in FIXED]
    for rule in RULES:
        name = "/".join(rule)
        cands.append((f"chosen among {', '.join(rule)}",
                      [r["test"][r["picked"].get(name, "ets_theta")] for r in short.values()]))
    for name, v in cands:
        v = np.array(v)
        print(f"| {name} | {v.mean():.3f} | {np.exp(np.mean(np.log(v / best))):.3f} | "
              f"{int(np.sum(v <= 1.1 * best))} / {len(v)} | {int(np.sum(v <= floor + 1e-12))} / {len(v)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", choices=tuple(GROUPS), default="dev")
    ap.add_argument("--json", help="write the per-series numbers here")
    a = ap.parse_args()
    rows = {k: score(k) for k in sorted(GROUPS[a.group])}
    report(rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
