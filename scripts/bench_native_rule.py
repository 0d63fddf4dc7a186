"""Where the native GRU / RNN loop beats torch's kernel on CPU: the evidence for ``NATIVE_FIRST``.

    python scripts/bench_native_rule.py [--threads 2] [--reps 12]

For each cell (gru, rnn) and shape (batch, time, input, hidden, layers), the same weights run as
``Stack(impl="fused")`` (torch's kernel) and ``Stack(impl="fastloop")`` (the native loop), inference
(no_grad forward) and training (forward + backward of sum(y)) timed side by side with interleaved
repetitions; each line is the median of the per-repetition paired ratios fused / native (> 1: the
native loop is faster) with its interquartile range, and the choice ``impl="auto"`` makes there.
Used for docs/benchmarks.md ("Native GRU and RNN loops") and ``layers/stack.py``'s rule.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnkit.layers import Stack, native
from rnnkit.runtime import tune_cpu_allocator

#: (batch, time, input, hidden, layers): the cells bench's shapes, small batches, big steps, short T
SHAPES = [(64, 100, 128, 256, 1), (1, 1000, 128, 256, 1), (16, 100, 64, 128, 1), (32, 200, 32, 64, 1),
          (256, 50, 128, 256, 1), (64, 50, 512, 1024, 1), (1, 1, 64, 512, 2), (1, 4, 64, 512, 2),
          (1, 8, 64, 512, 2), (1, 16, 64, 512, 2), (1, 32, 64, 512, 2), (16, 4, 64, 128, 1), (16, 16, 64, 128, 1)]


def _quartiles(v: list[float]) -> str:
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    return f"{q[1]:.2f} ({q[0]:.2f}-{q[2]:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=12)
    args = ap.parse_args()
    tune_cpu_allocator()  # as the CLI does (it also asks for huge pages, which needs a fresh process)
    torch.set_num_threads(args.threads)
    assert native.load(), native.status()
    print(f"torch {torch.__version__}, {args.threads} threads, {args.reps} interleaved repetitions after 2 warm-ups; "
          "speed-up = fused time / native time (median of paired ratios, IQR)\n")
    print("| cell | B | T | in | H | layers | inference speed-up | auto (inference) | training speed-up | "
          "auto (training) |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for cell in ("gru", "rnn"):
        for B, T, I, H, L in SHAPES:
            torch.manual_seed(0)
            fused = Stack(cell, I, H, num_layers=L, impl="fused")
            fast = Stack(cell, I, H, num_layers=L, impl="fastloop")
            auto = Stack(cell, I, H, num_layers=L)
            fast.load_state_dict(fused.state_dict())
            x = torch.randn(B, T, I)
            xg = x.clone().requires_grad_(True)
            inf: dict[str, list[float]] = {"fused": [], "fast": []}
            trn: dict[str, list[float]] = {"fused": [], "fast": []}
            for rep in range(args.reps + 2):
                for key, m in (("fused", fused), ("fast", fast)):
                    with torch.no_grad():
                        t0 = time.perf_counter()
                        m(x)
                        t1 = time.perf_counter()
                    m(xg)[0].sum().backward()
                    t2 = time.perf_counter()
                    if rep >= 2:
                        inf[key].append(t1 - t0)
                        trn[key].append(t2 - t1)
            with torch.no_grad():
                auto_inf = auto.impls_for(x)[0]
            auto_trn = auto.impls_for(xg)[0]
            ri = [a / b for a, b in zip(inf["fused"], inf["fast"])]
            rt = [a / b for a, b in zip(trn["fused"], trn["fast"])]
            print(f"| {cell} | {B} | {T} | {I} | {H} | {L} | {_quartiles(ri)} | {auto_inf} | {_quartiles(rt)} | "
                  f"{auto_trn} |", flush=True)


if __name__ == "__main__":
    main()
