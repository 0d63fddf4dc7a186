"""The speed benchmark's bookkeeping (not its timings): it times every cell and impl, marks the one
``impl="auto"`` picks, measures scan accuracy against a float64 reference, and rewrites only its
own section of a markdown file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnkit import bench
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
        auto = Stack(cell, 3, 4).plan[0][0]
        assert any(auto in lab and "(auto)" in lab for lab in mine), (cell, auto, mine)
    assert "fastloop" in " ".join(lab for lab in labels if lab.startswith("peephole_lstm"))
    if native.load():  # the native and the Python loops side by side
        assert {"layernorm_lstm fastloop (auto)", "layernorm_lstm fastloop python",
                "minlstm scan sequential (auto)", "minlstm scan sequential python"} <= set(labels)
    assert {"scan sequential", "scan parallel", "scan log"} <= {" ".join(lab.split()[1:3]) for lab in labels
                                                                  if lab.startswith("mingru")}
    text = bench.cells_markdown(result)
    assert all(f"| {lab} |" in text for lab in labels)


def test_a_shape_with_one_reference_and_no_explicit_loop_renders_its_own_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shape = bench.Shape("long", 2, 5, 3, 4, ("mingru",), refs=("gru",), explicit=False)
    monkeypatch.setitem(bench.SHAPES, "long", shape)
    result = bench.run_cell_bench(["long"], reps=1, devices=["cpu"], accuracy=False)
    labels = [r.label for r in result.results[0].rows]
    assert labels[0] == "nn.GRU (bare)" and "nn.LSTM (bare)" not in labels
    assert not any("explicit" in lab for lab in labels)
    table = [ln for ln in bench.cells_markdown(result).splitlines() if ln.startswith("|")]
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
    bench.write_section(str(doc), "Cells speed", "old table\n")
    bench.write_section(str(doc), "Cells speed", "new table\n")
    text = doc.read_text()
    assert "old table" not in text and text.count("new table") == 1
    for kept in ("keep me", "my notes", "keep too"):
        assert text.count(kept) == 1
    assert text.index("## Tasks") < text.index("new table") < text.index("my notes") < text.index("## Later")
    bench.write_section(str(tmp_path / "fresh.md"), "Cells speed", "t\n")
    assert "## Cells speed" in (tmp_path / "fresh.md").read_text()
