"""`rnnkit generate | translate | forecast | backtest | predict`: using a trained model directory.
Registered on the main app when rnnkit.cli imports this module."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from rnnkit.cli import _print_metrics, app, clean_errors, console
from rnnkit.errors import RnnkitError


@app.command()
def generate(
    run: Path = typer.Argument(..., help="Run directory of a language model."),
    prompt: str = typer.Option("", "--prompt", help="Priming text."),
    length: int = typer.Option(500, "--length", help="Characters to generate."),
    temperature: float = typer.Option(1.0, "--temperature"),
    top_k: int = typer.Option(None, "--top-k"),
    top_p: float = typer.Option(None, "--top-p"),
    seed: int = typer.Option(None, "--seed", help="Seed for reproducible sampling."),
    greedy: bool = typer.Option(False, "--greedy", help="Always take the most likely character."),
) -> None:
    """Generate text from a trained language model, streamed as it is produced."""
    with clean_errors():
        lm = _load_estimator(run, "generate", "LanguageModel")
        console.out(prompt, end="", highlight=False)
        for piece in lm.generate(prompt, length, temperature=temperature, top_k=top_k, top_p=top_p,
                                 seed=seed, greedy=greedy, stream=True):
            sys.stdout.write(piece)
            sys.stdout.flush()
        sys.stdout.write("\n")


def _load_estimator(run: Path, command: str, kind: str) -> Any:
    """``rnnkit.load(run)``, refused with one line when the run is not a ``kind`` estimator."""
    from rnnkit.estimators import load

    est = load(run)
    if type(est).__name__ != kind:
        raise RnnkitError(f"{run} holds a {est.config_.task!r} model ({type(est).__name__}); "
                          f"`rnnkit {command}` needs a {kind}")
    return est


@app.command()
def translate(
    run: Path = typer.Argument(..., help="Run directory of a seq2seq model."),
    texts: list[str] = typer.Argument(..., help="Source text(s) to translate."),
    beam: int = typer.Option(None, "--beam", help="Beam size (default: the run's model.beam_size; 1 = greedy)."),
    length_penalty: float = typer.Option(None, "--length-penalty", help="GNMT length penalty alpha."),
    plot: Path = typer.Option(None, "--plot", help="Write the attention alignment of the first text to this PNG."),
) -> None:
    """Translate text with a trained sequence-to-sequence model (one output line per input)."""
    with clean_errors():
        s2s = _load_estimator(run, "translate", "Seq2Seq")
        for line in s2s.translate(list(texts), beam=beam, length_penalty=length_penalty):
            console.out(line, highlight=False)
        if plot is not None:
            from rnnkit.apps.seq2seq_plot import plot_alignment
            plot_alignment(s2s.model_, texts[0], plot)
            console.print(f"attention alignment -> {plot}")


@app.command()
def forecast(
    run: Path = typer.Argument(..., help="Run directory of a forecast model."),
    horizon: int = typer.Option(None, "--horizon", help="Steps to forecast (default: the trained horizon)."),
    holdout: bool = typer.Option(False, "--holdout", help="Forecast the held-out tail, with actuals."),
    plot: Path = typer.Option(None, "--plot", help="Write a PNG of history, forecast and interval."),
    as_json: bool = typer.Option(False, "--json", help="Print the forecast as one JSON object."),
) -> None:
    """Forecast the next steps of the series (with prediction intervals for probabilistic models)."""
    from rich.table import Table

    with clean_errors():
        from rnnkit.apps.forecast_ops import forecast_run
        fc = forecast_run(run, horizon, holdout)
        if as_json:
            console.out(json.dumps({k: v for k, v in fc.items() if not k.startswith("history")}), highlight=False)
        else:
            for k, name in enumerate(fc["series"]):
                cols = ["time", "forecast"] + (["lower", "upper"] if "lower" in fc else []) + (
                    ["actual"] if "actual" in fc else [])
                table = Table(*cols, title=name)
                for i, t in enumerate(fc["times"]):
                    table.add_row(t, *(f"{fc[c if c != 'forecast' else 'mean'][k][i]:.4g}" for c in cols[1:]))
                console.print(table)
            if "combination" in fc:
                console.print(f"forecasts: {fc['combination']} (model.combine, chosen after training)")
        if plot is not None:
            from rnnkit.evaluation.forecast_plot import plot_forecast
            console.print(f"plot -> {plot_forecast(fc, plot)}")


@app.command()
def backtest(
    run: Path = typer.Argument(..., help="Run directory of a forecast model."),
    folds: int = typer.Option(5, "--folds", help="Rolling origins (the last ones, --step apart)."),
    step: int = typer.Option(None, "--step", help="Steps between origins (default: the horizon)."),
    refit: str = typer.Option("auto", "--refit", help="auto | always | never: retrain per origin on earlier rows."),
    baselines: str = typer.Option(None, "--baselines", help="Comma-separated baselines (default: the run's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
) -> None:
    """Rolling-origin backtest of a forecast run beside naive, seasonal naive, ETS and ARIMA."""
    with clean_errors():
        from rnnkit.apps.forecast import TASK
        from rnnkit.apps.forecast_ops import backtest_run
        names = tuple(b.strip() for b in baselines.split(",") if b.strip()) if baselines else None
        metrics = backtest_run(run, folds, step, refit, names)
        if as_json:
            console.out(json.dumps(metrics), highlight=False)
        else:
            _print_metrics(metrics, TASK.headline)
            verdict = "LOSES to" if metrics["rnn_loses"] else "beats"
            what = f"the model ({metrics['combination']})" if "combination" in metrics else "the RNN"
            console.print(f"{metrics['folds']} fold(s) (refit={metrics['refit']}): {what} {verdict} the best "
                          f"baseline ({metrics['best_baseline']}), skill "
                          + ("n/a (the baseline is exact)" if metrics["skill_vs_best_baseline"] is None
                             else f"{metrics['skill_vs_best_baseline']:+.3f}"))


@app.command()
def predict(
    run: Path = typer.Argument(..., help="Run directory of a classify model."),
    inputs: list[str] = typer.Argument(None, help="Text(s) to classify, or series as \"0.1,0.5,0.3\"."),
    input_file: Path = typer.Option(None, "--input", help="CSV/TSV/JSONL (the run's text column), .npz or .ts."),
    attention: Path = typer.Option(None, "--attention", help="Write the attention map of the first input (PNG)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input."),
) -> None:
    """Classify new inputs with a trained classify run: label and probability per input."""
    with clean_errors():
        from rnnkit.apps.classify_predict import predict_run
        results = predict_run(run, inputs or [], input_file, attention)
        for r in results:
            if as_json:
                console.out(json.dumps(r), highlight=False)
            else:
                console.out(f"{r['label']}\t{r['probability']:.3f}\t{r['input']}", highlight=False)
        if attention is not None:
            console.print(f"attention map -> {attention}")
