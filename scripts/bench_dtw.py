"""The 1-NN DTW baseline: native search vs the torch diagonals, side by side on UCR sets.

    python scripts/bench_dtw.py [--threads 1] [--reps 3] [--sets GunPoint:none,ACSF1:146]

Each set is NAME:WINDOW (``none`` = full warping window). Both implementations classify the test
split by its nearest training series, interleaved repetitions; printed: median seconds of each, the
median of the paired ratios torch / native with its range, and whether the predictions and the
accuracy agree. Used for docs/benchmarks.md ("Native GRU and RNN loops", DTW note).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rnnkit.baselines.classify import nn1_dtw
from rnnkit.data.registry import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sets", default="GunPoint:none,ACSF1:146")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.reps} interleaved repetitions\n")
    print("| set | train x test | window | torch s | native s | speed-up (range) | same predictions | accuracy |\n"
          "|---|---|---:|---:|---:|---:|---|---:|")
    for item in args.sets.split(","):
        name, w = item.split(":")
        window = None if w == "none" else int(w)
        d = load_dataset(f"ucr:{name}")
        z = [(x - x.mean(0)) / (x.std(0) + 1e-8) for x in (np.asarray(s, np.float64) for s in d.train_x)]
        q = [(x - x.mean(0)) / (x.std(0) + 1e-8) for x in (np.asarray(s, np.float64) for s in d.test_x)]
        times: dict[bool, list[float]] = {True: [], False: []}
        preds: dict[bool, np.ndarray] = {}
        for _ in range(args.reps):
            for use_native in (True, False):
                t0 = time.perf_counter()
                preds[use_native] = nn1_dtw(z, np.asarray(d.train_y), q, window, use_native=use_native)
                times[use_native].append(time.perf_counter() - t0)
        ratios = [a / b for a, b in zip(times[False], times[True])]
        acc = float((preds[True] == np.asarray(d.test_y)).mean())
        print(f"| {name} | {len(z)} x {len(q)} | {w} | {statistics.median(times[False]):.2f} | "
              f"{statistics.median(times[True]):.3f} | {statistics.median(ratios):.1f} "
              f"({min(ratios):.1f}-{max(ratios):.1f})"
              f" | {bool((preds[True] == preds[False]).all())} | {acc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
