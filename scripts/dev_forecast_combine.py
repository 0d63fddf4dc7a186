"""Design the forecast combination (model.combine) on the development series (docs/datasets.md).

For each development series: the one-command default (data-aware rules, ``model.combine=auto``) is
trained, and on its held-out tail every candidate of ``rnnkit.evaluation.combine.COMBINATIONS`` is scored
(test MASE) beside the one ``auto`` picked from its probe origins. These are development series, so their
test tails may guide the design (which candidates, the probe count, what a series too short to probe gets).

    flock /tmp/rnnkit-cpu.lock python scripts/dev_forecast_combine.py [NAME ...] [--json out.json]
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch

from rnnkit.baselines.forecast import run_baselines
from rnnkit.evaluation.backtest import mase_scales, model_forecasts, truth
from rnnkit.evaluation.combine import AUTO, COMBINATIONS, blend, mase_per_origin, members_needed
from rnnkit.tasks import make_run_config, train_run

SERIES: dict[str, tuple[int, list[str]]] = {
    "airline": (12, []), "lynx": (10, []), "shampoo": (6, []), "elec_equip": (12, []),
    "co2": (52, ["data.impute=interpolate"]), "uschange": (8, []),
    "macrodata": (8, ["data.target_columns=realgdp,realcons,realinv"]),
    **{f"m1-yearly:{k}": (6, []) for k in range(3, 43)},
}


def run(name: str) -> dict:
    horizon, extra = SERIES[name]
    cfg = make_run_config("forecast", [f"data.horizon={horizon}", "train.num_threads=1", *extra], name)
    out = train_run(cfg)
    model, bundle = out.model, out.bundle
    origins = bundle.test_origins
    net = model_forecasts(model, bundle, origins, combine=False)
    base = run_baselines(bundle.frame.targets, origins, horizon, bundle.frame.period, members_needed())
    y, scales = truth(bundle, origins, horizon), mase_scales(bundle, origins)
    test = {n: float(np.mean(mase_per_origin(y, blend(n, net, base)["mean"], scales))) for n in COMBINATIONS}
    chosen = model.artifacts.get("combine.json", {})
    return {"series": name, "rows": len(bundle.frame.targets), "chosen": chosen.get("combination"),
            "rule": chosen.get("rule"), "val_mase": chosen.get("val_mase"), "test_mase": test,
            "test_mase_chosen": out.metrics["test_mase"]}


#: candidate sets compared for ``auto`` (each replayed from the same probes' validation MASE)
RULES = {"all six": tuple(COMBINATIONS), "network, mean": ("network", "mean"),
         "network, mean, ets, arima": ("network", "mean", "ets", "arima"), "network, ets, arima": AUTO}


def replay(rows: list[dict]) -> None:
    """Test MASE of each candidate set's pick (too short to probe: the mean or the network alone)."""
    best = np.array([min(r["test_mase"]["ets"], r["test_mase"]["arima"]) for r in rows])
    snaive = np.array([r["test_mase"]["seasonal_naive"] for r in rows])
    for short in ("mean", "network"):
        for rule, names in RULES.items():
            t = np.array([r["test_mase"][short if r["val_mase"] is None else
                                         min(names, key=lambda n, v=r["val_mase"]: (v[n], names.index(n)))]
                          for r in rows])
            print(f"{rule:26s} too short -> {short:8s} mean test MASE {t.mean():.3f}  geometric mean vs best of "
                  f"ETS/ARIMA {np.exp(np.log(t / best).mean()):.3f}  within 10% of it {(t <= 1.1 * best).sum()}/"
                  f"{len(rows)}  below seasonal naive {(t < snaive).sum()}/{len(rows)}")


def main() -> None:
    args = sys.argv[1:]
    out_path = None
    if "--json" in args:
        i = args.index("--json")
        out_path, args = args[i + 1], args[:i] + args[i + 2:]
    torch.set_num_threads(1)
    rows = []
    for name in args or list(SERIES):
        r = run(name)
        rows.append(r)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else
                              {a: round(b, 3) for a, b in v.items()} if isinstance(v, dict) else v)
                          for k, v in r.items()}), flush=True)
    if out_path:
        with open(out_path, "w") as f:
            json.dump(rows, f, indent=1)
    replay(rows)
    cands = list(COMBINATIONS)
    print("mean test MASE rank per candidate (1 = best):",
          dict(zip(cands, np.round(np.mean([np.argsort(np.argsort([r["test_mase"][c] for c in cands])) + 1
                                            for r in rows], 0), 2))))
    print("auto's pick, mean test MASE:", round(float(np.mean([r["test_mase_chosen"] for r in rows])), 3),
          "| network alone:", round(float(np.mean([r["test_mase"]["network"] for r in rows])), 3),
          "| best of ets/arima per series:",
          round(float(np.mean([min(r["test_mase"]["ets"], r["test_mase"]["arima"]) for r in rows])), 3))


if __name__ == "__main__":
    main()
