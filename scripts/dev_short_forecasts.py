"""Design the forecast of a series too short to probe the network (docs/defaults.md, session 13).

A series whose training rows leave no probe origin for the network (``rnnkit.evaluation.combine.
probe_origins``) never re-trains it; it forecasts with one of the classical baselines or a blend of them
(``rnnkit.evaluation.combine.TOO_SHORT``). This script scores, on the M1 yearly series of a group (horizon
6, as the quality suite runs them), every fixed candidate and every rule that chooses among candidates on
*baseline origins* inside the training rows (``rnnkit.evaluation.combine.baseline_origins``: the last
six a step apart, the baselines refitted before each), against the better of ETS/ARIMA on the held-out
tail (within 10%, geometric mean) and seasonal naive (the floor; on a yearly series the last value). The
network plays no part (none is trained), so the numbers are exactly those of the default's forecasts for
such series.

Groups: ``development`` (M1 yearly 3-42, development since sessions 8-9, and the 112 M1 yearly series in
no list before session 13, made development then: the rule was chosen on these), ``first-dev`` (3-42
alone, what sessions 9-11 chose on), ``added-dev`` (the 112) and ``held-out`` (the suite's held-out M1
yearly series: report only).

    flock /tmp/rnnkit-cpu.lock python scripts/dev_short_forecasts.py [--group NAME] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from rnnkit.baselines.forecast import run_baselines
from rnnkit.bench_quality import SUITES
from rnnkit.data import tsf
from rnnkit.data.registry import load_dataset
from rnnkit.defaults import Summary, _context
from rnnkit.evaluation.backtest import mase_scale
from rnnkit.evaluation.combine import baseline_origins, probe_origins

H = 6
HELD_OUT = {int(e.name.split(":")[1]) for e in SUITES["held-out"] if e.name.startswith("m1-yearly:")}
ADDED = set(range(1, tsf.M1_YEARLY_COUNT + 1)) - HELD_OUT - set(range(3, 43))
GROUPS = {"development": set(range(3, 43)) | ADDED, "first-dev": set(range(3, 43)), "added-dev": ADDED,
          "held-out": HELD_OUT}
BASES = ("naive", "ets", "theta", "arima")
#: fixed candidates (ETS is the one adopted: rnnkit.evaluation.combine.TOO_SHORT) and design-only blends
FIXED = {"ets": ("ets",), "theta": ("theta",), "arima": ("arima",), "naive": ("naive",), "ets_theta": ("ets", "theta"),
         "ets_theta_arima": ("ets", "theta", "arima")}
#: design-only rules choosing on the baseline origins (ties: the first); none was adopted
RULES = [("ets_theta", "naive"), ("ets_theta", "ets", "theta", "arima", "naive"), ("ets", "theta", "arima", "naive"),
         ("ets", "naive"), ("ets_theta", "ets", "naive")]


def too_short(n_train: int) -> bool:
    """What the default decides for an M1 yearly series: no probe origin for the network (its data-aware
    context is computed from the whole series, as ``rnnkit.defaults`` does)."""
    ctx = _context(Summary("forecast", "series", n_train + H, period=1, horizon=H))
    return not len(probe_origins(n_train, H, ctx, 0))


def pick(y: np.ndarray, origins: np.ndarray, base: dict, rule: tuple[str, ...]) -> str:
    """The candidate of ``rule`` with the lowest mean MASE over the baseline origins (ties: the first)."""
    def val(c: str) -> float:
        f = np.mean([base[m]["mean"][:, 0] for m in FIXED[c]], axis=0)
        return float(np.mean([np.abs(f[i] - y[o:o + H]).mean() / mase_scale(y[:o], 1) for i, o in enumerate(origins)]))
    scores = {c: val(c) for c in rule}
    return min(rule, key=lambda c: (scores[c] if np.isfinite(scores[c]) else np.inf, rule.index(c)))


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
        for rule in RULES:
            row["picked"]["/".join(rule)] = pick(y, origins, base, rule)
    return row


def report(rows: dict[int, dict]) -> None:
    short = {k: r for k, r in rows.items() if r["too_short"]}
    best = np.array([min(r["test"]["ets"], r["test"]["arima"]) for r in short.values()])
    floor = np.array([r["test"]["naive"] for r in short.values()])
    print(f"{len(short)} of {len(rows)} series too short to probe the network "
          f"({sum(not r['picked'] for r in short.values())} too short for a baseline origin: a rule's first candidate)")
    print("| candidate or rule | mean test MASE | geometric mean vs the better of ETS/ARIMA | within 10% | "
          "at or below seasonal naive |\n|---|---|---|---|---|")
    cands = [(c, [r["test"][c] for r in short.values()]) for c in FIXED]
    for rule in RULES:
        name = "/".join(rule)
        cands.append((f"chosen among {', '.join(rule)}",
                      [r["test"][r["picked"].get(name, rule[0])] for r in short.values()]))
    for name, v in cands:
        v = np.array(v)
        print(f"| {name} | {v.mean():.3f} | {np.exp(np.mean(np.log(v / best))):.3f} | "
              f"{int(np.sum(v <= 1.1 * best))} / {len(v)} | {int(np.sum(v <= floor + 1e-12))} / {len(v)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", choices=tuple(GROUPS), default="development")
    ap.add_argument("--json", help="write the per-series numbers here")
    ap.add_argument("--replay", help="report the per-series numbers of an earlier --json (nothing refitted)")
    a = ap.parse_args()
    if a.replay:
        with open(a.replay) as f:
            return report(json.load(f))
    rows = {k: score(k) for k in sorted(GROUPS[a.group])}
    report(rows)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
