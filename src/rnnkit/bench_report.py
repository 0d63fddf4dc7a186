"""The speed benchmark's report: the markdown tables of :func:`rnnkit.bench.run_cell_bench`, the issue
targets checked against them, and ``write_section``, which replaces one generated section of a
markdown file (docs/benchmarks.md) and leaves the hand-written notes around it alone.
"""

from __future__ import annotations

import statistics

import torch

from rnnkit.bench import _REFS, AGAIN, SHAPES, CellBench, paired


def _ms(v: list[float]) -> str:
    return f"{statistics.median(v) * 1e3:.1f}"


def cells_markdown(bench: CellBench) -> str:
    """The result as markdown tables (one per shape and device) plus the scan accuracy table."""
    parts = [f"torch {torch.__version__}, {bench.threads} threads, {bench.reps} interleaved repetitions; "
             "fwd = inference (no_grad), f+b = forward + backward of sum(y); ms = median time. "
             "Ratios are time / time of the bare torch module (lower is faster), each the median of "
             "the per-repetition paired ratios with their interquartile range in brackets; the "
             f"'{AGAIN.strip()}' row times the first bare module a second time in every repetition, "
             "so its ratio to itself is the run's noise. "
             "GFLOP/s counts the gate GEMMs only (fwd+bwd = 3x fwd); % of GEMM is paired with the "
             "plain GEMM timed in the same repetition.\n"]
    for r in bench.results:
        refs = [_REFS[k][0] for k in r.shape.refs]
        by = {row.label: row for row in r.rows}
        short = [k.split()[0] for k in refs]
        parts.append(f"\n### {r.shape.name} — {r.device} (plain GEMM {r.gemm_gflops:.1f} GFLOP/s)\n\n"
                     "| cell / impl | fwd ms | " + "".join(f"fwd / {k} | " for k in short) + "f+b ms | "
                     + "".join(f"f+b / {k} | " for k in short) + "f+b GFLOP/s | % of GEMM |\n|---|---:|"
                     + "---:|" * (2 * len(refs) + 3))
        for row in r.rows:
            gf = 3 * row.flops / statistics.median(row.fwdbwd) / 1e9
            parts.append(f"| {row.label} | {_ms(row.fwd)} | "
                         + "".join(f"{paired(row.fwd, by[k].fwd)} | " for k in refs)
                         + f"{_ms(row.fwdbwd)} | "
                         + "".join(f"{paired(row.fwdbwd, by[k].fwdbwd)} | " for k in refs)
                         + f"{gf:.1f} | {r.gemm_share(row).format(0, 100)}% |")
    parts.append(targets_markdown(bench))
    if bench.accuracy:
        parts.append("\n### Scan accuracy, T=4096 B=16 in=128 H=256 (float32 vs float64 sequential)\n\n"
                     "| method | rel. error of y | rel. error of dL/dW_ih |\n|---|---:|---:|")
        parts += [f"| {m} | {ey:.1e} | {eg:.1e} |" for m, ey, eg in bench.accuracy]
    return "\n".join(parts) + "\n"


#: (shape key, cell, bare baseline, limit, kind): "max" = f+b time / baseline <= limit;
#: "speedup" = baseline time / f+b time >= limit. Targets of issues #7 and #18.
_L, _G, _R = "nn.LSTM (bare)", "nn.GRU (bare)", "nn.RNN (bare)"
TARGETS = [
    ("batch", "lstm", _L, 1 / 0.95, "max"), ("stream", "lstm", _L, 1 / 0.95, "max"),
    ("batch", "gru", _G, 1 / 0.95, "max"), ("stream", "gru", _G, 1 / 0.95, "max"),
    ("batch", "peephole_lstm", _L, 1.5, "max"), ("batch", "layernorm_lstm", _L, 1.5, "max"),
    ("stream", "peephole_lstm", _L, 4.0, "max"), ("stream", "layernorm_lstm", _L, 4.0, "max"),
    ("min100", "mingru", _G, 3.0, "speedup"), ("min100", "minlstm", _G, 3.0, "speedup"),
    ("min4096", "mingru", _G, 3.0, "speedup"), ("min4096", "minlstm", _G, 3.0, "speedup"),
    # issue 18: native GRU / RNN / layer-norm GRU loops
    ("batch", "gru", _G, 1.3, "speedup"), ("stream", "gru", _G, 3.0, "speedup"),
    ("stream", "rnn", _R, 2.0, "speedup"), ("batch", "rnn", _R, 1.0, "max"),
    ("batch", "layernorm_gru", _G, 1.3, "max"),
]
#: (shape key, least share of the plain GEMM's GFLOP/s) for every fused-or-native auto impl (issue 18)
GEMM_SHARE_TARGET = ("batch", 0.50)


def _fused_or_native(label: str, native_ran: bool) -> bool:
    """Whether an auto row runs torch's fused kernel or one of rnnkit's native C++ gate loops — the
    cells whose work is GEMMs. Not the minGRU/minLSTM scan: its recurrence is elementwise and its
    FLOP count holds only the input projection, so a share of the GEMM rate would measure the scan's
    memory traffic, not how well the GEMMs run (its targets are speed-ups over nn.GRU)."""
    impl = " ".join(label.removesuffix(" (auto)").split()[1:])
    return impl == "fused" or (native_ran and impl == "fastloop")


def targets_markdown(bench: CellBench) -> str:
    """The issues' speed targets, each judged on the median paired ratio of the impl that
    ``impl="auto"`` picks; the interquartile range is shown beside it."""
    lines = ["\n### Targets (fwd+bwd, the impl `impl=\"auto\"` picks; median paired ratio (IQR))\n",
             "| shape | device | cell (auto impl) | measured | target | met |", "|---|---|---|---:|---:|---|"]
    for r in bench.results:
        by = {row.label: row for row in r.rows}
        for key, cell, base, limit, kind in TARGETS:
            auto = [lab for lab in by if lab.split()[0] == cell and lab.endswith("(auto)")]
            if SHAPES.get(key) != r.shape or not auto or base not in by:
                continue
            if kind == "max":
                q = paired(by[auto[0]].fwdbwd, by[base].fwdbwd)
                got, want, ok = f"{q}x {base} time", f"<= {limit:.2f}x", q.median <= limit
            else:
                q = paired(by[base].fwdbwd, by[auto[0]].fwdbwd)
                got, want, ok = f"{q}x faster than {base}", f">= {limit:.1f}x", q.median >= limit
            lines.append(f"| {r.shape.name} | {r.device} | {auto[0]} | {got} | {want} | {'yes' if ok else 'NO'} |")
        key, least = GEMM_SHARE_TARGET
        if SHAPES.get(key) == r.shape:
            for lab, row in by.items():
                if lab.endswith("(auto)") and _fused_or_native(lab, r.native):
                    q = r.gemm_share(row)
                    lines.append(f"| {r.shape.name} | {r.device} | {lab} | {q.format(0, 100)}% of GEMM | "
                                 f">= {least:.0%} | {'yes' if q.median >= least else 'NO'} |")
    for label, ey, eg in bench.accuracy:
        if "parallel" in label:
            err = max(ey, eg)
            met = "yes" if err <= 1e-4 else "NO"
            lines.append(f"| T=4096 | - | {label} accuracy | {err:.1e} rel. | <= 1e-4 | {met} |")
    return "\n".join(lines)


def write_section(path: str, title: str, body: str) -> None:
    """Put ``body`` into the ``## title`` section of a markdown file between generated-content
    markers, so a re-run replaces the tables but not hand-written notes around them, nor other
    sections. Creates the section (and the file) when missing; the write is atomic."""
    import os

    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    begin, end = f"<!-- {title}: generated by rnnkit bench, begin -->", f"<!-- {title}: generated, end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    head = f"## {title}\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) + 1:]
    elif head in text:
        at = text.index(head) + len(head)
        text = text[:at] + "\n" + block + text[at:]
    else:
        text = text.rstrip("\n") + "\n\n" + head + "\n" + block
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


__all__ = ["GEMM_SHARE_TARGET", "TARGETS", "cells_markdown", "targets_markdown", "write_section"]
