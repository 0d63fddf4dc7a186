"""Where the native layer-norm / plain LSTM forward spends its time, and what its vector maths cost.

    python scripts/bench_native_parts.py [--threads 2] [--reps 11] [--transcendentals]

Part 1 times, interleaved, at B=64 T=100 H=256: the 100 step GEMMs alone (h W_hh^T into
preallocated rows, what any LSTM must do), the whole-sequence input GEMM, and the native
``lnlstm_fwd`` / ``lstm_fwd`` operators; an operator's time minus the GEMMs' is its per-row work.
Part 2 (``--transcendentals``, compiles a small extension, ~20 s) times exp, tanh and sigmoid
forms over ATen's ``Vectorized<float>`` with the flags the native loops use, in ns per 8 floats.
Used for docs/benchmarks.md ("Layer-norm LSTM at B=64").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.layers import native
from rnnkit.runtime import tune_cpu_allocator

_MICRO = r"""
#include <ATen/cpu/vec/vec.h>
#include <torch/extension.h>
#include <chrono>
using V = at::vec::Vectorized<float>;
double run(int which, int64_t n, int reps) {
  std::vector<float> buf(n), out(n);
  for (int64_t i = 0; i < n; ++i) buf[i] = (i % 200 - 100) * 0.05f;
  const V one(1.f), two(2.f);
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r) {
    for (int64_t k = 0; k < n; k += V::size()) {
      V x = V::loadu(buf.data() + k), y;
      switch (which) {
        case 0: y = x.exp(); break;
        case 1: y = x.exp_u20(); break;
        case 2: y = x.tanh(); break;
        case 3: y = one - two / ((x + x).exp() + one); break;
        case 4: y = one / (one + x.neg().exp()); break;
        default: y = x * x + x; break;
      }
      y.store(out.data() + k);
    }
    buf[r % n] += out[(r * 7) % n] * 1e-30f;  // a dependency so the loop is not optimised away
  }
  std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return dt.count() / reps / (n / V::size());
}
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("run", &run); }
"""
_FORMS = ["exp (SLEEF, 1 ULP)", "exp_u20 (ATen, ~20 ULP)", "tanh (SLEEF)", "tanh as 1 - 2/(e^2x + 1)",
          "sigmoid 1/(1 + e^-x)", "x*x + x (reference)"]


def parts(reps: int) -> None:
    ops = torch.ops.rnnkit_native
    T, B, I, H = 100, 64, 128, 256
    G = 4 * H
    xr, w = torch.randn(T, B, G), torch.randn(G, H) / 16
    h0 = c0 = torch.zeros(B, H)
    g, b, gc, bc = torch.ones(G), torch.zeros(G), torch.ones(H), torch.zeros(H)
    zs, hs, wt = torch.empty(T, B, G), torch.randn(T + 1, B, H), w.t()
    x, w_ih = torch.randn(T * B, I), torch.randn(G, I)

    def gemms() -> None:
        for t in range(T):
            torch.mm(hs[t], wt, out=zs[t])

    fns = {"100 step GEMMs": gemms, "input GEMM (T*B rows)": lambda: torch.mm(x, w_ih.t()),
           "lnlstm_fwd op": lambda: ops.lnlstm_fwd(xr, h0, c0, w, g, b, g, gc, bc, 1e-5, 1e-5, 1e-5),
           "lstm_fwd op": lambda: ops.lstm_fwd(xr, h0, c0, w, None)}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rep in range(reps + 1):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            if rep:
                times[k].append(time.perf_counter() - t0)
    med = {k: sorted(v)[reps // 2] * 1e3 for k, v in times.items()}
    base = med["100 step GEMMs"]
    for k, v in med.items():
        print(f"{k:24s} {v:7.2f} ms  {v / base:5.2f}x the step GEMMs")


def transcendentals() -> None:
    from torch.utils import cpp_extension

    flags = native._cpu_flags()
    src = Path(tempfile.mkdtemp()) / "micro.cpp"
    src.write_text(_MICRO)
    mod = cpp_extension.load(name="rnnkit_micro", sources=[str(src)], build_directory=str(src.parent),
                             extra_cflags=["-O3", *flags], verbose=False)
    for i, name in enumerate(_FORMS):
        ns = min(mod.run(i, 2048, 20000) for _ in range(3)) * 1e9
        print(f"{name:28s} {ns:6.2f} ns per 8 floats")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--transcendentals", action="store_true")
    args = ap.parse_args()
    tune_cpu_allocator()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if not native.load():
        raise SystemExit(f"the native loops are not available: {native.status()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.reps} reps; {native.status()}")
    parts(args.reps)
    if args.transcendentals:
        transcendentals()


if __name__ == "__main__":
    main()
