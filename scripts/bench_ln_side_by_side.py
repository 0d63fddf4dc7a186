"""Side-by-side fwd+bwd of nn.LSTM, the same kernel behind a Stack, and the layer-norm LSTM fastloop
(native C++ and Python loops), in=128, H=256; interleaved repetitions, medians and ratios to nn.LSTM.

    python scripts/bench_ln_side_by_side.py --reps 30 [--batch 64 --steps 100] [--threads 2]
                                            [--no-allocator-tuning]

Used for docs/benchmarks.md (layer-norm LSTM at B=64; the fused path at B=1, T=1000), where the
full `rnnkit bench cells` run has too few repetitions to separate 1.4x from 1.6x on a noisy machine.
The "lstm fused (Stack)" row runs nn.LSTM's own kernel: its distance from 1.00 is the wrapper's
cost plus the noise of the run.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from rnnkit.bench import PythonLoops
from rnnkit.layers import Stack, native
from rnnkit.runtime import tune_cpu_allocator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--no-allocator-tuning", action="store_true",
                    help="leave glibc malloc as it is (the rnnkit CLI tunes it, see rnnkit/runtime.py)")
    args = ap.parse_args()
    alloc = "untouched" if args.no_allocator_tuning else tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, 128, requires_grad=True)
    bare = nn.LSTM(128, 256, batch_first=True)
    fused = Stack("lstm", 128, 256)
    fused.load_torch_state_dict(bare.state_dict())
    mods = {"nn.LSTM": bare, "lstm fused (Stack)": fused, "layernorm native": Stack("layernorm_lstm", 128, 256),
            "layernorm python": PythonLoops(Stack("layernorm_lstm", 128, 256))}
    times: dict[str, list[float]] = {k: [] for k in mods}
    for rep in range(args.reps + 1):  # rep 0 warms up (and builds the native loops)
        for name, m in mods.items():
            t0 = time.perf_counter()
            m(x)[0].sum().backward()
            if rep:
                times[name].append(time.perf_counter() - t0)
    base = sorted(times["nn.LSTM"])[args.reps // 2]
    print(f"B={args.batch} T={args.steps}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.reps} reps; {native.status()}; "
          f"allocator: {alloc}")
    for name, ts in times.items():
        ts.sort()
        med = ts[args.reps // 2]
        print(f"{name:19s} median {med * 1e3:7.1f} ms  {med / base:5.2f}x nn.LSTM  (min {ts[0] * 1e3:.1f} ms)")


if __name__ == "__main__":
    main()
