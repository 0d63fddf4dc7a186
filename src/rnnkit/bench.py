"""Speed benchmarks: every cell and implementation side by side with bare ``torch.nn.LSTM/GRU``.

Why this shape: the machines are shared and noisy, so one run times every candidate, repetitions
are interleaved (rep 1 of all, then rep 2 of all, ...), and only ratios *within the run* are
reported. A ratio is the median of the per-repetition *paired* ratios (rep i of the candidate over
rep i of the baseline, timed moments apart) with their interquartile range, so load that drifts
between repetitions cancels and a kernel compared with itself reads 1.00 within its noise (the
"again" row times the first reference a second time in every repetition to show that noise).
Achieved GFLOP/s is compared with a plain GEMM of the layer's shape timed in the same repetition,
so "x% of the machine" means the same machine at the same moment.

``run_cell_bench`` returns a :class:`CellBench`; ``rnnkit.bench_report.cells_markdown`` renders it. The accuracy part
(``scan_accuracy``) compares each scan method in float32 against a float64 sequential reference.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.cells import CELLS
from rnnkit.cells.scan import SCANS
from rnnkit.layers import Stack, native
from rnnkit.layers import stack as _stack
from rnnkit.layers.fastlstm import FAST_CELLS

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass(frozen=True)
class Shape:
    """One benchmark configuration."""

    name: str
    batch: int
    time: int
    input_size: int
    hidden_size: int
    cells: tuple[str, ...]
    #: bare torch modules timed as references (keys of ``_REFS``)
    refs: tuple[str, ...] = ("lstm", "gru", "rnn")
    #: time the explicit per-step loop too; off at T=4096, where it is known to be slowest and
    #: would make the run longer than everything else together (ratios at T=100 tell the story)
    explicit: bool = True


ALL_CELLS = tuple(CELLS)
SHAPES: dict[str, Shape] = {
    "batch": Shape("B=64 T=100 in=128 H=256", 64, 100, 128, 256, ALL_CELLS),
    "stream": Shape("streaming B=1 T=1000 in=128 H=256", 1, 1000, 128, 256, ALL_CELLS),
    "min100": Shape("minGRU/minLSTM B=16 T=100 in=128 H=256", 16, 100, 128, 256, ("mingru", "minlstm"),
                    refs=("lstm", "gru")),
    "min4096": Shape("minGRU/minLSTM B=16 T=4096 in=128 H=256", 16, 4096, 128, 256, ("mingru", "minlstm"),
                     refs=("gru",), explicit=False),
}


@dataclass(frozen=True)
class Ratio:
    """Median of per-repetition paired ratios and their interquartile range (``lo``-``hi``)."""

    median: float
    lo: float
    hi: float

    def __str__(self) -> str:
        return self.format()

    def format(self, digits: int = 2, scale: float = 1.0) -> str:
        """``1.31 (1.27-1.36)``; ``scale`` multiplies all three (100 for percentages)."""
        m, lo, hi = (v * scale for v in (self.median, self.lo, self.hi))
        return f"{m:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def paired(num: list[float], den: list[float]) -> Ratio:
    """Median and quartiles of ``num[i] / den[i]`` over repetitions i.

    Why paired: repetition i of every candidate is timed within moments of the others, so a load
    change between repetitions scales both sides of ``num[i] / den[i]`` alike and cancels, where a
    ratio of two medians mixes repetitions taken under different loads."""
    if len(num) != len(den) or not num:
        raise ValueError(f"paired ratios need the same, non-zero number of repetitions; got {len(num)} and {len(den)}")
    r = sorted(a / b for a, b in zip(num, den))
    if len(r) == 1:
        return Ratio(r[0], r[0], r[0])
    q1, q2, q3 = statistics.quantiles(r, n=4, method="inclusive")
    return Ratio(q2, q1, q3)


@dataclass
class Row:
    """Per-repetition times (seconds) of one candidate; ``flops`` of one forward (GEMMs only)."""

    label: str
    fwd: list[float] = field(default_factory=list)
    fwdbwd: list[float] = field(default_factory=list)
    flops: float = 0.0


@dataclass
class ShapeResult:
    shape: Shape
    device: str
    rows: list[Row]
    gemm_gflops: float  #: of the median repetition, for the heading
    #: per-repetition times of the reference GEMM and its FLOPs (paired with the rows' repetitions)
    gemm: list[float] = field(default_factory=list)
    gemm_flops: float = 0.0
    #: the native C++ loops ran the fastloop / sequential-scan rows (CPU with the extension built)
    native: bool = False

    def gemm_share(self, row: Row) -> Ratio:
        """Achieved f+b GFLOP/s of ``row`` over the plain GEMM's, paired per repetition."""
        return paired([3 * row.flops * g for g in self.gemm], [fb * self.gemm_flops for fb in row.fwdbwd])


@dataclass
class CellBench:
    results: list[ShapeResult]
    threads: int
    reps: int
    accuracy: list[tuple[str, float, float]] = field(default_factory=list)  # (method, rel err y, rel err dW)


def fastloop_cells() -> tuple[type, ...]:
    """The cell classes ``impl="fastloop"`` computes: ``stack.FASTLOOP_CELLS`` where the Stack
    declares it (every cell with a native loop), else the LSTM family of ``fastlstm``."""
    return tuple(getattr(_stack, "FASTLOOP_CELLS", FAST_CELLS))


def _impls(cell: str, explicit: bool = True) -> list[tuple[str, dict]]:
    """(label suffix, Stack kwargs) of every implementation valid for ``cell``, auto included
    (the explicit loop only when ``explicit``)."""
    out: list[tuple[str, dict]] = []
    if CELLS[cell].fused_kernel is not None:
        out.append(("fused", {"impl": "fused"}))
    if CELLS[cell] in fastloop_cells():
        out.append(("fastloop", {"impl": "fastloop"}))
        out.append(("fastloop python", {"impl": "fastloop", "python_loops": True}))
    if CELLS[cell].has_weight_hh is False:
        out += [(f"scan {m}", {"impl": "scan", "scan_method": m}) for m in SCANS]
        out.append(("scan sequential python", {"impl": "scan", "scan_method": "sequential", "python_loops": True}))
    if explicit:
        out.append(("explicit", {"impl": "explicit"}))
    return out


def _gemm_flops(shape: Shape, cell: str) -> float:
    """Multiply-adds x2 of one forward: input and recurrent projections of every step."""
    klass = CELLS[cell]
    recurrent = shape.hidden_size if klass.has_weight_hh else 0
    return 2.0 * shape.batch * shape.time * klass.num_gates * shape.hidden_size * (shape.input_size + recurrent)


#: reference cell -> (row label, bare torch module class); nn.RNN is the tanh Elman RNN
_REFS: dict[str, tuple[str, type[nn.Module]]] = {"lstm": ("nn.LSTM (bare)", nn.LSTM), "gru": ("nn.GRU (bare)", nn.GRU),
                                                 "rnn": ("nn.RNN (bare)", nn.RNN)}
#: suffix of the row that times the first reference module a second time in every repetition
AGAIN = " again"


def _candidates(shape: Shape, device: torch.device) -> dict[str, tuple[nn.Module, float]]:
    """label -> (module returning (y, state), forward FLOPs); bare torch modules first, the first
    of them once more at the end (the self-comparison: its ratio to itself is the noise)."""
    I, H = shape.input_size, shape.hidden_size
    mods: dict[str, tuple[nn.Module, float]] = {
        _REFS[r][0]: (_REFS[r][1](I, H, batch_first=True), _gemm_flops(shape, r)) for r in shape.refs}
    for cell in shape.cells:
        default = Stack(cell, I, H)
        # what "auto" runs for this shape's f+b on this device (the native-first rule of gru/rnn decides
        # per input: device, batch x hidden, and whether a gradient is wanted; the targets judge f+b)
        auto = default.impls_for(torch.empty(shape.batch, shape.time, I, device=device))[0]
        method = default.resolved_scan_method(device)
        for suffix, kw in _impls(cell, shape.explicit):
            if kw.get("python_loops") and not (device.type == "cpu" and native.load()):
                continue  # the Python loops ARE the fastloop here
            stack = Stack(cell, I, H, **{k: v for k, v in kw.items() if k != "python_loops"})
            if kw.get("python_loops"):
                stack = PythonLoops(stack)
            chosen = (auto == kw["impl"] and (auto != "scan" or kw["scan_method"] == method)
                      and not kw.get("python_loops"))
            mods[f"{cell} {suffix}{' (auto)' if chosen else ''}"] = (stack, _gemm_flops(shape, cell))
    first = _REFS[shape.refs[0]][0]
    mods[first + AGAIN] = mods[first]  # the same module object: any difference is noise
    return {k: (m.to(device), f) for k, (m, f) in mods.items()}


class PythonLoops(nn.Module):
    """A Stack whose fastloop / sequential-scan layers run the Python loops even where the native
    ones are built (rows labelled "python": the gain of layers/native, side by side)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: Tensor) -> tuple[Tensor, object]:
        with native.enabled(False):  # the choice is recorded per node, so the backward follows it
            return self.stack(x)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def _bench_shape(shape: Shape, device: torch.device, reps: int, progress: Progress | None) -> ShapeResult:
    torch.manual_seed(0)
    cands = _candidates(shape, device)
    x = torch.randn(shape.batch, shape.time, shape.input_size, device=device)
    xg = x.clone().requires_grad_(True)
    K, N = shape.input_size + shape.hidden_size, 4 * shape.hidden_size
    a, b = torch.randn(shape.batch * shape.time, K, device=device), torch.randn(K, N, device=device)
    rows = {k: Row(k, flops=f) for k, (_, f) in cands.items()}
    gemm: list[float] = []
    total, done = (reps + 1) * (len(cands) + 1), 0
    for rep in range(reps + 1):  # rep 0 is warm-up, not recorded
        t = _time(lambda: torch.mm(a, b), device)
        if rep:
            gemm.append(t)
        for label, (mod, _) in cands.items():
            with torch.no_grad():
                tf = _time(lambda m=mod: m(x), device)
            tb = _time(lambda m=mod: m(xg)[0].sum().backward(), device)
            if rep:
                rows[label].fwd.append(tf)
                rows[label].fwdbwd.append(tb)
            done += 1
            if progress:
                progress(f"{shape.name} [{device.type}] rep {rep}/{reps}: {label}", done, total)
        done += 1
    gemm_flops = 2.0 * a.shape[0] * K * N
    gemm_gflops = gemm_flops / statistics.median(gemm) / 1e9
    log.info("%s on %s: plain GEMM (%d x %d x %d) %.1f GFLOP/s", shape.name, device, a.shape[0], K, N, gemm_gflops)
    return ShapeResult(shape, device.type, list(rows.values()), gemm_gflops, gemm, gemm_flops,
                       native=device.type == "cpu" and native.load())


def _rel(a: Tensor, b: Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def scan_accuracy(T: int = 4096, B: int = 16, I: int = 128, H: int = 256, cell: str = "mingru",
                  device: str = "cpu") -> list[tuple[str, float, float]]:
    """Relative error (Frobenius) of outputs and of the ``weight_ih`` gradient of each float32 scan
    method (and the explicit loop) against a float64 sequential reference with the same weights."""
    torch.manual_seed(0)
    dev = torch.device(device)
    ref = Stack(cell, I, H, impl="scan", scan_method="sequential").double().to(dev)
    x = torch.randn(B, T, I, dtype=torch.float64, device=dev)
    w = torch.randn(B, T, H, dtype=torch.float64, device=dev)
    y_ref = ref(x)[0]
    (y_ref * w).sum().backward()
    g_ref = ref.cells[0].weight_ih.grad
    out = []
    impls = [(f"scan {m}", {"impl": "scan", "scan_method": m}) for m in SCANS] + [("explicit", {"impl": "explicit"})]
    for label, kw in impls:
        st = Stack(cell, I, H, **kw).to(dev)
        st.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
        y = st(x.float())[0]
        (y * w.float()).sum().backward()
        out.append((f"{cell} {label}", _rel(y, y_ref.detach()), _rel(st.cells[0].weight_ih.grad, g_ref)))
    return out


def run_cell_bench(shapes: list[str] | None = None, reps: int = 5, devices: list[str] | None = None,
                   threads: int | None = None, accuracy: bool = True,
                   progress: Progress | None = None) -> CellBench:
    """Time every cell/impl of each named shape (keys of ``SHAPES``; all by default) on CPU and, when
    present, CUDA; ``reps`` recorded repetitions after one warm-up, interleaved across candidates."""
    unknown = [s for s in shapes or [] if s not in SHAPES]
    if unknown:
        raise ValueError(f"unknown bench shape(s) {unknown}; valid: {', '.join(SHAPES)}")
    if threads:
        torch.set_num_threads(threads)
    devices = devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    results = [_bench_shape(SHAPES[s], torch.device(d), reps, progress)
               for d in devices for s in (shapes or list(SHAPES))]
    acc = scan_accuracy(device=devices[-1]) if accuracy else []
    return CellBench(results, torch.get_num_threads(), reps, acc)


__all__ = ["SHAPES", "CellBench", "PythonLoops", "Ratio", "fastloop_cells", "paired", "run_cell_bench",
           "scan_accuracy"]
