"""Side-by-side timing of the CPU scan path's time-chunk size (rnnkit.layers.recurrent.CPU_SCAN_CHUNK_BYTES)
for minGRU / minLSTM, fwd+bwd, against bare nn.GRU, interleaved repetitions, medians and ratios.

    flock /tmp/rnnkit-cpu.lock python scripts/bench_scan_chunks.py --T 4096 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnkit.layers import Stack, recurrent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--T", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes-mb", default="0,1,4,16", help="chunk budgets in MiB; 0 = one chunk (no chunking)")
    a = ap.parse_args()
    torch.manual_seed(0)
    x = torch.randn(a.B, a.T, 128, requires_grad=True)
    gru = torch.nn.GRU(128, 256, batch_first=True)
    cands: dict[str, tuple[torch.nn.Module, int]] = {"nn.GRU (bare)": (gru, 0)}
    for cell in ("mingru", "minlstm"):
        st = Stack(cell, 128, 256, impl="scan", scan_method="sequential")
        for mb in a.sizes_mb.split(","):
            cands[f"{cell} chunk {mb} MiB" if mb != "0" else f"{cell} one chunk"] = (st, int(float(mb) * 2**20))
    times: dict[str, list[float]] = {k: [] for k in cands}
    for rep in range(a.reps + 1):
        for label, (mod, nbytes) in cands.items():
            recurrent.CPU_SCAN_CHUNK_BYTES = nbytes or 1 << 60
            t0 = time.perf_counter()
            mod(x)[0].sum().backward()
            if rep:
                times[label].append(time.perf_counter() - t0)
    base = statistics.median(times["nn.GRU (bare)"])
    print(f"B={a.B} T={a.T} in=128 H=256, {torch.get_num_threads()} threads, median of {a.reps}, fwd+bwd")
    print("| candidate | f+b ms | speed-up vs nn.GRU |\n|---|---:|---:|")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {m * 1e3:.0f} | {base / m:.2f}x |")


if __name__ == "__main__":
    main()
