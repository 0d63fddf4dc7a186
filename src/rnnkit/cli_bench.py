"""`rnnkit bench train | generate`: char-LM training throughput per cell and per-token generation
latency, each beside the bare PyTorch model (rnnkit.bench_lm). Registered on ``bench_app`` when
rnnkit.cli imports this module."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import typer

from rnnkit.cli import bench_app, clean_errors, console, err_console
from rnnkit.errors import RnnkitError


@bench_app.command("train")
def bench_train(
    cell: list[str] = typer.Option([], "--cell", help="lstm | gru | layernorm_lstm | mingru (repeat; default all)."),
    reps: int = typer.Option(7, "--reps", help="Recorded repetitions (interleaved) after one warm-up."),
    steps: int = typer.Option(10, "--steps", help="Training steps per repetition."),
    recipe: str = typer.Option("charlm", "--recipe", help="Char-LM recipe whose model and batch sizes to use."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: the recipe's num_threads)."),
    write: Path = typer.Option(None, "--write", help="Also write the table as the 'Char-LM training throughput' "
                               "section of this markdown file."),
) -> None:
    """Char-LM training tokens/s per cell beside the bare Embedding + nn.LSTM/nn.GRU + Linear loop."""
    from rnnkit.bench import write_section
    from rnnkit.bench_lm import TRAIN_CELLS, lm_markdown, recipe_shape, run_train_bench

    with clean_errors(), _bench_progress() as progress:
        try:
            result = run_train_bench(tuple(cell) or tuple(TRAIN_CELLS), reps, steps, recipe_shape(recipe), threads,
                                     progress)
        except ValueError as e:
            raise RnnkitError(str(e)) from None
    table = lm_markdown(result)
    console.out(table, highlight=False)
    if write is not None:
        cmd = ("rnnkit bench train" + "".join(f" --cell {c}" for c in cell) + f" --reps {reps} --steps {steps}"
               + (f" --recipe {recipe}" if recipe != "charlm" else "") + (f" --threads {threads}" if threads else "")
               + f" --write {write}")
        write_section(str(write), "Char-LM training throughput",
                      f"Command: `flock /tmp/rnnkit-cpu.lock {cmd}`\n\n{table}")
        console.print(f"written to {write}")


@bench_app.command("generate")
def bench_generate(
    cell: list[str] = typer.Option([], "--cell", help="lstm | gru (repeat; default both)."),
    reps: int = typer.Option(15, "--reps", help="Recorded repetitions (interleaved) after one warm-up."),
    tokens: int = typer.Option(200, "--tokens", help="Tokens stepped per repetition."),
    hidden: int = typer.Option(512, "--hidden", help="Hidden size of every layer."),
    layers: int = typer.Option(2, "--layers", help="Recurrent layers."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's)."),
    write: Path = typer.Option(None, "--write", help="Also write the table as the 'Generation step latency' "
                               "section of this markdown file."),
) -> None:
    """Per-token latency of a char-LM step at batch 1: the single-step path vs torch eager nn.LSTM/nn.GRU."""
    from rnnkit.bench import write_section
    from rnnkit.bench_lm import lm_markdown, run_generate_bench

    with clean_errors(), _bench_progress() as progress:
        try:
            result = run_generate_bench(tuple(cell) or ("lstm", "gru"), reps, tokens, hidden=hidden, layers=layers,
                                        threads=threads, progress=progress)
        except ValueError as e:
            raise RnnkitError(str(e)) from None
    table = lm_markdown(result)
    console.out(table, highlight=False)
    if write is not None:
        cmd = ("rnnkit bench generate" + "".join(f" --cell {c}" for c in cell)
               + f" --reps {reps} --tokens {tokens} --hidden {hidden} --layers {layers}"
               + (f" --threads {threads}" if threads else "") + f" --write {write}")
        write_section(str(write), "Generation step latency",
                      f"Command: `flock /tmp/rnnkit-cpu.lock {cmd}`\n\n{table}")
        console.print(f"written to {write}")


@contextlib.contextmanager
def _bench_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar on stderr and the ``(what, done, total)`` callback that drives it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("bench", total=None)
        yield lambda what, done, total: bar.update(task, description=what, completed=done, total=total)
