"""Optimisers and learning-rate schedules, chosen by name from `TrainConfig`.

The schedule is a small explicit class rather than a chain of torch schedulers so its whole state
is three numbers (exact resume) and the rule reads in one place:

    lr(step) = base_lr * warmup(step) * shape(step) * plateau_scale
    warmup   = min(1, (step + 1) / warmup_steps)
    shape    = cosine from 1 down to min_lr_ratio over [warmup_steps, total_steps]   ("cosine")
               1                                                                  ("none", "plateau")

With a time budget (`max_minutes`) the cosine follows whichever runs out first, steps or time
(progress = max(step fraction, time fraction)), so a run cut by the clock still ends at a low lr.
Such runs are not bit-reproducible anyway (where the clock stops depends on the machine);
step-budgeted runs are. ``total_steps`` is the run's step budget: ``max_steps``, or ``epochs`` times
the batches per epoch when that comes first (``fit()`` works it out); without one (a time-only
budget) the cosine follows the clock alone.
    plateau_scale *= plateau_factor after `plateau_patience` evaluations without improvement
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from rnnkit.config import TrainConfig


def _adam(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def _adamw(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def _sgd(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


OPTIMIZERS: dict[str, Callable[[Iterable, TrainConfig], torch.optim.Optimizer]] = {
    "adam": _adam,
    "adamw": _adamw,
    "sgd": _sgd,
}


def build_optimizer(params: Iterable, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimiser named by `cfg.optimizer` over `params`."""
    if cfg.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[cfg.optimizer](params, cfg)


class LRSchedule:
    """Warm-up, then cosine decay or reduce-on-plateau; call `step(step)` before each update."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig, total_steps: int | None = None) -> None:
        self.optimizer = optimizer
        self.cfg = cfg
        self.total_steps = cfg.max_steps if total_steps is None else total_steps
        self.plateau_scale = 1.0
        self.best: float | None = None
        self.bad_evals = 0

    def lr_at(self, step: int, time_fraction: float = 0.0) -> float:
        cfg = self.cfg
        lr = cfg.lr * self.plateau_scale
        if cfg.warmup_steps > 0:
            lr *= min(1.0, (step + 1) / cfg.warmup_steps)
        if cfg.schedule == "cosine":
            by_steps = 0.0
            if self.total_steps is not None:
                by_steps = (step - cfg.warmup_steps) / max(1, self.total_steps - cfg.warmup_steps)
            progress = min(1.0, max(0.0, by_steps, time_fraction))
            shape = 0.5 * (1.0 + math.cos(math.pi * progress))
            lr *= cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * shape
        return lr

    def step(self, step: int, time_fraction: float = 0.0) -> float:
        lr = self.lr_at(step, time_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def observe(self, value: float) -> None:
        """Report a validation value (lower is better); cuts the lr on a plateau."""
        if self.cfg.schedule != "plateau":
            return
        if self.best is None or value < self.best:
            self.best, self.bad_evals = value, 0
            return
        self.bad_evals += 1
        if self.bad_evals > self.cfg.plateau_patience - 1:
            self.plateau_scale *= self.cfg.plateau_factor
            self.bad_evals = 0

    def state_dict(self) -> dict:
        return {"plateau_scale": self.plateau_scale, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, d: dict) -> None:
        self.plateau_scale = float(d["plateau_scale"])
        self.best = d["best"]
        self.bad_evals = int(d["bad_evals"])
