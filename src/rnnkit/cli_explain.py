"""`rnnkit explain ...`: gradient flow, gates, neurons, attention and saliency views of a model.
Registered on the main app by :mod:`rnnkit.cli`
(kept apart so that module stays one concept: training and using a model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rnnkit.cli import app, clean_errors, console

explain_app = typer.Typer(help="See inside a model: gradient flow, gates, neurons, attention, saliency "
                          "(PNG + one self-contained HTML page each).", no_args_is_help=True)
app.add_typer(explain_app, name="explain")


def _explained(result: Any) -> None:
    for line in result.summary:
        console.print(line, highlight=False)
    for p in result.images:
        console.print(f"figure: {p}", highlight=False)
    console.print(f"[bold]page:[/] {result.html}", highlight=False)


@explain_app.command("gradients")
def explain_gradients_cmd(
    data: str = typer.Option("shakespeare", "--data", help="Text to train and measure on (bundled name or file)."),
    cells: str = typer.Option("rnn,lstm,gru,mingru", "--cells", help="Comma-separated cells to compare."),
    steps: int = typer.Option(100, "--steps", help="Window length T: distances k = 1..T."),
    train_steps: int = typer.Option(200, "--train-steps", help="Brief training per cell (0: fresh models only)."),
    hidden: int = typer.Option(64, "--hidden", help="Hidden size of the small language models."),
    grad_clip: float = typer.Option(1.0, "--grad-clip", help="Clipping threshold of the brief training (0: off)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default runs/explain-gradients)."),
) -> None:
    """||dL_T/dh_(T-k)|| against k for fresh and briefly trained models of each cell (log scale)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from rnnkit.explain.views import explain_gradients

    names = tuple(c.strip() for c in cells.split(",") if c.strip())
    with clean_errors(), Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                  console=console, transient=True) as progress:
        task = progress.add_task("loading data", total=None)
        result = explain_gradients(data, names, out, steps=steps, train_steps=train_steps, hidden_size=hidden,
                                   grad_clip=grad_clip or None,
                                   on_cell=lambda c, phase: progress.update(task, description=f"{c}: {phase}"))
    _explained(result)


@explain_app.command("gates")
def explain_gates_cmd(
    run: Path = typer.Argument(..., help="Run directory of a language model."),
    text: str = typer.Option("To be, or not to be", "--text", help="Text to read (characters the model knows)."),
    units: int = typer.Option(16, "--units", help="Units shown per gate."),
    out: Path = typer.Option(None, "--out", help="Output folder (default RUN/explain)."),
) -> None:
    """Input/forget/output gates and cell state over a text, aligned with the characters."""
    from rnnkit.explain.views import explain_gates

    with clean_errors():
        _explained(explain_gates(run, text, out, units))


@explain_app.command("neurons")
def explain_neurons_cmd(
    run: Path = typer.Argument(..., help="Run directory of a language model."),
    top: int = typer.Option(8, "--top", help="Units to report."),
    text: str = typer.Option(None, "--text", help="Text to read (default: a Shakespeare excerpt or a sample)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default RUN/explain)."),
) -> None:
    """Karpathy-style interpretable units: activations that track quotes, parentheses, line position..."""
    from rnnkit.explain.views import explain_neurons

    with clean_errors():
        _explained(explain_neurons(run, text, out, top))


@explain_app.command("attention")
def explain_attention_cmd(
    run: Path = typer.Argument(..., help="Run directory of a classifier (pooling=attention) or seq2seq model."),
    input_: str = typer.Option(..., "--input", help="The text (or series, for numeric models) to read."),
    out: Path = typer.Option(None, "--out", help="Output folder (default RUN/explain)."),
) -> None:
    """Attention weights over the input: classifier pooling weights or seq2seq alignments."""
    from rnnkit.explain.views import explain_attention

    with clean_errors():
        _explained(explain_attention(run, input_, out))


@explain_app.command("saliency")
def explain_saliency_cmd(
    run: Path = typer.Argument(..., help="Run directory of a classifier or forecaster."),
    input_: str = typer.Option(None, "--input", help="Classifier: the text / series (forecaster: its last window)."),
    target: str = typer.Option(None, "--target", help="Class to explain (default: the predicted one)."),
    horizon_step: int = typer.Option(None, "--horizon-step", help="Forecaster: one step (default: horizon mean)."),
    steps: int = typer.Option(32, "--steps", help="Quadrature nodes (doubled until completeness is within 1%)."),
    out: Path = typer.Option(None, "--out", help="Output folder (default RUN/explain)."),
) -> None:
    """Integrated gradients over time steps (completeness checked), with occlusion as a cross-check."""
    from rnnkit.explain.views import explain_saliency

    with clean_errors():
        _explained(explain_saliency(run, input_, out, target, steps, horizon_step))
