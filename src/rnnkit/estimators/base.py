"""What every estimator shares: parameters -> run config, training through the task flow, save / load.

An estimator is a scikit-learn style object (``get_params`` / ``set_params`` / ``clone`` work; fitted
attributes end in ``_``) in front of one task of :mod:`rnnkit.tasks`. Its parameters are config keys:
each maps by name to the field of the task's model, data or train config (``hidden_size`` ->
``model.hidden_size``, ``lr`` -> ``train.lr``), or through the class's ``_aliases`` table
(``random_state`` -> ``train.seed``). A parameter left at ``None`` keeps the default: the
estimator's own (``_defaults``, on top of the config dataclasses' defaults) or, with
``recipe=...``, the recipe's. ``overrides=["train.warmup_steps=50", ...]`` reaches every other key.

Training is :func:`rnnkit.tasks.train_run`, the same flow ``rnnkit train`` runs: ``fit(X, y)`` hands
the task its data in memory, :meth:`Estimator.fit_dataset` names a bundled set or a file as
``--data`` does. ``save`` writes the model directory the CLI writes; :func:`load` reads either.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from rnnkit import checkpoint as ckpt
from rnnkit.config import RunConfig, TrainConfig, apply_overrides, build_dataclass, override_keys
from rnnkit.errors import ConfigError
from rnnkit.runlock import run_lock
from rnnkit.tasks import IN_MEMORY, TASKS, load_run, make_run_config, train_run
from rnnkit.train.history import History
from rnnkit.tune import ENSEMBLE_FILE, ensemble_members

log = logging.getLogger(__name__)


class Estimator(BaseEstimator):
    """Base class: subclasses set ``_task`` and write ``__init__`` with their parameters (stored as given)."""

    _task: ClassVar[str] = ""
    #: parameter -> the config keys it sets, for parameters not named like their config field
    _aliases: ClassVar[dict[str, tuple[str, ...]]] = {"random_state": ("train.seed",)}
    #: the estimator's defaults (``section.key=value``) on top of the config dataclasses' own, or of
    #: the shipped recipe ``_recipe`` when the task's recipe suits any data
    _defaults: ClassVar[tuple[str, ...]] = ()
    _recipe: ClassVar[str | None] = None
    #: parameters that are not config keys
    _not_config: ClassVar[frozenset[str]] = frozenset({"recipe", "overrides", "verbose"})

    def _store(self, params: dict[str, Any]) -> None:
        """Keep every ``__init__`` argument as given (scikit-learn's rule: no validation in ``__init__``;
        the run config checks every value at ``fit``). Subclasses call ``self._store(locals())``."""
        for name, value in params.items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)

    # ------------------------------------------------------------------ configuration
    def _base_config(self) -> RunConfig:
        recipe = getattr(self, "recipe", None)
        if isinstance(recipe, RunConfig):
            return recipe
        if recipe is not None:
            return make_run_config(str(recipe))
        spec = TASKS[self._task]
        cfg = (make_run_config(self._recipe) if self._recipe else
               RunConfig(self._task, spec.model_config_cls(), spec.data_config_cls(), TrainConfig()))
        return apply_overrides(cfg, self._defaults)

    @classmethod
    def _config_keys(cls, name: str, cfg: RunConfig) -> tuple[str, ...]:
        if name in cls._aliases:
            return cls._aliases[name]
        for section in ("model", "data", "train"):
            if name in {f.name for f in dataclasses.fields(getattr(cfg, section))}:
                return (f"{section}.{name}",)
        raise ConfigError(f"{cls.__name__}: {name!r} is not a setting of the {cfg.task} task")

    def _config(self, **fit_kw: Any) -> RunConfig:
        """The run config: base (recipe or defaults) <- parameters <- ``overrides`` <- ``fit`` keywords.

        Without a recipe, every key none of these sets is left to the data-aware defaults
        (``user_keys``; :mod:`rnnkit.defaults` chooses them when training starts)."""
        cfg = self._base_config()
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in self._not_config}
        given = {k: v for k, v in fit_kw.items() if v is not None}
        overrides = list(getattr(self, "overrides", None) or ())
        cfg = apply_overrides(self._apply(cfg, params), overrides)
        cfg = self._apply(cfg, given)
        if getattr(self, "recipe", None) is None or cfg.user_keys is not None:
            keys = {key for name, v in {**params, **given}.items() if v is not None
                    for key in self._config_keys(name, cfg)}
            keys |= set(override_keys(overrides)) | set(cfg.user_keys or ()) | {"data.source"}
            cfg = dataclasses.replace(cfg, user_keys=tuple(sorted(keys)))
        return cfg

    def _apply(self, cfg: RunConfig, params: dict[str, Any]) -> RunConfig:
        values: dict[str, dict[str, Any]] = {"model": {}, "data": {}, "train": {}}
        for name, value in params.items():
            if value is None:
                continue
            for key in self._config_keys(name, cfg):
                section, field = key.split(".")
                values[section][field] = value
        train = values["train"]
        if "epochs" in train:  # Keras's meaning: the epochs are the budget, validated once per epoch
            train.setdefault("max_steps", None)
            train.setdefault("eval_every", None)
        changes = {s: build_dataclass(type(getattr(cfg, s)), {**dataclasses.asdict(getattr(cfg, s)), **v}, s)
                   for s, v in values.items() if v}
        return dataclasses.replace(cfg, **changes)

    # ------------------------------------------------------------------ training
    def _train(self, raw: Any, *, out: str | Path | None = None, resume: bool = False, callbacks: Any = (),
               verbose: int | str | None = None, final_evaluation: bool = False, tune: str | float | None = None,
               on_trial: Any = None, seed: int = 0, defaults: Any = None, top_k: int = 1, **fit_kw: Any) -> Estimator:
        """Train through the task flow on ``raw`` (None: the config's data source) and keep the result;
        with ``tune`` (a budget such as "15m"), search the task's space on validation data first
        (:mod:`rnnkit.tune`) and train the best configuration."""
        from rnnkit.display import reporters_for

        cfg = self._config(**fit_kw)
        history = History()
        self.members_: list[Estimator] = []  # a tuned top-k ensemble's other members (predicting beside this one)
        self.ensemble_: dict[str, Any] | None = None
        shown = reporters_for(self.verbose if verbose is None else verbose, TASKS[cfg.task].progress_fields)
        if tune is not None:
            from rnnkit.tune import tune_run

            if resume:
                raise ConfigError("tune and resume do not mix: resume the final run without tune")
            found = tune_run(cfg, tune, out, raw=raw, callbacks=[history, *shown, *callbacks],
                             final_evaluation=final_evaluation, seed=seed, on_trial=on_trial, top_k=top_k)
            outcome, cfg = found.final, found.config
            self.tune_ = {"best": found.best, "trials": found.trials}
            if "ensemble" in found.extra:  # a top-k ensemble: the other members predict beside this one
                self.ensemble_ = found.extra["ensemble"]
                self.members_ = [self._member(o) for o in found.extra["members"]]
        elif top_k != 1:
            raise ConfigError("top_k ensembles the best configurations of a search: give tune=... with it")
        else:
            outcome = train_run(cfg, out, resume=resume, raw=raw, callbacks=[history, *shown, *callbacks],
                                final_evaluation=final_evaluation, defaults=defaults)
        cfg = outcome.config or cfg  # with the data-aware defaults chosen
        self._adopt(outcome.model, cfg, outcome.artifacts, history, outcome.metrics, out)
        self.defaults_ = outcome.defaults  # [(key, value, rule, why)] chosen from the data
        self._bundle = outcome.bundle
        self.fit_result_ = outcome.fit
        self.vs_baselines_ = outcome.vs_baselines  # the model beside its best baseline on validation
        log.info("%s: %s after %d steps; best %s=%s at step %s", type(self).__name__, outcome.fit.stop_reason,
                 outcome.fit.steps, outcome.fit.monitor, outcome.fit.best_value, outcome.fit.best_step)
        return self

    def fit_dataset(self, source: str, *, out: str | Path | None = None, resume: bool = False,
                    callbacks: Any = (), verbose: int | str | None = None, tune: str | float | None = None,
                    data: Any = None, defaults: Any = None, **fit_kw: Any) -> Estimator:
        """Train on a bundled data set (``rnnkit datasets``) or a file, read exactly as
        ``rnnkit train --data SOURCE`` reads it, then evaluate on its held-out test split
        (``metrics_``: the model beside the task's baselines). ``out`` keeps checkpoints there
        (``resume=True`` continues a run from its last one); ``tune="15m"`` searches first, as
        ``rnnkit tune`` (``tune_`` then holds the trials). ``data`` is the source already read and
        ``defaults`` the data-aware choices already made for it (``rnnkit.tasks.resolve_defaults``
        returns both; the CLI prints them before training)."""
        return self._train(data, out=out, resume=resume, callbacks=callbacks, verbose=verbose,
                           final_evaluation=True, tune=tune, defaults=defaults, source=source, **fit_kw)

    def _adopt(self, model: Any, cfg: RunConfig, artifacts: dict[str, dict], history: History,
               metrics: dict[str, Any], run_dir: str | Path | None) -> None:
        model.eval()
        model.run_config, model.artifacts = cfg, artifacts
        self.model_, self.config_, self.artifacts_ = model, cfg, artifacts
        self.history_, self.metrics_ = history, metrics
        self.run_dir_ = None if run_dir is None else Path(run_dir)
        self._bundle = None

    def _member(self, outcome: Any, run_dir: str | Path | None = None) -> Estimator:
        """Another member of a tuned top-k ensemble, as an estimator of this class."""
        est = type(self)(recipe=outcome.config, verbose=0)
        est._adopt(outcome.model, outcome.config, outcome.artifacts, History(), outcome.metrics, run_dir)
        return est

    def _check_fitted(self) -> None:
        check_is_fitted(self, "model_")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the model directory (config.json, model.safetensors, tokenizer/scaler/labels JSON,
        metrics.jsonl, curves.png) that ``rnnkit.load`` and every ``rnnkit`` command read."""
        self._check_fitted()
        path = Path(path)
        own = self.run_dir_ is not None and path.resolve() == self.run_dir_.resolve()
        with run_lock(path):  # never into a directory another process is training into
            if (path / ckpt.TRAINER_STATE).exists() and not own:
                raise ConfigError(f"{path} holds another training run (trainer_state.pt); save to a new directory")
            ckpt.save_model_dir(path, self.model_, self.config_.to_dict(), self.artifacts_)
            if self.history_.records and not own:
                lines = "".join(json.dumps(r) + "\n" for r in self.history_.records)
                ckpt.atomic_write_bytes(path / ckpt.METRICS_LOG, lines.encode("utf-8"))
                self.history_.plot(path / "curves.png")
            if self.metrics_:
                ckpt.atomic_write_json(path / ckpt.FINAL_METRICS, self.metrics_)
        if getattr(self, "members_", None) and not own:  # a top-k ensemble: its other members beside it
            for m, info in zip(self.members_, self.ensemble_["members"][1:]):
                m.save(path / info["dir"])
            ckpt.atomic_write_json(path / ENSEMBLE_FILE, self.ensemble_)
        return path

    def export(self, path: str | Path, int8: bool = False) -> dict[str, Any]:
        """Export the model to ONNX in the directory ``path`` (every graph with named dynamic batch and
        time axes, verified against torch at other shapes; ``int8=True`` adds quantised copies), as
        ``rnnkit export`` does; returns the manifest written to ``path/export.json`` (docs/serving.md)."""
        from rnnkit.export import export_model

        self._check_fitted()
        return export_model(self.model_, path, int8=int8)

    @classmethod
    def _from_model(cls, model: Any, run_dir: str | Path) -> Estimator:
        est = cls(recipe=model.run_config)
        metrics_path = Path(run_dir) / ckpt.FINAL_METRICS
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        est._adopt(model, model.run_config, model.artifacts, History.from_jsonl(Path(run_dir) / ckpt.METRICS_LOG),
                   metrics, run_dir)
        return est

    def _training_bundle(self) -> Any:
        """The prepared training data (splits and encoders): kept after ``fit``; for a loaded model
        trained on a data source, read again from that source (as ``rnnkit evaluate`` does)."""
        if getattr(self, "_bundle", None) is None and self.config_.data.source != IN_MEMORY:
            self._bundle = TASKS[self.config_.task].prepare_data(self.config_)
        return getattr(self, "_bundle", None)


def estimator_class(task: str) -> type[Estimator]:
    """The estimator class of a task (``TaskSpec.estimator``, imported on first use)."""
    import importlib

    path = TASKS[task].estimator
    if not path:
        raise ConfigError(f"the {task!r} task has no Python estimator")
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def load(run_dir: str | Path, device: str = "cpu") -> Estimator:
    """The estimator of a model directory (written by ``rnnkit train``, ``save`` or ``import-keras``),
    fitted and ready to predict; its torch module is ``.model_``."""
    model = load_run(run_dir, device)
    est = estimator_class(model.run_config.task)._from_model(model, run_dir)
    summary, members = ensemble_members(run_dir)
    if summary is not None:  # a tuned top-k ensemble: its other members too
        est.ensemble_, est.members_ = summary, [load(d, device) for d in members]
    return est


__all__ = ["IN_MEMORY", "Estimator", "estimator_class", "load"]
