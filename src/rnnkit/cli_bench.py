"""`rnnkit bench cells | quality | train | generate`: cell speed, the quality suites, char-LM training
throughput per cell and per-token generation latency, each beside the bare PyTorch model
(rnnkit.bench, rnnkit.bench_quality, rnnkit.bench_lm). Registered on ``bench_app`` when
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
    from rnnkit.bench_lm import TRAIN_CELLS, lm_markdown, recipe_shape, run_train_bench

    with clean_errors(), _bench_progress() as progress:
        result = run_train_bench(tuple(cell) or tuple(TRAIN_CELLS), reps, steps, recipe_shape(recipe), threads,
                                 progress)
    cmd = ("rnnkit bench train" + "".join(f" --cell {c}" for c in cell) + f" --reps {reps} --steps {steps}"
           + (f" --recipe {recipe}" if recipe != "charlm" else "") + (f" --threads {threads}" if threads else "")
           + f" --write {write}")
    publish_table(lm_markdown(result), write, "Char-LM training throughput", cmd)


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
    from rnnkit.bench_lm import lm_markdown, run_generate_bench

    with clean_errors(), _bench_progress() as progress:
        result = run_generate_bench(tuple(cell) or ("lstm", "gru"), reps, tokens, hidden=hidden, layers=layers,
                                    threads=threads, progress=progress)
    cmd = ("rnnkit bench generate" + "".join(f" --cell {c}" for c in cell)
           + f" --reps {reps} --tokens {tokens} --hidden {hidden} --layers {layers}"
           + (f" --threads {threads}" if threads else "") + f" --write {write}")
    publish_table(lm_markdown(result), write, "Generation step latency", cmd)


@contextlib.contextmanager
def _bench_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar on stderr and the ``(what, done, total)`` callback that drives it; a
    benchmark's ValueError (an unknown --cell or --shape) becomes one clean line."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("bench", total=None)
        try:
            yield lambda what, done, total: bar.update(task, description=what, completed=done, total=total)
        except ValueError as e:
            raise RnnkitError(str(e)) from None


def publish_table(table: str, write: Path | None, title: str, cmd: str | None = None) -> None:
    """Print a benchmark's markdown table and, with ``write``, put it in that file's generated section
    ``title`` (under the command that made it, when ``cmd`` is given; it runs under the CPU lock)."""
    console.out(table, highlight=False)
    if write is not None:
        from rnnkit.bench_report import write_section

        body = table if cmd is None else f"Command: `flock /tmp/rnnkit-cpu.lock {cmd}`\n\n{table}"
        write_section(str(write), title, body)
        console.print(f"written to {write}")


@bench_app.command("cells")
def bench_cells(
    shape: list[str] = typer.Option([], "--shape", help="batch | stream | min100 | min4096 (repeat; default all)."),
    reps: int = typer.Option(5, "--reps", help="Recorded repetitions (interleaved) after one warm-up."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's)."),
    device: list[str] = typer.Option([], "--device", help="cpu | cuda (repeat; default cpu and cuda if present)."),
    accuracy: bool = typer.Option(True, "--accuracy/--no-accuracy", help="Scan accuracy at T=4096."),
    write: Path = typer.Option(None, "--write", help="Also write the table as the 'Cells speed' section of "
                               "this markdown file (e.g. docs/benchmarks.md)."),
) -> None:
    """Every cell and impl side by side with bare nn.LSTM / nn.GRU: medians, ratios, GFLOP/s vs a GEMM."""
    from rnnkit.bench import run_cell_bench
    from rnnkit.bench_report import cells_markdown

    with clean_errors(), _bench_progress() as progress:
        result = run_cell_bench(shape or None, reps, device or None, threads, accuracy, progress)
    cmd = "rnnkit bench cells" + "".join(f" --shape {x}" for x in shape) + f" --reps {reps}" + (
        f" --threads {threads}" if threads else "") + "".join(f" --device {d}" for d in device) + (
        "" if accuracy else " --no-accuracy") + f" --write {write}"
    publish_table(cells_markdown(result), write, "Cells speed", cmd)


@bench_app.command("quality")
def bench_quality(
    suite: str = typer.Option("held-out", "--suite", help="held-out (report only) | development (designed on)."),
    only: str = typer.Option(None, "--only", help="Comma-separated set names of the suite (default: all)."),
    out: Path = typer.Option(Path("runs/quality"), "--out", help="Runs and <suite>.json (a stopped suite resumes)."),
    write: Path = typer.Option(None, "--write", help="Also write the table into this markdown file."),
) -> None:
    """The one-command defaults on every set of a suite, each beside its best baseline and the floor."""
    from rnnkit.bench_quality import markdown, run_suite

    def show(name: str, row: dict | None) -> None:
        if row is None:
            console.print(f"[bold]{name}[/] ...", highlight=False)
        elif row.get("result") == "error":
            console.print(f"  {name}: [red]error[/] {row['error']}", highlight=False)
        else:
            console.print(f"  {name}: {row['metric']} {row['model']:.4g} vs {row['best_baseline']} "
                          f"{row['best_baseline_value']:.4g} -> {row['result']} ({row['minutes']:.1f} min)",
                          highlight=False)

    with clean_errors():
        result = run_suite(suite, out, [s.strip() for s in only.split(",")] if only else None, show)
        cmd = f"rnnkit bench quality --suite {suite}" + (f" --only {only}" if only else "")
        publish_table(markdown(result), write, f"Quality suite: {suite}", cmd)
