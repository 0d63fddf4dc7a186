"""The model beside its baselines: the verdict the end of training records and the line it says.

Every task's ``baseline_check`` builds its verdict with :func:`verdict`; ``rnnkit.tasks.train_run`` logs
:func:`behind_message` when a baseline is ahead, so a run never finishes quietly behind one.
"""

from __future__ import annotations

import logging
from typing import Any

from rnnkit.config import RunConfig

log = logging.getLogger(__name__)

#: ``data.source`` of a model trained on data given in memory (from Python): nothing to re-read
IN_MEMORY = "(in memory)"


def warn_without_validation(cfg: RunConfig, n_val: int) -> None:
    """Warn when there is nothing to validate on and the run would select by it (early stopping, best
    checkpoint); a fixed-length run without validation (tune's final retrain on all the training data,
    its length chosen on validation before) is what was asked for and only logged."""
    if n_val:
        return
    if not cfg.train.early_stopping_patience and cfg.train.max_steps is not None:
        log.info("no validation examples: a fixed run of %d steps on all the training data", cfg.train.max_steps)
        return
    log.warning("no validation examples (data.val_fraction=%s): the best checkpoint and early stopping "
                "follow the training data", getattr(cfg.data, "val_fraction", None))


#: a forecast validation of fewer values than this cannot rank a search's hundreds of trials: the best of many
#: noisy values is mostly noise (the winner's curse, docs/tune.md). After a forecast search on one, the advice
#: is the baseline, not a longer search. (A small classify / regress set's search averages repeated validation
#: splits and confirms on fresh ones, so its final split's size does not bound what the search saw.) 30: five
#: probe horizons of 6 yearly values
FEW_VALUES = 30


def verdict(metric: str, model_value: float, baselines: dict[str, float], higher_is_better: bool,
            split: str = "validation", n: int | None = None) -> dict[str, Any] | None:
    """The model's ``metric`` beside the best of ``baselines`` ({name: value}) on ``split``:
    ``behind`` is True when a baseline is better (ties count as behind: a model must earn its cost).
    ``n``: how many values the split scores (examples, or forecast points), when the task knows it."""
    if not baselines:
        return None
    pick = max if higher_is_better else min
    best = pick(baselines, key=baselines.get)
    b = baselines[best]
    behind = model_value <= b if higher_is_better else model_value >= b
    return {"metric": metric, "split": split, "model": model_value, "best_baseline": best, "baseline": b,
            "higher_is_better": higher_is_better, "behind": bool(behind), **({} if n is None else {"n": int(n)})}


def behind_message(cfg: RunConfig, v: dict[str, Any]) -> str:
    """One line for a model a baseline beats, with both numbers and what would help."""
    source = getattr(cfg.data, "source", "")
    data = f" --data {source}" if source and source != IN_MEMORY else ""
    verb = "matches" if v["model"] == v["baseline"] else "beats"  # a tie counts as behind (see verdict)
    what = (f"the {v['best_baseline']} baseline {verb} the model on {v['split']}: {v['metric']} {v['baseline']:.4g} "
            f"vs the model's {v['model']:.4g}")
    if v.get("note"):
        what = v["note"]
    if v.get("without_network"):  # a series too short to probe: the network takes no part, a search cannot help
        return (f"{what}. A search would not help: on a series this short the network takes no part in the "
                f"forecast; --set model.combine={v['best_baseline']} forecasts the {v['best_baseline']} baseline's "
                "values")
    if v.get("tuned") and cfg.task == "forecast" and v.get("n", FEW_VALUES) < FEW_VALUES:  # it would fit noise
        return (f"{what}, after the search. A longer search would not help: the validation here is {v['n']} "
                f"values, too few to rank configurations on; the {v['best_baseline']} baseline is the better model "
                f"for this series (--set model.combine={v['best_baseline']} forecasts its values)")
    if v.get("tuned"):  # a search's final run: a longer search is what is left
        return (f"{what}, after the search. Try a longer one: rnnkit tune {cfg.task}{data} --budget 1h "
                "(or fit(..., tune=\"1h\"))")
    return (f"{what}. Try a search: rnnkit tune {cfg.task}{data} --budget 15m "
            "(or fit(..., tune=\"15m\")), or a longer budget (--set train.max_minutes=... / train.epochs=...)")


__all__ = ["FEW_VALUES", "IN_MEMORY", "behind_message", "verdict", "warn_without_validation"]
