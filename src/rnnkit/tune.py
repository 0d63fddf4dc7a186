"""Budgeted hyper-parameter search on validation data: ``rnnkit tune`` and ``fit(..., tune="15m")``.

Trial 0 is the data-aware default itself; then Optuna's TPE sampler proposes configurations from a
documented space per task (``SPACES``). Each trial is an ordinary ``train_run`` on the training data,
scored by the task's monitor on its validation split (never the test split). Poor trials are pruned by
Optuna's median rule from their validation curve. Each trial gets at most an eighth of the search time
(``MIN_TRIALS``). Every trial is recorded (``tune/trials.json`` and ``tune/trials.png`` in the run
directory); the chosen configuration is then trained again and saved as a normal run. Trials run one at a
time (two cores: parallel trials would only slow each other).

Small classify / regress sets (under ``SMALL`` examples) have small validation parts, whose noise a search
of a hundred trials learns to fit: the least of many noisy values flatters its configuration (the
winner's curse). So there each trial averages three repeated validation splits (``data.val_seed`` 0, 1, 2;
the test split never moves), the search ends at half the budget, and the best ``SHORTLIST`` distinct
configurations and the default are scored again on three splits the search never saw (seeds 3, 4, 5,
until three quarters of the budget). The lowest mean there is chosen, which may be the default itself.
Larger sets search until three quarters of the budget and take the search's best.

The final run gets the rest of the budget, at least the default's own ``train.max_minutes`` (up to half the
budget; the search and confirmation shares shrink to leave it: with 15 minutes and a 5-minute default they end
at 6.7 and 10 minutes, or 10 for a larger set) and at least as long as the chosen trial took, and trains as the
one-command default trains (its validation split and early stopping, or the fixed steps of its
few-examples rule; forecasting: every training row), with the chosen configuration on top. Earlier
versions folded the validation part back in and trained for the best trial's best step, which on a small
set was an early step of a time-capped trial (55 steps on book-excerpts, 4 on PickupGestureWiimoteZ;
docs/benchmarks.md). Forecasting validates on the last horizon of the training rows during the search
(``data.val_size``).

``top_k > 1`` (``rnnkit tune --top-k K``; tasks with a ``TaskSpec.ensemble``: classification) trains the
K best distinct configurations the same way, the final time split between them, and ensembles them: their
class probabilities are averaged. The best stays the run directory's own model; the others are normal
runs in ``RUN/ensemble/member-<rank>``, and ``RUN/ensemble.json`` lists them with the test metrics of the
ensemble and of each member (reported, never used to choose: the members are ranked on validation, on the
fresh splits where the set is small).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnkit.config import RunConfig, apply_overrides
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.tasks import TASKS, TrainOutcome, train_run
from rnnkit.train.progress import ProgressReporter
from rnnkit.tune_spaces import SPACES
from rnnkit.verdicts import FEW_VALUES

log = logging.getLogger(__name__)
SMALL = 500  # fewer training examples than this: three repeated validation splits per trial
SEARCH_SEEDS = (0, 1, 2)  # a small set's validation splits (data.val_seed) during the search
CONFIRM_SEEDS = (3, 4, 5)  # ... and the fresh ones the shortlist is scored on again after it
SHORTLIST = 3  # the best distinct configurations of a small set's search scored again, beside the default
MIN_TRIALS = 8  # a trial's time is capped so that at least this many fit in the search
#: shares of the budget: the search ends at the first; the confirmation (small sets) at the second; the final
#: run(s) get the rest, and at least the default's own time (train.max_minutes, up to half the budget; both
#: shares shrink in proportion): a search never ends on a model trained for less time than the one-command
#: default would have had (on 20 Newsgroups, where the default wins the search, a 3.5-minute final run gave
#: 0.645 against the 5-minute default's 0.705)
SEARCH_END, CONFIRM_END = 0.5, 0.75
ENSEMBLE_FILE = "ensemble.json"  # a top-k ensemble's members and test metrics, in the run directory


def _shares(total: float, default: RunConfig) -> tuple[float, float]:
    """(search end, confirmation end) as shares of ``total`` seconds, leaving the final run at least the
    default configuration's own ``train.max_minutes`` (at most half the budget)."""
    final = min(max(1 - CONFIRM_END, (default.train.max_minutes or 0) * 60 / total), 0.5)
    scale = (1 - final) / CONFIRM_END
    return SEARCH_END * scale, CONFIRM_END * scale


def parse_budget(budget: str | float | int) -> float:
    """``"15m"``, ``"90s"``, ``"1h"`` or a number of minutes -> seconds."""
    if isinstance(budget, (int, float)):
        seconds = float(budget) * 60
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(budget))
        if not m:
            raise ConfigError(f"budget {budget!r}: use a number of minutes or e.g. 90s, 15m, 1h")
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "": 60}[m.group(2)]
    if seconds < 10:
        raise ConfigError(f"budget {budget!r} is under 10 seconds: too short for one trial")
    return seconds


# --------------------------------------------------------------------------- the search

class _Pruner(ProgressReporter):
    """Reports each validation value to the trial; stops the run when Optuna prunes it."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor, self.pruned = trial, monitor, False

    def evaluated(self, step: int, metrics: dict[str, Any], improved: bool) -> None:
        value = float(metrics[self.monitor])
        if math.isfinite(value):
            self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned = self.stop_training = True


@dataclass
class TuneOutcome:
    best: dict[str, Any]  # the best trial: number, value, params, overrides
    trials: list[dict[str, Any]]
    final: TrainOutcome  # the best configuration trained on all the training data
    config: RunConfig
    extra: dict[str, Any] = field(default_factory=dict)


def _n_examples(bundle: Any) -> int:
    return len(getattr(bundle.raw, "train_x", None) or []) if hasattr(bundle, "raw") else SMALL


MAX_FAILURES = 5  # this many failed trials and none finished: the search ends with the first one's reason


def _search_base(base: RunConfig, raw: Any = None) -> RunConfig:
    """What the trials train: the base, with a validation split where the base has none (forecast: the
    last horizon of the training rows, the context shortened where the rest would hold under two
    training windows; a series too short even then cannot be tuned)."""
    if base.task in ("classify", "regress") and base.data.val_fraction == 0:
        return apply_overrides(base, ["data.val_fraction=0.2"])
    if base.task == "forecast" and base.data.val_size == 0:
        h = base.data.horizon
        sets = [f"data.val_size={h}"]
        if raw is not None:
            n_fit = len(raw.targets) - (base.data.test_size or h) - h
            if n_fit - h - 1 < 1:
                raise ConfigError(
                    f"{len(raw.targets)} rows are too short to tune with horizon {h}: the test and validation "
                    f"horizons leave {n_fit} rows, under two training windows; the one-command default "
                    "(rnnkit train forecast) forecasts such a series with ETS or seasonal naive, whichever does "
                    "better on the last origins of its training rows")
            if base.data.context > n_fit - h - 1:
                sets.append(f"data.context={n_fit - h - 1}")
        return apply_overrides(base, sets)
    return base


def _small(base: RunConfig, probe: Any) -> bool:
    """A classify / regress set small enough for repeated validation splits and a confirmation stage."""
    return base.task in ("classify", "regress") and _n_examples(probe) < SMALL


def _score(cfg: RunConfig, raw: Any, spec: Any, seeds: tuple[int, ...] | None, deadline: float, run_s: float,
           trial: Any = None) -> dict[str, Any]:
    """Train ``cfg`` once per validation split ``seeds`` (None: the configuration's own split), each run capped
    at ``run_s`` seconds and by ``deadline``: the best validation values and their steps.
    With an Optuna ``trial`` the first run reports its curve, and a pruned run raises ``TrialPruned``."""
    values: list[float] = []
    steps: list[int] = []
    for r, seed in enumerate(seeds or (None,)):
        to_deadline = deadline - time.monotonic()
        if to_deadline < 3:
            break
        # seconds throughout: the configuration's own cap (train.max_minutes) is in minutes. (Until session 11
        # it was compared as seconds, which capped every trial of a default at 5 s: docs/tune.md)
        own_s = cfg.train.max_minutes * 60 if cfg.train.max_minutes else math.inf
        minutes = min(own_s, max(run_s, 6.0), to_deadline) / 60
        # the time cap only stops a run: the schedule follows its steps, so a run that ends by its epochs is
        # reproduced exactly by its configuration
        stop = [f"train.max_minutes={minutes}", "train.schedule_by_time=false"]
        run = apply_overrides(cfg, stop + ([] if seed is None else [f"data.val_seed={seed}"]))
        pruner = _Pruner(trial, spec.monitor) if trial is not None and r == 0 else ProgressReporter()
        out = train_run(run, None, raw=raw, callbacks=[pruner], final_evaluation=False, compare_baselines=False)
        if getattr(pruner, "pruned", False):
            import optuna

            raise optuna.TrialPruned()
        values.append(out.fit.best_value)
        steps.append(out.fit.best_step)
    return {"values": values, "steps": steps}


def _run_trial(trial: Any, base: RunConfig, raw: Any, spec: Any, deadline: float, probe: Any,
               trial_s: float) -> float:
    # trial 0 is the data-aware default itself (no override), scored like every other trial: a search
    # then never ends on a configuration that did worse on validation than the one-command default
    overrides = [] if trial.number == 0 else SPACES[base.task](trial, probe)
    trial.set_user_attr("overrides", overrides)
    cfg = apply_overrides(base, overrides)
    seeds = SEARCH_SEEDS if _small(base, probe) and trial_s >= 30 else None
    got = _score(cfg, raw, spec, seeds, deadline, trial_s / len(seeds or (None,)), trial)
    if not got["values"]:  # the search time is spent: end the study (a pruned trial, not a failure)
        trial.study.stop()
        import optuna

        raise optuna.TrialPruned()
    trial.set_user_attr("best_step", sorted(got["steps"])[len(got["steps"]) // 2])  # the median split's
    return float(sum(got["values"]) / len(got["values"]))


def _confirm(shortlist: list[dict[str, Any]], base: RunConfig, raw: Any, spec: Any, deadline: float) -> None:
    """Score each configuration of ``shortlist`` again on :data:`CONFIRM_SEEDS`, validation splits the search
    never saw (``confirm``: their mean; None when the time ran out first). The search's best value is the
    least of many noisy ones, so on a small set it flatters its configuration (the winner's curse); fresh
    splits score the shortlist and the default on equal terms."""
    runs = len(shortlist) * len(CONFIRM_SEEDS)
    for i, rec in enumerate(shortlist):
        run_s = max(0.0, deadline - time.monotonic()) / max(1, runs - i * len(CONFIRM_SEEDS))
        got = _score(apply_overrides(base, rec["overrides"]), raw, spec, CONFIRM_SEEDS, deadline,
                     min(run_s, (rec["seconds"] or run_s) / len(SEARCH_SEEDS) * 1.5))
        done = len(got["values"]) == len(CONFIRM_SEEDS)
        rec["confirm"] = float(sum(got["values"]) / len(got["values"])) if done else None
        rec["confirm_values"] = got["values"]
        log.info("confirm trial %d: %s %s on fresh splits (search: %s)", rec["number"], spec.monitor,
                 rec["confirm"], rec["value"])


def tune_run(base: RunConfig, budget: str | float, run_dir: str | Path | None = None, *, raw: Any = None,
             callbacks: tuple | list = (), final_evaluation: bool = True, seed: int = 0,
             on_trial: Callable[[dict[str, Any]], None] | None = None, top_k: int = 1) -> TuneOutcome:
    """Search ``SPACES[task]`` around ``base`` for ``budget`` (see :func:`parse_budget`), then train the
    best configuration on all the training data (into ``run_dir`` when given); ``top_k > 1``: the best
    ``top_k`` configurations, ensembled (``extra["ensemble"]`` its metrics, ``extra["members"]`` the
    other members' outcomes)."""
    import optuna

    if base.task not in SPACES:
        raise ConfigError(f"no search space for task {base.task!r}; tunable: {', '.join(SPACES)}")
    from rnnkit.tasks import resolve_defaults

    spec, total = TASKS[base.task], parse_budget(budget)
    if top_k < 1 or (top_k > 1 and spec.ensemble is None):
        can = ", ".join(n for n in SPACES if TASKS[n].ensemble is not None)
        raise ConfigError(f"top_k={top_k}: give 1 (the best configuration) or, for {can}, more (an ensemble of the "
                          f"best); {base.task} predictions are not averaged")
    start = time.monotonic()
    # the search starts from the data-aware defaults; each trial overrides some of them
    default, raw, _ = resolve_defaults(base, raw)
    base = _search_base(default, raw)
    probe = spec.prepare_data(base) if raw is None else spec.prepare_data(base, raw)  # the data summary
    small = _small(base, probe)
    n_val = base.data.val_size * probe.n_series if base.task == "forecast" else None
    if n_val is not None and n_val < FEW_VALUES:
        log.warning("the search validates on %d values (the last horizon of the training rows): too few to rank "
                    "configurations on: its best is likely noise, and may forecast worse than the one-command "
                    "default", n_val)
    search_end, confirm_end = _shares(total, default)
    deadline = start + (search_end if small else confirm_end) * total
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
    records: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        try:
            return _run_trial(trial, base, raw, spec, deadline, probe, (deadline - start) / MIN_TRIALS)
        except RnnkitError as e:
            trial.set_user_attr("error", str(e))
            log.warning("trial %d failed: %s", trial.number, e)
            raise

    def record(study: Any, trial: Any) -> None:
        rec = {"number": trial.number, "state": trial.state.name, "value": trial.value,
               **({"error": trial.user_attrs["error"]} if "error" in trial.user_attrs else {}),
               "params": trial.params, "default": trial.number == 0,
               "overrides": trial.user_attrs.get("overrides", []),
               "best_step": trial.user_attrs.get("best_step"), "seconds": round(trial.duration.total_seconds(), 1)}
        records.append(rec)
        log.info("trial %d %s: %s %s", trial.number, rec["state"], spec.monitor, rec["value"])
        if on_trial is not None:
            on_trial(rec)
        space = [r for r in records if not r["default"]]
        if len(space) >= MAX_FAILURES and all(r["state"] == "FAIL" for r in space):
            log.warning("the first %d configurations of the search space all failed (the first: %s); the search "
                        "stops", len(space), space[0].get("error"))
            study.stop()  # the data cannot take the space: what finished (the default) is the result
        elif time.monotonic() >= deadline:
            study.stop()

    # a trial whose configuration the data cannot take fails alone (recorded with its reason); the search goes on
    study.optimize(objective, timeout=max(1.0, deadline - time.monotonic()), callbacks=[record], catch=(RnnkitError,))
    done = [r for r in records if r["state"] == "COMPLETE"]
    if not done and any("error" in r for r in records):
        first = next(r for r in records if "error" in r)
        raise ConfigError(f"every trial failed ({len(records)}); the first: {first['error']}")
    if not done:
        raise ConfigError(f"no trial finished within the budget ({total / 60:.1f} min); give a larger --budget")
    ranked = _distinct_best(done, top_k)
    if small:  # the shortlist and the default again, on fresh validation splits: the best there is chosen
        shortlist = _distinct_best(done, max(top_k, SHORTLIST), quiet=True)
        shortlist += [r for r in done if r["default"] and r not in shortlist]
        _confirm(shortlist, base, raw, spec, start + confirm_end * total)
        scored = [r for r in shortlist if r["confirm"] is not None]
        if scored:
            ranked = sorted(scored, key=lambda r: r["confirm"])[:top_k]
    best = ranked[0]
    left = max(0.5, (start + total - time.monotonic()) / 60) / len(ranked)  # the final time, split
    # the final run(s) train as the one-command default trains (its validation split and early stopping, or
    # the fixed steps of its few-examples rule), with the chosen configuration on top
    configs = [apply_overrides(default, r["overrides"] + [f"train.max_minutes={max(left, (r['seconds'] or 0) / 60)}"])
               for r in ranked]
    final = train_run(configs[0], run_dir, raw=raw, callbacks=callbacks, final_evaluation=final_evaluation,
                      tuned=True)
    if run_dir is not None:
        write_trials(Path(run_dir) / "tune", records, best, spec.monitor)
    extra: dict[str, Any] = {}
    if top_k > 1:
        extra = _ensemble(spec, final, ranked, configs, raw, None if run_dir is None else Path(run_dir))
    return TuneOutcome(best, records, final, configs[0], extra)


def _distinct_best(done: list[dict[str, Any]], k: int, quiet: bool = False) -> list[dict[str, Any]]:
    """The ``k`` completed trials with the best validation values whose configurations differ (TPE can
    propose a configuration twice), best first."""
    out: list[dict[str, Any]] = []
    for r in sorted(done, key=lambda r: r["value"]):
        if all(r["overrides"] != o["overrides"] for o in out):
            out.append(r)
    if len(out) < k and not quiet:
        log.warning("top_k=%d: only %d distinct configurations finished; the ensemble has %d", k, len(out), len(out))
    return out[:k]


def _ensemble(spec: Any, final: TrainOutcome, ranked: list[dict[str, Any]], configs: list[RunConfig], raw: Any,
              run_dir: Path | None) -> dict[str, Any]:
    """Train the other members (as the best was) and score the ensemble on the test split."""
    from rnnkit.checkpoint import atomic_write_json

    rel = ["."] + [f"ensemble/member-{rank}" for rank in range(2, len(ranked) + 1)]
    others = [train_run(cfg, None if run_dir is None else run_dir / d, raw=raw, final_evaluation=False,
                        compare_baselines=False) for cfg, d in zip(configs[1:], rel[1:])]
    members = [final, *others]
    summary = {"members": [{"rank": i + 1, "trial": r["number"], "value": r["value"], "confirm": r.get("confirm"),
                            "overrides": r["overrides"], "dir": d} for i, (r, d) in enumerate(zip(ranked, rel))],
               **spec.ensemble([(m.model, m.bundle) for m in members])}
    if run_dir is not None:
        atomic_write_json(run_dir / ENSEMBLE_FILE, summary)
    log.info("top-%d ensemble: %s", len(members), {k: v for k, v in summary.items() if k != "members"})
    return {"ensemble": summary, "members": others}


def ensemble_members(run_dir: str | Path) -> tuple[dict[str, Any] | None, list[Path]]:
    """A run directory's top-k ensemble (``ensemble.json``) and the directories of its members other than
    the run's own model; ``(None, [])`` for a run that is not one."""
    import json

    path = Path(run_dir) / ENSEMBLE_FILE
    if not path.is_file():
        return None, []
    summary = json.loads(path.read_text(encoding="utf-8"))
    return summary, [Path(run_dir) / m["dir"] for m in summary["members"][1:]]


def write_trials(folder: Path, records: list[dict[str, Any]], best: dict[str, Any], monitor: str) -> None:
    """trials.json (every trial) and trials.png (each trial's value, the best so far and, on a small set, the
    shortlist's values on fresh splits)."""
    from rnnkit.checkpoint import atomic_write, atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "trials.json", {"monitor": monitor, "best": best, "trials": records})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    done = [r for r in records if r["state"] == "COMPLETE"]
    ax.scatter([r["number"] for r in done], [r["value"] for r in done], s=14, label="trial")
    best_so_far, lows = math.inf, []
    for r in done:
        best_so_far = min(best_so_far, r["value"])
        lows.append(best_so_far)
    ax.step([r["number"] for r in done], lows, where="post", color="tab:red", label="best so far")
    confirmed = [r for r in records if r.get("confirm") is not None]
    if confirmed:  # a small set's shortlist, scored again on fresh splits (what chose the final configuration)
        ax.scatter([r["number"] for r in confirmed], [r["confirm"] for r in confirmed], marker="D", s=30,
                   facecolors="none", edgecolors="tab:green", label="fresh splits")
    pruned = [r["number"] for r in records if r["state"] == "PRUNED"]
    if pruned:
        ax.scatter(pruned, [max(lows)] * len(pruned), marker="x", color="grey", label="pruned")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"validation {monitor}")
    ax.legend()
    fig.tight_layout()
    atomic_write(folder / "trials.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


__all__ = ["ENSEMBLE_FILE", "SPACES", "TuneOutcome", "ensemble_members", "parse_budget", "tune_run", "write_trials"]
