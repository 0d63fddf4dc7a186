"""The speed benchmark's bookkeeping (not its timings): it times every cell and impl, marks the one
``impl="auto"`` picks, measures scan accuracy against a float64 reference, and rewrites only its
own section of a markdown file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnkit import bench, bench_report
from rnnkit.cells import CELLS
from rnnkit.layers import Stack, native


def test_every_cell_and_impl_is_timed_and_auto_is_marked_once_per_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.SHAPES, "tiny", bench.Shape("tiny", 2, 3, 3, 4, tuple(CELLS)))
    result = bench.run_cell_bench(["tiny"], reps=1, devices=["cpu"], accuracy=False)
    labels = [r.label for r in result.results[0].rows]
    assert labels[:2] == ["nn.LSTM (bare)", "nn.GRU (bare)"]
    for cell in CELLS:
        mine = [lab for lab in labels if lab.split()[0] == cell]
        assert sum("(auto)" in lab for lab in mine) == 1, mine
        auto = Stack(cell, 3, 4).impls_for(torch.empty(2, 3, 3))[0]  # what "auto" runs on this CPU
        assert any(auto in lab and "(auto)" in lab for lab in mine), (cell, auto, mine)
    assert "fastloop" in " ".join(lab for lab in labels if lab.startswith("peephole_lstm"))
    assert "nn.RNN (bare)" in labels and labels[-1] == "nn.LSTM (bare) again"  # the self-comparison row
    if native.load():  # the native and the Python loops side by side
        assert {"layernorm_lstm fastloop (auto)", "layernorm_lstm fastloop python",
                "minlstm scan sequential (auto)", "minlstm scan sequential python"} <= set(labels)
    assert {"scan sequential", "scan parallel", "scan log"} <= {" ".join(lab.split()[1:3]) for lab in labels
                                                                  if lab.startswith("mingru")}
    text = bench_report.cells_markdown(result)
    assert all(f"| {lab} |" in text for lab in labels)


def test_a_shape_with_one_reference_and_no_explicit_loop_renders_its_own_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shape = bench.Shape("long", 2, 5, 3, 4, ("mingru",), refs=("gru",), explicit=False)
    monkeypatch.setitem(bench.SHAPES, "long", shape)
    result = bench.run_cell_bench(["long"], reps=1, devices=["cpu"], accuracy=False)
    labels = [r.label for r in result.results[0].rows]
    assert labels[0] == "nn.GRU (bare)" and "nn.LSTM (bare)" not in labels and labels[-1] == "nn.GRU (bare) again"
    assert not any("explicit" in lab for lab in labels)
    table = [ln for ln in bench_report.cells_markdown(result).splitlines() if ln.startswith("|")]
    header = table[0]
    assert "nn.LSTM" not in header and "f+b / nn.GRU" in header
    assert len({ln.count("|") for ln in table[: len(labels) + 2]}) == 1  # every row has the header's columns


def test_scan_accuracy_is_relative_to_a_float64_reference() -> None:
    rows = bench.scan_accuracy(T=32, B=2, I=3, H=4)
    assert [r[0] for r in rows] == ["mingru scan sequential", "mingru scan parallel", "mingru scan log",
                                    "mingru explicit"]
    for _, ey, eg in rows:  # float32 vs float64: round-off size, not zero and not large
        assert 0 < ey < 1e-4 and 0 < eg < 1e-4


def test_write_section_replaces_only_its_generated_block(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Tasks\n\nkeep me\n\n## Cells speed\n\nmy notes\n\n## Later\n\nkeep too\n")
    bench_report.write_section(str(doc), "Cells speed", "old table\n")
    bench_report.write_section(str(doc), "Cells speed", "new table\n")
    text = doc.read_text()
    assert "old table" not in text and text.count("new table") == 1
    for kept in ("keep me", "my notes", "keep too"):
        assert text.count(kept) == 1
    assert text.index("## Tasks") < text.index("new table") < text.index("my notes") < text.index("## Later")
    bench_report.write_section(str(tmp_path / "fresh.md"), "Cells speed", "t\n")
    assert "## Cells speed" in (tmp_path / "fresh.md").read_text()


def test_paired_ratio_is_the_median_of_per_repetition_ratios_with_its_interquartile_range() -> None:
    # a machine whose load changes 4x between repetitions: the candidate costs 1.3x the baseline in
    # every repetition, which the paired ratio recovers exactly
    load = [1.0, 4.0, 1.5, 3.0, 1.0]
    base = [2e-3 * f for f in load]
    cand = [1.3 * b for b in base]
    q = bench.paired(cand, base)
    assert q.median == pytest.approx(1.3) and q.lo == pytest.approx(1.3) and q.hi == pytest.approx(1.3)
    assert str(q) == "1.30 (1.30-1.30)"
    # the same module timed twice, each repetition within +-2% of the other: 1.00 with a small IQR,
    # although the repetitions themselves spread 4x
    again = [b * (1 + e) for b, e in zip(base, [0.02, -0.01, 0.0, 0.015, -0.02])]
    q = bench.paired(again, base)
    assert abs(q.median - 1.0) <= 0.02 and q.hi - q.lo <= 0.04 and q.lo <= 1.0 <= q.hi
    # quartiles by the inclusive method; one repetition has no spread
    q = bench.paired([1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 5)
    assert (q.lo, q.median, q.hi) == (2.0, 3.0, 4.0) and q.format(0, 100) == "300 (200-400)"
    assert bench.paired([3.0], [2.0]) == bench.Ratio(1.5, 1.5, 1.5)
    with pytest.raises(ValueError, match="same, non-zero number"):
        bench.paired([1.0], [1.0, 2.0])


def test_a_module_compared_with_itself_reads_one_within_its_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench.SHAPES, "tiny", bench.Shape("tiny", 4, 20, 8, 16, ("rnn",)))
    result = bench.run_cell_bench(["tiny"], reps=7, devices=["cpu"], accuracy=False).results[0]
    by = {r.label: r for r in result.rows}
    q = bench.paired(by["nn.LSTM (bare) again"].fwdbwd, by["nn.LSTM (bare)"].fwdbwd)
    assert q.lo <= q.median <= q.hi and 0.5 < q.median < 2.0  # ~1; wide bounds: a shared, busy machine
    table = bench_report.cells_markdown(bench.CellBench([result], 1, 7))
    assert "| nn.LSTM (bare) again |" in table and "1.00 (1.00-1.00)" in table  # each reference vs itself


def _result(shape_key: str, times: dict[str, list[float]], native: bool = True) -> bench.ShapeResult:
    shape = bench.SHAPES[shape_key]
    rows = [bench.Row(k, fwd=v, fwdbwd=v, flops=bench._gemm_flops(shape, k.split()[0]) if "bare" not in k else 1.0)
            for k, v in times.items()]
    n = len(next(iter(times.values())))
    return bench.ShapeResult(shape, "cpu", rows, 100.0, gemm=[1e-3] * n, gemm_flops=1e8, native=native)


def test_targets_are_judged_on_the_median_paired_ratio_and_show_the_spread() -> None:
    load = [1.0, 3.0, 1.0, 2.0, 1.0]
    base = [0.1 * f for f in load]
    res = _result("stream", {"nn.GRU (bare)": base, "nn.RNN (bare)": base,
                             "gru fastloop (auto)": [b / 3.2 for b in base],  # 3.2x faster: met
                             "rnn fused (auto)": [b / 1.5 for b in base]})  # 1.5x faster than nn.RNN: not met
    text = bench_report.targets_markdown(bench.CellBench([res], 2, 5))
    gru = next(ln for ln in text.splitlines() if "gru fastloop (auto)" in ln and "faster" in ln)
    assert "3.20 (3.20-3.20)x faster than nn.GRU (bare)" in gru and ">= 3.0x" in gru and gru.endswith("| yes |")
    rnn = next(ln for ln in text.splitlines() if "rnn fused (auto)" in ln and "faster" in ln)
    assert ">= 2.0x" in rnn and rnn.endswith("| NO |")
    # issue 7's GRU row (time <= 1.05x nn.GRU) is kept beside issue 18's
    assert any("gru fastloop (auto) | 0.31 (0.31-0.31)x nn.GRU (bare) time | <= 1.05x | yes" in ln
               for ln in text.splitlines())


def test_the_gemm_share_target_covers_every_fused_or_native_gate_loop_at_batch() -> None:
    """Every auto impl that is torch's fused kernel or a native gate loop gets a row; the min cells'
    scan does not (its FLOP count is only the input projection: see bench_report._fused_or_native)."""
    shape = bench.SHAPES["batch"]
    gemm_s = 1e-3  # the plain GEMM: 1e8 FLOPs in 1 ms = 100 GFLOP/s
    def at(share: float, cell: str) -> list[float]:  # f+b times that reach `share` of the GEMM's rate
        return [3 * bench._gemm_flops(shape, cell) / (share * 1e8 / gemm_s)] * 3
    times = {"nn.LSTM (bare)": [0.1] * 3, "nn.GRU (bare)": [0.1] * 3, "lstm fused (auto)": at(0.8, "lstm"),
             "layernorm_lstm fastloop (auto)": at(0.4, "layernorm_lstm"), "lstm fastloop": at(0.9, "lstm"),
             "gru_reset_before explicit (auto)": at(0.1, "gru_reset_before"),
             "mingru scan sequential (auto)": at(0.6, "mingru")}
    lines = bench_report.targets_markdown(bench.CellBench([_result("batch", times)], 2, 3)).splitlines()
    share = {ln.split("|")[3].strip(): ln for ln in lines if "of GEMM" in ln}
    assert set(share) == {"lstm fused (auto)", "layernorm_lstm fastloop (auto)"}
    assert "80 (80-80)% of GEMM" in share["lstm fused (auto)"] and share["lstm fused (auto)"].endswith("| yes |")
    assert share["layernorm_lstm fastloop (auto)"].endswith("| NO |") and ">= 50%" in share["lstm fused (auto)"]
    # without the native extension the fastloop / scan rows run Python loops: only the fused kernel counts
    lines = bench_report.targets_markdown(bench.CellBench([_result("batch", times, native=False)], 2, 3)).splitlines()
    assert [ln.split("|")[3].strip() for ln in lines if "of GEMM" in ln] == ["lstm fused (auto)"]


def test_fastloop_rows_follow_the_stacks_own_list_when_it_declares_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.layers import stack
    from rnnkit.layers.fastlstm import FAST_CELLS

    if hasattr(stack, "FASTLOOP_CELLS"):
        assert bench.fastloop_cells() == tuple(stack.FASTLOOP_CELLS)
        monkeypatch.delattr(stack, "FASTLOOP_CELLS")
    assert bench.fastloop_cells() == FAST_CELLS  # before the Stack declared its list
    assert [s for s, _ in bench._impls("gru")] == ["fused", "explicit"]
    monkeypatch.setattr(stack, "FASTLOOP_CELLS", (*FAST_CELLS, CELLS["gru"]), raising=False)
    assert [s for s, _ in bench._impls("gru")] == ["fused", "fastloop", "fastloop python", "explicit"]
