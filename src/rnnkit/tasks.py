"""The task table: task name -> `TaskSpec`, and the generic train / evaluate / load flow.

A task (charlm, classify, forecast, seq2seq, ...) is one `TaskSpec` in its own module plus one
line in `_TASK_MODULES` below. Everything else — recipes, `--set`, `fit()`, the model directory,
`rnnkit.load`, the CLI's `train` / `evaluate` — is shared:

    cfg = make_run_config("charlm", overrides=["train.max_steps=100"])
    result = train_run(cfg, "runs/x")          # prepare_data -> build_model -> fit -> evaluate
    model = load_run("runs/x")                 # build_model(cfg, artifacts) + best weights

`build_model` receives the *artifacts* (JSON dicts such as `{"tokenizer.json": {...}}`) rather
than the data, so training and loading from disk build the model through the same code path.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit import checkpoint_unit as units
from rnnkit.config import RunConfig, apply_overrides, build_dataclass, load_recipe, override_keys
from rnnkit.errors import CheckpointError, ConfigError
from rnnkit.runlock import holds_lock, run_lock
from rnnkit.train import distributed
from rnnkit.train.fit import fit
from rnnkit.train.progress import FitResult, ProgressReporter
from rnnkit.train.utils import resolve_device, seed_everything
from rnnkit.verdicts import IN_MEMORY, behind_message

log = logging.getLogger(__name__)

#: ``data.source`` of a model trained on data handed to an estimator's ``fit`` (nothing to re-read)


@dataclass(frozen=True)
class TaskSpec:
    """Everything task-specific the generic flow needs.

    prepare_data(cfg) -> bundle      load + split + fit tokenizers/scalers on train; bundle.train
                                      must satisfy `rnnkit.train.fit.TrainData`
    artifacts(bundle) -> {file: dict} what the model needs to read raw input (tokenizer.json ...)
    build_model(cfg, artifacts)       an untrained model; `rnnkit.load` uses the same function
    validate(model, bundle) -> dict   cheap validation metrics incl. `monitor` (lower is better)
    evaluate(model, bundle, cfg)      final metrics on the held-out split(s) incl. "baselines"

    Convention: every task's data config has a `source: str` field (set by `--data`).
    """

    name: str
    description: str
    model_config_cls: type
    data_config_cls: type
    prepare_data: Callable[[RunConfig], Any]
    artifacts: Callable[[Any], dict[str, dict]]
    build_model: Callable[[RunConfig, dict[str, dict]], nn.Module]
    validate: Callable[[nn.Module, Any], dict[str, float]]
    evaluate: Callable[[nn.Module, Any, RunConfig], dict[str, Any]]
    recipe: str  # default recipe name in rnnkit/configs/
    monitor: str = "val_loss"
    headline: tuple[str, ...] = ()  # final metrics the CLI prints first
    progress_fields: dict[str, str] = field(default_factory=dict)  # train metric -> progress-bar label
    sample: Callable[[nn.Module, int], Iterator[str]] | None = None  # demo output after `train`
    # report(model, bundle, metrics, run_dir): extra files (plots) after train / evaluate
    report: Callable[[nn.Module, Any, dict[str, Any], Path], None] | None = None
    estimator: str = ""  # "module:Class" of the task's Python estimator (what `rnnkit.load` returns)
    # the task's own `rnnkit train` options: "--name" -> (config key it sets, help); every other key via --set
    cli_options: dict[str, tuple[str, str]] = field(default_factory=dict)
    # baseline_check(model, bundle, cfg) -> verdict: the model beside its best baseline on validation
    # (see `verdict`); None where a task has no baseline to compare with there
    baseline_check: Callable[[nn.Module, Any, RunConfig], dict[str, Any] | None] | None = None
    # post_fit(model, bundle, cfg) -> {file: dict}: artifacts chosen after training on validation data (the
    # forecast's combination with its baselines), added to the model directory; runs where baselines are
    # compared (not in search trials)
    post_fit: Callable[[nn.Module, Any, RunConfig], dict[str, dict]] | None = None
    # data-aware defaults: load_raw(cfg) reads the source into the task's raw form (what prepare_data
    # takes), summarise(cfg, raw) describes it for the rules of rnnkit.defaults
    load_raw: Callable[[RunConfig], Any] | None = None
    summarise: Callable[[RunConfig, Any], Any] | None = None
    # ensemble([(model, bundle), ...]) -> test metrics of the members' averaged predictions: the tasks whose
    # tuned top-k configurations can be ensembled (rnnkit tune --top-k)
    ensemble: Callable[[list[tuple[nn.Module, Any]]], dict[str, Any]] | None = None


# task name -> module defining `TASK: TaskSpec` (imported on first use, so a task's heavy
# dependencies, or a task still being written, never slow down or break the others)
_TASK_MODULES: dict[str, str] = {
    "charlm": "rnnkit.apps.charlm",
    "forecast": "rnnkit.apps.forecast",
    "seq2seq": "rnnkit.apps.seq2seq",
    "classify": "rnnkit.apps.classify",
    "regress": "rnnkit.apps.regress",
    "nextelement": "rnnkit.apps.nextelement",
    "keras": "rnnkit.apps.keras",
}


class _TaskTable(Mapping[str, TaskSpec]):
    """`TASKS[name]` imports the task's module lazily; unknown names list the valid ones."""

    def __getitem__(self, name: str) -> TaskSpec:
        if name not in _TASK_MODULES:
            raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(_TASK_MODULES)}")
        return importlib.import_module(_TASK_MODULES[name]).TASK

    def __iter__(self) -> Iterator[str]:
        return iter(_TASK_MODULES)

    def __len__(self) -> int:
        return len(_TASK_MODULES)


TASKS: Mapping[str, TaskSpec] = _TaskTable()


def get_task(name: str) -> TaskSpec:
    return TASKS[name]


def recipe_task(task_or_recipe: str) -> str:
    """The task a task name, shipped recipe name or recipe path stands for."""
    if task_or_recipe in _TASK_MODULES:
        return task_or_recipe
    task = load_recipe(task_or_recipe).get("task")
    if task is None:
        raise ConfigError(f"recipe {task_or_recipe!r} has no `task = ...` line; "
                          f"valid tasks: {', '.join(_TASK_MODULES)}")
    return task


def task_options(spec: TaskSpec, args: list[str]) -> list[str]:
    """``--name value`` / ``--name=value`` pairs of a task's own options -> ``section.key=value``
    overrides; an unknown option lists the task's valid ones."""
    out, i = [], 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name not in spec.cli_options:
            valid = ", ".join(spec.cli_options) or "none"
            raise ConfigError(f"unknown option {name!r} for task {spec.name!r}; its own options: {valid} "
                              "(every config key: --set section.key=value)")
        if not eq:
            if i + 1 >= len(args):
                raise ConfigError(f"option {name} needs a value")
            i, value = i + 1, args[i + 1]
        out.append(f"{spec.cli_options[name][0]}={value}")
        i += 1
    return out


def catalog() -> dict[str, list[tuple[str, str]]]:
    """``{"tasks": [(name, description + options)], "recipes": [(name, task: description)]}`` for help text."""
    from rnnkit.config import recipe_names

    tasks = []
    for name in _TASK_MODULES:
        spec = TASKS[name]
        opts = "; options: " + ", ".join(spec.cli_options) if spec.cli_options else ""
        tasks.append((name, spec.description + opts))
    recipes = []
    for name in recipe_names():
        r = load_recipe(name)
        recipes.append((name, f"{r.get('task', '?')}: {r.get('description', '')}"))
    return {"tasks": tasks, "recipes": recipes}


def make_run_config(task_or_recipe: str, overrides: list[str] | tuple[str, ...] = (),
                    data: str | None = None) -> RunConfig:
    """Resolve a task name, a shipped recipe name or a .toml path into a RunConfig, then apply
    `--data` (sets `data.source`) and typed `--set` overrides.

    A task name means data-aware defaults: the task's base recipe, and every key the overrides do not
    set is chosen from the data when training starts (``user_keys``, :mod:`rnnkit.defaults`). A
    recipe is taken as it is."""
    by_task = task_or_recipe in _TASK_MODULES
    recipe_name = TASKS[task_or_recipe].recipe if by_task else task_or_recipe
    recipe = load_recipe(recipe_name)
    task = recipe.get("task")
    if task is None:
        raise ConfigError(f"recipe {recipe_name!r} has no `task = ...` line; valid tasks: "
                          f"{', '.join(_TASK_MODULES)}")
    spec = TASKS[task]
    cfg = RunConfig.from_dict({"task": task, "model": recipe.get("model", {}),
                               "data": recipe.get("data", {}), "train": recipe.get("train", {})},
                              spec.model_config_cls, spec.data_config_cls)
    if data is not None:
        cfg = apply_overrides(cfg, [f"data.source={data}"])
    cfg = apply_overrides(cfg, overrides)
    cfg = _absolute_sources(cfg)
    if by_task and spec.summarise is not None:
        cfg = dataclasses.replace(cfg, user_keys=tuple(["data.source", *override_keys(overrides)]))
    return cfg


def _absolute_sources(cfg: RunConfig) -> RunConfig:
    """Data paths that name local files or folders, made absolute: config.json records where the data
    is, so `rnnkit evaluate RUN` works from any working directory (bundled names stay as they are)."""
    changes = {}
    for key in ("source", "test_source"):
        value = getattr(cfg.data, key, None)
        if isinstance(value, str) and value and Path(value).exists() and not Path(value).is_absolute():
            changes[key] = str(Path(value).resolve())
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **changes)) if changes else cfg


def resolve_defaults(cfg: RunConfig, raw: Any = None) -> tuple[RunConfig, Any, list[tuple[str, Any, str, str]]]:
    """(the configuration with data-aware defaults chosen, the raw data read for it, the choices
    ``[(key, value, rule, why)]``); a complete configuration (``user_keys`` None) comes back as it is."""
    spec = TASKS[cfg.task]
    if cfg.user_keys is None or spec.summarise is None:
        return cfg, raw, []
    from rnnkit.defaults import as_overrides, choose

    if raw is None:
        raw = spec.load_raw(cfg)
    chosen = choose(cfg.task, spec.summarise(cfg, raw), set(cfg.user_keys))
    resolved = apply_overrides(dataclasses.replace(cfg, user_keys=None), as_overrides(chosen))
    for key, value, rule, _ in chosen:
        log.info("%s = %s  (%s)", key, value, rule)
    return resolved, raw, chosen


def run_config_from_dict(d: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from config.json using the task's own config classes."""
    spec = TASKS[d["task"]]
    return RunConfig.from_dict(d, spec.model_config_cls, spec.data_config_cls)


@dataclass
class TrainOutcome:
    run_dir: Path | None
    model: nn.Module
    fit: FitResult
    metrics: dict[str, Any]  # final evaluation (also written to run_dir/metrics.json); {} when skipped
    bundle: Any = None  # the prepared data (splits, encoders), for callers that keep working with it
    artifacts: dict[str, dict] = field(default_factory=dict)
    vs_baselines: dict[str, Any] | None = None  # the model beside its best baseline on validation
    config: RunConfig | None = None  # the configuration trained (data-aware defaults resolved)
    defaults: list[tuple[str, Any, str, str]] = field(default_factory=list)  # (key, value, rule, why) chosen


def train_run(cfg: RunConfig, run_dir: str | Path | None = None, *, resume: bool = False,
              progress: ProgressReporter | None = None, raw: Any = None,
              callbacks: tuple | list = (), final_evaluation: bool = True, compare_baselines: bool = True,
              defaults: list[tuple[str, Any, str, str]] | None = None, tuned: bool = False) -> TrainOutcome:
    """prepare data -> build model -> fit (checkpoints in run_dir, if given) -> final evaluation.

    ``raw`` is data already in memory in the task's raw form (what an estimator's ``fit(X, y)``
    builds); without it the task reads ``cfg.data.source``. ``final_evaluation=False`` skips the
    held-out evaluation (data given in memory has no test split); ``compare_baselines=False`` skips
    the validation comparison with the baselines (search trials); ``tuned`` marks a search's final run
    (its "behind a baseline" advice is a longer budget, not a search). Data-aware defaults are chosen
    here (:func:`resolve_defaults`) unless the caller already did and passes its ``defaults``.
    The run directory is locked (:mod:`rnnkit.runlock`) before anything in it is read or written.

    Under ``torchrun`` (``WORLD_SIZE > 1``) every rank runs this flow and `fit` trains data-parallel;
    rank 0 alone locks and writes the run directory and runs the final evaluation (the other ranks
    return an empty ``metrics``), and a worker torchrun restarted resumes from the last checkpoint."""
    main = distributed.is_main()
    resume = distributed.auto_resume(run_dir, resume)
    if run_dir is not None and main and not holds_lock(run_dir):
        with run_lock(run_dir):  # then the same call again, now holding the lock
            return train_run(cfg, run_dir, resume=resume, progress=progress, raw=raw, callbacks=callbacks,
                             final_evaluation=final_evaluation, compare_baselines=compare_baselines,
                             defaults=defaults, tuned=tuned)
    spec = TASKS[cfg.task]
    run_dir = None if run_dir is None else Path(run_dir)
    if run_dir is not None:
        _check_run_dir(run_dir, cfg, resume)
    cfg, raw, chosen = resolve_defaults(cfg, raw)
    chosen = chosen or list(defaults or [])
    seed_everything(cfg.train.seed)
    bundle = spec.prepare_data(cfg) if raw is None else spec.prepare_data(cfg, raw)
    artifacts = spec.artifacts(bundle)
    if resume and not _same_artifacts(artifacts, ckpt.read_artifacts(run_dir)):
        raise CheckpointError(f"{run_dir}: the data now gives different artifacts "
                              f"({', '.join(artifacts)}) than the run was started with; cannot resume")
    seed_everything(cfg.train.seed)
    model = spec.build_model(cfg, artifacts)
    result = fit(model, bundle.train, cfg.train, evaluate=lambda m: spec.validate(m, bundle),
                 monitor=spec.monitor, run_dir=run_dir, run_config=cfg.to_dict(), artifacts=artifacts,
                 resume=resume, progress=progress, callbacks=callbacks)
    model.eval()
    model.run_config, model.artifacts = cfg, artifacts
    if spec.post_fit is not None and compare_baselines and main:
        chosen_after = spec.post_fit(model, bundle, cfg)
        if chosen_after:
            artifacts = model.artifacts = {**artifacts, **chosen_after}
            if run_dir is not None:
                ckpt.add_artifacts(run_dir, chosen_after)
    check = spec.baseline_check is not None and compare_baselines and main
    vs = spec.baseline_check(model, bundle, cfg) if check else None
    if vs is not None and tuned:
        vs["tuned"] = True  # the final run of a search: its advice is not "search"
    if vs is not None and vs["behind"]:
        log.warning("%s", behind_message(cfg, vs))
    metrics: dict[str, Any] = {}
    if final_evaluation and main:
        metrics = spec.evaluate(model, bundle, cfg)
        metrics["train"] = {"steps": result.steps, "stop_reason": result.stop_reason,
                            "elapsed_s": round(result.elapsed_s, 1), "items_per_s": round(result.items_per_s, 1),
                            "best_step": result.best_step}
        if vs is not None:
            metrics["vs_baselines"] = vs
        if chosen:
            metrics["defaults"] = [{"key": k, "value": v, "rule": r} for k, v, r, _ in chosen]
    if run_dir is not None and metrics:
        ckpt.atomic_write_json(run_dir / ckpt.FINAL_METRICS, metrics)
        if spec.report is not None:
            spec.report(model, bundle, metrics, run_dir)
    return TrainOutcome(run_dir, model, result, metrics, bundle, artifacts, vs, cfg, chosen)


def _same_artifacts(from_data: dict[str, dict], saved: dict[str, dict]) -> bool:
    """Whether the data gives the artifacts a model was trained with; those chosen after training
    (``post_fit``, e.g. the forecast's combine.json) are not the data's and are not compared."""
    return {k: v for k, v in saved.items() if k in from_data} == from_data


def _check_run_dir(run_dir: Path, cfg: RunConfig, resume: bool) -> None:
    """A resume continues the same task on the same data from a checkpoint; a fresh run needs a
    directory without one."""
    if resume:
        saved = ckpt.read_config(run_dir)
        if saved.get("task") != cfg.task:
            raise ConfigError(f"{run_dir} holds a {saved.get('task')!r} run, not {cfg.task!r}")
        old, new = (saved.get("data") or {}).get("source"), getattr(cfg.data, "source", None)
        if not _same_source(old, new):
            raise ConfigError(f"{run_dir} was trained with data.source={old!r}, not {new!r}: --resume continues "
                              "a run on its own data (train on other data with another --out)")
        if units.saved_step(run_dir) is None:
            units.resume_point(run_dir)  # raises: says there is nothing to resume
    elif units.saved_step(run_dir) is not None:
        raise ConfigError(f"{run_dir} already holds a run; use --resume to continue it or pick another --out")


def _same_source(a: Any, b: Any) -> bool:
    """Two ``data.source`` values naming the same data (equal, or paths to the same file)."""
    if a == b:
        return True
    if not (isinstance(a, str) and isinstance(b, str) and Path(a).exists() and Path(b).exists()):
        return False
    return Path(a).resolve() == Path(b).resolve()


def load_run(run_dir: str | Path, device: str = "cpu", weights: str = ckpt.BEST_WEIGHTS,
             overrides: list[str] | tuple[str, ...] = ()) -> nn.Module:
    """The trained model of a model directory, in eval mode, with `config` and `artifacts` attached.

    ``overrides`` (``section.key=value``) change the stored config before the model is built, for
    settings that do not change the weights (e.g. ``model.beam_size=5``); one that does (a layer
    size) fails with a :class:`CheckpointError` naming the weights file, never a silent mismatch."""
    d = ckpt.read_config(run_dir)
    cfg = apply_overrides(run_config_from_dict(d), overrides)
    artifacts = ckpt.read_artifacts(run_dir)
    model = TASKS[cfg.task].build_model(cfg, artifacts)
    dev = resolve_device(device)
    ckpt.load_weights(model, units.unit_file(run_dir, weights), dev)
    model.to(dev).eval()
    model.run_config = cfg
    model.artifacts = artifacts
    return model


def evaluate_run(run_dir: str | Path, device: str = "cpu", overrides: list[str] | tuple[str, ...] = ()
                 ) -> dict[str, Any]:
    """Re-run the task's final evaluation (held-out metrics + baselines) for a model directory,
    optionally with evaluation-time ``overrides`` of its config (see :func:`load_run`)."""
    model = load_run(run_dir, device, overrides=overrides)
    cfg: RunConfig = model.run_config
    if getattr(cfg.data, "source", None) == IN_MEMORY:
        raise CheckpointError(f"{run_dir} was trained on data given in memory (from Python), which it does not "
                              "hold; evaluate it there: rnnkit.load(run_dir).evaluate(X, y)")
    bundle = TASKS[cfg.task].prepare_data(cfg)
    if not _same_artifacts(TASKS[cfg.task].artifacts(bundle), model.artifacts):
        raise CheckpointError(f"{run_dir}: the data source {getattr(cfg.data, 'source', '?')!r} now "
                              "gives different artifacts (e.g. vocabulary) than at training time")
    metrics = TASKS[cfg.task].evaluate(model, bundle, cfg)
    if TASKS[cfg.task].report is not None:
        TASKS[cfg.task].report(model, bundle, metrics, Path(run_dir))
    return metrics


__all__ = ["IN_MEMORY", "TASKS", "TaskSpec", "TrainOutcome", "build_dataclass", "catalog",
           "evaluate_run", "get_task", "load_run", "make_run_config", "recipe_task", "resolve_defaults",
           "run_config_from_dict", "task_options", "train_run"]
