"""Design the forecast rules on validation data of the development series (docs/datasets.md).

Validation = rolling origins inside the training rows (before the held-out test tail), a fresh
model refitted on the rows before each origin, as ``rnnkit backtest --refit always`` does; the test
tail is never used. Each variant is the data-aware defaults plus a few overrides; the table prints
validation MASE per series and the mean rank.

    flock /tmp/rnnkit-cpu.lock python scripts/dev_forecast_rules.py
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from rnnkit.apps.forecast import refit_forecast
from rnnkit.config import apply_overrides
from rnnkit.data.forecast_bundle import prepare
from rnnkit.evaluation.backtest import compare
from rnnkit.tasks import make_run_config, resolve_defaults

SERIES = {"airline": 12, "lynx": 10, "shampoo": 6, "elec_equip": 12, "co2": 52, "uschange": 8, "macrodata": 8}
VARIANTS = {
    "rules": [],
    "mae": ["model.loss=mae"],
    "skip=last": ["model.skip=last"],
    "mae+skip=last": ["model.loss=mae", "model.skip=last"],
}


def validation_mase(name: str, horizon: int, extra: list[str], folds: int = 2) -> dict[str, float]:
    sets = [f"data.horizon={horizon}", "train.num_threads=1"] + (["data.impute=interpolate"] if name == "co2" else [])
    if name == "macrodata":
        sets += ["data.target_columns=realgdp,realcons,realinv"]
    cfg, frame, _ = resolve_defaults(make_run_config("forecast", sets, name))
    cfg = apply_overrides(cfg, extra + ["data.val_size=0"])
    full = prepare(cfg.data, frame=frame)
    n_train = len(frame.targets) - (cfg.data.test_size or horizon)
    origins = np.array([n_train - horizon * (k + 1) for k in range(folds)][::-1])
    torch.set_num_threads(1)
    parts = [refit_forecast(cfg, full, int(o)) for o in origins]
    fc = {k: np.concatenate([p[k] for p in parts], 0) for k in parts[0]}
    res = compare(full, origins, fc, horizon, prefix="val_", baselines=("seasonal_naive", "ets", "arima"))
    return {"model": res["val_mase"], **{b: v["val_mase"] for b, v in res["baselines"].items()}}


def main() -> None:
    names = sys.argv[1:] or list(SERIES)
    rows = {}
    for name in names:
        rows[name] = {v: validation_mase(name, SERIES[name], extra)["model"] for v, extra in VARIANTS.items()}
        base = validation_mase(name, SERIES[name], [])
        rows[name].update({b: base[b] for b in ("seasonal_naive", "ets", "arima")})
        print(name, {k: round(v, 3) for k, v in rows[name].items()}, flush=True)
    cols = list(VARIANTS)
    ranks = np.mean([np.argsort(np.argsort([rows[n][c] for c in cols])) + 1 for n in rows], 0)
    print("mean rank (1 = best):", dict(zip(cols, np.round(ranks, 2))))


if __name__ == "__main__":
    main()
