"""The `rnnkit` command line: a thin typer app, one function per subcommand, each calling one
library function. Only this module prints. Errors caused by input (RnnkitError) are shown as one
clean line with exit code 2, never as a traceback.

Other tasks add their subcommands (bench, predict, forecast, backtest, translate, ...) here as
small additive functions; heavy imports stay inside the functions so `rnnkit --help` is instant.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand

from rnnkit.errors import RnnkitError

app = typer.Typer(help="rnnkit: recurrent neural networks — train, evaluate and use them on real data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
# emoji=False: ":100:" in a set name (m1-yearly:100) or a path must print as written, not as an emoji
console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


@contextlib.contextmanager
def clean_errors() -> Iterator[None]:
    """Turn input errors into `error: <message>` + exit code 2 (use in every subcommand)."""
    try:
        yield
    except RnnkitError as e:
        err_console.print(Text.assemble(("error: ", "bold red"), str(e)), highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Show library log messages.")) -> None:
    from rich.logging import RichHandler

    level = logging.INFO if verbose else logging.WARNING
    if os.environ.get("RANK", "0") != "0":  # a torchrun worker other than rank 0: only its errors
        level = logging.ERROR
    logging.basicConfig(level=level, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)], force=True)
    from rnnkit.runtime import tune_cpu_allocator

    tune_cpu_allocator()  # an application-level choice: keep big freed buffers (see runtime.py)


def _default_run_dir(task: str) -> Path:
    return Path("runs") / f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"


def torchrun_command(nproc: int, argv: list[str], out: Path | None, task: str, max_restarts: int = 0) -> list[str]:
    """``rnnkit ARGV`` again, as ``torchrun --standalone --nproc-per-node N -m rnnkit ARGV``; without
    ``--out`` the run directory is chosen here, once, so that every process names the same one."""
    argv, skip = list(argv), 0
    kept = []  # the workers read WORLD_SIZE instead (and torchrun would take --nproc for its own option)
    for a in argv:
        if skip:
            skip -= 1
        elif a in ("--nproc", "--max-restarts"):
            skip = 1
        elif not a.startswith(("--nproc=", "--max-restarts=")):
            kept.append(a)
    argv = kept
    if out is None:
        argv += ["--out", str(_default_run_dir(Path(task).stem))]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            f"--max-restarts={max_restarts}", "-m", "rnnkit", *argv]


def _data_parallel(nproc: int, out: Path | None, task: str, max_restarts: int) -> None:
    """``--nproc N``: replace this process by torchrun running N copies of this command. Under torchrun
    (``WORLD_SIZE`` set) the command trains as one rank of the job; ranks other than 0 print nothing."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        if out is None:
            raise RnnkitError("under torchrun every process must train into the same run directory: pass --out")
        if os.environ.get("RANK", "0") != "0":
            console.quiet = True
        return
    if nproc > 1:
        cmd = torchrun_command(nproc, sys.argv[1:], out, task, max_restarts)
        console.print(f"data parallel: {nproc} processes (torchrun --standalone); see docs/distributed.md")
        sys.stdout.flush()
        os.execv(cmd[0], cmd)


class _TrainCommand(TyperCommand):
    """`rnnkit train --help` ends with every task (and its own options) and every shipped recipe."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        from rich.table import Table

        from rnnkit.tasks import catalog

        cat = catalog()
        for title, rows in (("tasks (rnnkit train TASK --data ...)", cat["tasks"]),
                            ("recipes (rnnkit train RECIPE)", cat["recipes"])):
            table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
            for name, text in rows:
                table.add_row(f"[bold]{name}[/]", text)
            console.print(table)


@app.command(cls=_TrainCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="Task name (charlm, classify, ...), a shipped recipe name or a recipe .toml; "
                               "the task's own options (e.g. forecast --horizon 12) follow."),
    data: str = typer.Option(None, "--data", help="Data: a bundled name (`rnnkit datasets`) or a path."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key: section.key=value (repeat)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<task>-<time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    sample: int = typer.Option(300, "--sample", help="Characters/items of demo output after training (0: none)."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Data-parallel processes on this machine (DDP): re-runs "
                              "the command under torchrun --standalone; train.batch_size stays the global batch."),
    max_restarts: int = typer.Option(0, "--max-restarts", min=0, help="With --nproc: restarts after a failed "
                                     "worker, each resuming from the last checkpoint."),
) -> None:
    """Train a model; checkpoints, metrics.jsonl and curves.png go to the run directory.

    The command builds the task's Python estimator from the recipe (`rnnkit.SequenceClassifier`, ...)
    and calls its `fit_dataset`: everything here is also one line of Python."""
    from rnnkit.display import RichProgress
    from rnnkit.estimators import estimator_class
    from rnnkit.tasks import TASKS, make_run_config, recipe_task, resolve_defaults, run_config_from_dict, task_options

    with clean_errors():
        _data_parallel(nproc, out, task, max_restarts)
        spec = TASKS[recipe_task(task)]
        set_ = [*task_options(spec, list(ctx.args)), *set_]
        if resume:
            if out is None:
                raise RnnkitError("--resume needs --out RUN_DIR (the run to continue)")
            from rnnkit import checkpoint as ckpt
            from rnnkit.config import apply_overrides
            saved = run_config_from_dict(ckpt.read_config(out))
            if saved.task != spec.name:
                raise RnnkitError(f"{out} holds a {saved.task!r} run, not {spec.name!r}: continue it with  "
                                  f"rnnkit train {saved.task} --out {out} --resume")
            # --data goes into the config so that the run directory check can refuse a different one
            cfg = apply_overrides(saved, [*([f"data.source={data}"] if data is not None else []), *set_])
        else:
            cfg = make_run_config(task, set_, data)
        run_dir = out or _default_run_dir(cfg.task)
        console.print(f"[bold]{cfg.task}[/] -> {run_dir}  (data: {getattr(cfg.data, 'source', '?')})")
        try:
            cfg, raw, chosen = resolve_defaults(cfg)
            _print_defaults(chosen)
            est = estimator_class(cfg.task)(recipe=cfg, verbose=0)
            with RichProgress(console, spec.progress_fields) as progress:
                est.fit_dataset(cfg.data.source, out=run_dir, resume=resume, callbacks=[progress], data=raw,
                                defaults=chosen)
        except KeyboardInterrupt:
            _print_interrupted(cfg.task, run_dir)
            raise typer.Exit(130) from None
        result = est.fit_result_
        console.print(f"stopped: {result.stop_reason} after {result.steps} steps, {result.elapsed_s / 60:.1f} min")
        _print_metrics(est.metrics_, spec.headline, cfg)
        if sample and spec.sample is not None:
            console.rule("sample")
            for piece in spec.sample(est.model_, sample):
                console.out(piece, end="", highlight=False)
            console.out("")
            console.rule()
        console.print(f"saved to {run_dir}")


@app.command(cls=_TrainCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def tune(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="Task name or recipe, as for `rnnkit train`; the task's own options follow."),
    data: str = typer.Option(None, "--data", help="Data: a bundled name (`rnnkit datasets`) or a path."),
    budget: str = typer.Option("15m", "--budget", help="Total time: search, then the final run (e.g. 90s, 15m, 1h)."),
    set_: list[str] = typer.Option([], "--set", help="Fix a config key for every trial: section.key=value."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<task>-tune-<time>)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the search (Optuna's TPE sampler)."),
    top_k: int = typer.Option(1, "--top-k", help="Ensemble the K best configurations (classify: mean probabilities)."),
) -> None:
    """Search the task's configuration space on validation data for --budget, then train the best
    configuration as a normal run (trials in RUN/tune/trials.json and .png);
    --top-k K also trains the next best and ensembles them (RUN/ensemble.json)."""
    from rnnkit.estimators import estimator_class
    from rnnkit.tasks import TASKS, make_run_config, recipe_task, task_options

    with clean_errors():
        spec = TASKS[recipe_task(task)]
        cfg = make_run_config(task, [*task_options(spec, list(ctx.args)), *set_], data)
        run_dir = out or Path("runs") / f"{cfg.task}-tune-{time.strftime('%Y%m%d-%H%M%S')}"
        console.print(f"[bold]tune {cfg.task}[/] -> {run_dir}  (data: {cfg.data.source}, budget {budget})")

        def show(r: dict[str, Any]) -> None:
            value = "-" if r["value"] is None else f"{r['value']:.4f}"
            params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["params"].items())
            params = "the data-aware default" if r.get("default") else params
            console.print(f"  trial {r['number']:>3} {r['state'].lower():<8} {spec.monitor} {value} "
                          f"({r['seconds']:.0f} s)  {params}", highlight=False)

        est = estimator_class(cfg.task)(recipe=cfg, verbose=0)
        est.fit_dataset(cfg.data.source, out=run_dir, tune=budget, on_trial=show, seed=seed, top_k=top_k)
        best = est.tune_["best"]
        fresh = f" ({best['confirm']:.4f} on fresh validation splits)" if best.get("confirm") is not None else ""
        console.print(f"best trial {best['number']}{' (the default)' if best.get('default') else ''}: {spec.monitor} "
                      f"{best['value']:.4f}{fresh}; trained again as the default trains "
                      f"({est.fit_result_.steps} steps)")
        _print_metrics(est.metrics_, spec.headline, est.config_)
        if est.ensemble_:
            e = est.ensemble_
            trials = ", ".join(str(m["trial"]) for m in e["members"])
            scored = "".join(f"; {k} {v:.4g}" for k, v in e.items() if isinstance(v, float))
            each = e.get("member_test_accuracy")
            alone = f" (each alone: {', '.join(f'{a:.4g}' for a in each)})" if each else ""
            console.print(f"top-{len(e['members'])} ensemble (trials {trials}){scored}{alone}; members in "
                          f"{run_dir / 'ensemble'}, summary {run_dir / 'ensemble.json'}", highlight=False)
        console.print(f"saved to {run_dir} (trials: {run_dir / 'tune' / 'trials.json'}, trials.png)")


def _print_interrupted(task: str, run_dir: Path) -> None:
    """What Ctrl-C left: the checkpoint the run directory really holds, or that there is none."""
    from rnnkit.checkpoint_unit import saved_step

    step = saved_step(run_dir) if run_dir.is_dir() else None
    if step is None:
        err_console.print("interrupted before the first checkpoint: nothing to resume", highlight=False)
    else:
        err_console.print(f"interrupted: the checkpoint of step {step} is saved; continue with  rnnkit train {task} "
                          f"--out {run_dir} --resume", highlight=False)


def _print_defaults(chosen: list[tuple[str, Any, str, str]]) -> None:
    """The configuration the data chose: every key, its value and the rule that chose it."""
    if not chosen:
        return
    from rich.table import Table

    table = Table("setting", "value", "rule (rnnkit.defaults; --set any of them to override)", box=None,
                  title="chosen from the data", title_justify="left", pad_edge=False)
    for key, value, rule, _ in chosen:
        table.add_row(key, str(value), rule)
    console.print(table)


def _print_metrics(metrics: dict[str, Any], headline: tuple[str, ...], cfg: Any = None) -> None:
    shown = [k for k in headline if k in metrics] or [k for k, v in metrics.items() if isinstance(v, float)]
    console.print("  ".join(f"{k}={metrics[k]:.4f}" for k in shown))
    for name, base in (metrics.get("baselines") or {}).items():
        vals = "  ".join(f"{k}={v:.4f}" for k, v in base.items() if isinstance(v, float))
        console.print(f"  baseline {name}: {vals}")
    if "combination" in metrics:  # the combination with the baselines (forecast, text classify), chosen on validation
        net = metrics.get("network") or {}
        alone = "  ".join(f"{k}={net[k]:.4f}" for k in shown if k in net)
        console.print(f"  predictions: {metrics['combination']} (model.combine); the network alone: {alone}")
    if metrics.get("below_majority"):
        console.print("[bold red]FLAG:[/] the model is at or below the majority-class baseline")
    vs = metrics.get("vs_baselines")
    if vs and vs.get("behind") and cfg is not None:
        from rnnkit.verdicts import behind_message

        console.print(f"[bold red]BEHIND A BASELINE:[/] {behind_message(cfg, vs)}", highlight=False)


@app.command()
def evaluate(
    run: Path = typer.Argument(..., help="Run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
    device: str = typer.Option("cpu", help="auto | cpu | cuda"),
    set_: list[str] = typer.Option([], "--set", help="Evaluation-time config override, e.g. model.beam_size=5 "
                                   "(settings that change the weights are refused)."),
) -> None:
    """Held-out metrics of a trained run, beside the task's baselines."""
    from rnnkit.tasks import TASKS, evaluate_run, load_run

    with clean_errors():
        metrics = evaluate_run(run, device, set_)
        if as_json:
            console.out(json.dumps(metrics), highlight=False)
        else:
            _print_metrics(metrics, TASKS[load_run(run).run_config.task].headline)
            from rnnkit.tune import ENSEMBLE_FILE

            if (run / ENSEMBLE_FILE).is_file():
                console.print(f"{run} is a tuned top-k ensemble: these are its best member's metrics; `rnnkit "
                              f"predict` and rnnkit.load average every member (the ensemble's: {run / ENSEMBLE_FILE})")


@app.command()
def datasets() -> None:
    """List the bundled data sets (fetched from registry packages on first use)."""
    from rich.table import Table

    with clean_errors():
        from rnnkit.data.registry import list_datasets

        rows = list_datasets()
        table = Table("name", "task", "source", "licence", "size", "description")
        for r in rows:
            table.add_row(*(str(r.get(k, "")) for k in ("name", "task", "source", "licence", "size",
                                                        "description")))
        console.print(table)


bench_app = typer.Typer(help="Speed benchmarks.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@app.command("import-keras")
def import_keras_cmd(
    model: Path = typer.Argument(..., help="A Keras model file: .keras (Keras 3) or a legacy full-model .h5."),
    out: Path = typer.Option(..., "--out", help="Model directory to write (rnnkit.load reads it)."),
) -> None:
    """Convert a trained Keras model into an rnnkit model directory and show its layers."""
    with clean_errors():
        from rnnkit.checkpoint import read_artifacts
        from rnnkit.interop.keras import import_keras
        from rnnkit.models.sequential import SequentialNet

        run_dir = import_keras(model, out)
        console.out(SequentialNet.from_dict(read_artifacts(run_dir)["layers.json"]).describe(), highlight=False)
        console.print(f"model directory -> {run_dir} (load it with rnnkit.load)")



# generate / translate / forecast / backtest / predict (rnnkit.cli_use), export / serve (rnnkit.cli_ship),
# explain (rnnkit.cli_explain) and bench (rnnkit.cli_bench) register their commands on import
from rnnkit import cli_bench, cli_explain, cli_ship, cli_use  # noqa: E402, F401


def main() -> None:
    """Console-script entry point (`rnnkit`, `python -m rnnkit`)."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted (a resumable checkpoint was saved if training had started)")
        sys.exit(130)
