"""The language-model speed benchmarks' bookkeeping (not their timings): the recipe's shape, one
training loop for every candidate, the bare references beside each cell, the self-comparison row,
the generation paths computing the same logits, and the CLI writing its own section."""

from __future__ import annotations

from pathlib import Path

import torch
from typer.testing import CliRunner

from rnnkit import bench_lm
from rnnkit.cli import app
from rnnkit.config import load_recipe
from rnnkit.models.charlm import CharLM, CharLMConfig

TINY = bench_lm.TrainShape(vocab=11, embed=6, hidden=8, layers=2, batch=3, seq_len=5, lr=1e-2, clip=1.0, threads=1)


def test_the_train_shape_is_the_char_lm_recipes() -> None:
    r = load_recipe("charlm")
    s = bench_lm.recipe_shape()
    m = r["model"]
    assert (s.embed, s.hidden, s.layers) == (m["embed_dim"], m["hidden_size"], m["num_layers"])
    assert (s.batch, s.seq_len, s.lr, s.clip, s.threads) == (r["train"]["batch_size"], r["train"]["seq_len"],
                                                             r["train"]["lr"], r["train"]["grad_clip"],
                                                             r["train"]["num_threads"])


def test_rnnkit_and_the_bare_model_train_identically_in_the_shared_loop() -> None:
    """Same weights, same data, the same loop: the same parameters after Adam steps, so the
    benchmark's ratio compares the models' speed and nothing else."""
    bare = bench_lm.BareLM("lstm", 11, 6, 8, 2)
    mine = CharLM(CharLMConfig(cell="lstm", hidden_size=8, num_layers=2, embed_dim=6, dropout=0.0), 11)
    mine.load_state_dict({"embed.weight": bare.emb.weight, "head.weight": bare.out.weight, "head.bias": bare.out.bias,
                          **{f"rnn.{k}": v for k, v in bare.rnn.state_dict().items()}})
    batches = torch.randint(1, 11, (4, 3, 6), generator=torch.Generator().manual_seed(0))
    for m in (bare, mine):
        bench_lm.train_steps(m, torch.optim.Adam(m.parameters(), lr=1e-2), batches, None, 1.0)
    torch.testing.assert_close(mine.head.weight, bare.out.weight, atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.rnn.cells[1].weight_hh, bare.rnn.weight_hh_l1, atol=1e-5, rtol=0)


def test_every_cell_is_set_beside_its_bare_reference_and_the_reference_beside_itself() -> None:
    res = bench_lm.run_train_bench(reps=2, steps=1, shape=TINY)
    labels = [r.label for r in res.rows]
    assert labels == ["nn.LSTM (bare)", "nn.GRU (bare)", "rnnkit lstm", "rnnkit gru", "rnnkit layernorm_lstm",
                      "rnnkit mingru", "nn.LSTM (bare) again"]
    refs = {r.label: r.ref for r in res.rows}
    assert refs["rnnkit layernorm_lstm"] == "nn.LSTM (bare)" and refs["rnnkit mingru"] == "nn.GRU (bare)"
    assert all(len(r.times) == 2 for r in res.rows) and res.work == 1 * 3 * 5
    text = bench_lm.lm_markdown(res)
    assert all(f"| {lab} |" in text for lab in labels) and "| rnnkit mingru | scan |" in text
    assert text.count("1.00 (1.00-1.00)") >= 2  # each bare model against itself


def test_the_generation_paths_compute_the_same_logits_and_the_target_is_judged() -> None:
    res = bench_lm.run_generate_bench(("lstm",), reps=3, tokens=4, vocab=13, embed=5, hidden=8, layers=2)
    assert [r.label for r in res.rows] == ["nn.LSTM eager (bare)", "rnnkit lstm step path", "rnnkit lstm T=1 forward",
                                           "nn.LSTM eager, oneDNN off (bare)", "nn.LSTM eager (bare) again"]
    text = bench_lm.lm_markdown(res)
    q = res.speedup("rnnkit lstm step path")
    assert f"| rnnkit lstm step path >= 2x faster than nn.LSTM eager (bare) | {q}x | " \
           f"{'yes' if q.median >= 2 else 'NO'} |" in text
    # a model whose step computes something else is refused rather than timed
    bare = bench_lm.BareLM("gru", 13, 5, 8, 1)
    other = CharLM(CharLMConfig(cell="gru", hidden_size=8, num_layers=1, embed_dim=5), 13).eval()
    try:
        bench_lm._check_same_logits(bare, other, other.step_runner(), torch.tensor([[1], [2]]))
    except AssertionError:
        pass
    else:
        raise AssertionError("different weights passed the logits check")


def test_the_cli_writes_its_own_sections(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# Benchmarks\n\n## Cells speed\n\nkeep\n")
    runner = CliRunner()
    r = runner.invoke(app, ["bench", "generate", "--cell", "gru", "--reps", "1", "--tokens", "3", "--hidden", "8",
                            "--layers", "1", "--threads", "1", "--write", str(doc)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["bench", "train", "--cell", "mingru", "--reps", "1", "--steps", "1", "--write", str(doc)])
    assert r.exit_code == 0, r.output
    text = doc.read_text()
    assert "keep" in text and "## Generation step latency" in text and "## Char-LM training throughput" in text
    assert "`flock /tmp/rnnkit-cpu.lock rnnkit bench generate --cell gru --reps 1 --tokens 3" in text
    assert "| rnnkit mingru | scan |" in text
    r = runner.invoke(app, ["bench", "train", "--cell", "peephole_lstm"])
    assert r.exit_code == 2 and "valid: lstm, gru, layernorm_lstm, mingru" in r.output
