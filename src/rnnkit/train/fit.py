"""`fit()`: the only training loop in rnnkit.

It knows nothing task-specific. The contracts it relies on:

* model: `loss(batch, state) -> (loss, state, metrics)`; `metrics` is a dict of tensors summed
  over steps (no `.item()` in the hot loop). Keys ending in `_sum` are reported divided by
  `count` (e.g. `nll_sum`/`count` -> `nll`); `count` also gives throughput (`items_per_s`).
* train data (`TrainData` below): `epoch(epoch, start)` yields the batches of one epoch,
  deterministically for a given epoch (its own generator seeded by seed and epoch, never the
  global RNG), skipping the first `start` batches; `carries_state` says whether the recurrent
  state flows from one batch into the next (truncated BPTT over a stream: the state is detached
  between windows and reset at each epoch start) or each batch starts fresh.
* evaluate: `evaluate(model) -> dict[str, float]` containing the `monitor` key (lower is better),
  run under `torch.no_grad()` in eval mode every `eval_every` steps (or at the end of every epoch
  when `eval_every` is None) and at the end.

The run ends at the first of `max_steps`, `epochs` (at an epoch's last batch: the data is read
with one batch of look-ahead, so the loop knows which batch ends an epoch), `max_minutes`, early
stopping, or a callback's `stop_training`.

Exact resume: the trainer state holds the step, epoch and batch position, the carried state, the
optimizer and schedule states, all RNG states and the early-stopping counters, so a stopped run
continued with `resume=True` reaches the same weights as an uninterrupted one (the loop's
persistence half: `rnnkit.train.checkpointing`).

Reliability: a run directory is locked for the run (`rnnkit.runlock`); each checkpoint is one unit
published by one rename and verified on resume (`rnnkit.checkpoint_unit`); NaN/Inf in the loss or
gradients is flagged on the device every step and checked at every log line, evaluation and
checkpoint (`rnnkit.train.numerics`), so nothing non-finite is saved or marked best.

Data parallel: under ``torchrun`` with ``WORLD_SIZE > 1`` the same loop runs on every rank with DDP
(`rnnkit.train.distributed`: sharded batches, summed metrics, rank 0 writes); one process never
takes that path, so single-process training is unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.errors import RnnkitError
from rnnkit.faults import fault_point
from rnnkit.runlock import run_lock
from rnnkit.train import distributed
from rnnkit.train.checkpointing import Checkpointing
from rnnkit.train.numerics import NonFiniteWatch
from rnnkit.train.optim import LRSchedule, build_optimizer
from rnnkit.train.progress import Fanout, FitResult, ProgressReporter
from rnnkit.train.utils import (
    SigintFlag,
    detach_state,
    penalty_fn,
    resolve_device,
    seed_everything,
    summarise,
    to_device,
)

log = logging.getLogger(__name__)


class TrainData(Protocol):
    """What `fit()` iterates: see the module docstring."""

    carries_state: bool

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]: ...


def fit(model: nn.Module, train_data: TrainData, cfg: TrainConfig, *,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None, monitor: str = "val_loss",
        run_dir: str | Path | None = None, run_config: dict[str, Any] | None = None,
        artifacts: dict[str, dict] | None = None, resume: bool = False,
        progress: ProgressReporter | None = None,
        callbacks: Sequence[Callable[[int], None] | ProgressReporter] = (), local: bool = False) -> FitResult:
    """Train `model` on `train_data` under `cfg`; checkpoints go to `run_dir` when given.

    `run_config` (the RunConfig dict) and `artifacts` (e.g. {"tokenizer.json": {...}}) are written
    with the best weights so the directory is loadable on its own. `callbacks` are
    `ProgressReporter`s (`rnnkit.callbacks.Callback`: every event, and `stop_training`) or plain
    functions called with the step number after every optimizer step. At the end the model holds
    the best weights. Ctrl-C (or a KeyboardInterrupt from a callback) saves a resumable
    checkpoint (unless the steps since the last check went non-finite), then re-raises. A run
    directory is locked while the run writes to it; a fresh run removes the leftovers of a killed
    one there (temp files, unpublished checkpoints) and starts a new metrics.jsonl. ``local``: train in
    this process alone even under torchrun (rank 0's own work after a data-parallel run, such as the
    forecast's probe retrainings).
    """
    reporters = [progress or ProgressReporter(), *(c for c in callbacks if isinstance(c, ProgressReporter))]
    step_fns = [c for c in callbacks if not isinstance(c, ProgressReporter)]
    env = distributed.DistEnv() if local else distributed.dist_env()
    resume = resume if local else distributed.auto_resume(run_dir, resume)
    locked = run_dir is not None and env.is_main  # rank 0 alone writes into run_dir
    with run_lock(run_dir) if locked else contextlib.nullcontext():
        loop = _Loop(model, train_data, cfg, evaluate, monitor, run_dir, run_config, artifacts,
                     reporters[0] if len(reporters) == 1 else Fanout(reporters), step_fns, env)
        try:
            if resume:
                loop.restore()
            elif run_dir is not None and env.is_main:
                loop.start_fresh()
            return loop.run()
        finally:
            loop.loss_fn = model.loss  # drop the DDP wrapper (the process group stays for a next fit)


def total_steps(cfg: TrainConfig, data: Any) -> int | None:
    """The run's step budget: ``max_steps``, or ``epochs`` x batches per epoch (``len(data)``) when
    that is smaller; None for a budget in minutes only (the schedule then follows the clock)."""
    limits = [] if cfg.max_steps is None else [cfg.max_steps]
    if cfg.epochs is not None:
        try:
            limits.append(cfg.epochs * len(data))
        except TypeError:  # data without a length: epochs still end the run, the schedule can't see it
            log.warning("the training data has no len(); the lr schedule cannot see the epoch budget")
    return min(limits) if limits else None


class _Loop(Checkpointing):
    """State of one training run; `run()` is the loop, `save()`/`restore()` make it resumable."""

    def __init__(self, model, data, cfg, evaluate, monitor, run_dir, run_config, artifacts,
                 progress, callbacks, env: distributed.DistEnv | None = None) -> None:
        self.model, self.data, self.cfg = model, data, cfg
        self.env = env or distributed.DistEnv()
        self.evaluate, self.monitor = evaluate, monitor
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.run_config, self.artifacts = run_config, artifacts or {}
        self.progress, self.callbacks = progress, callbacks
        self.device = resolve_device(cfg.device)
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        seed_everything(cfg.seed)
        model.to(self.device)
        self.dist: distributed.Group | None = None
        self.loss_fn = model.loss
        self.shared_elapsed: float | None = None  # data parallel: the clock every rank agreed on
        if self.env.active:  # data parallel: this rank's device, process group, DDP model and data shard
            self.device, self.dist, self.loss_fn, self.data = distributed.join(self.env, cfg, model, data, self.device)
        self.opt = build_optimizer([p for p in model.parameters() if p.requires_grad], cfg)
        self.total_steps = total_steps(cfg, data)
        self.sched = LRSchedule(self.opt, cfg, self.total_steps)
        self.penalty = penalty_fn(cfg)
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.carried: Any = None
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_evals = 0
        self.elapsed_before = 0.0
        self.items_total = 0.0
        self.best_copy: dict[str, torch.Tensor] | None = None
        self.last_train: dict[str, float] = {}
        self.last_eval: dict[str, float] = {}
        self.acc: dict[str, torch.Tensor] = {}  # metric sums since the last log line
        self.n_acc = 0
        self.watch = NonFiniteWatch(self.device)
        self.saved_step: int | None = None  # the step of the checkpoint this run published last
        self.wrote_config = False
        if self.run_dir is not None and self.env.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ loop
    def elapsed(self) -> float:
        if self.shared_elapsed is not None:
            return self.shared_elapsed
        return self.elapsed_before + (time.monotonic() - self.t0)

    def time_fraction(self) -> float:
        """Fraction of the max_minutes budget spent (0 without a budget, or when the budget is only a
        hard stop: ``schedule_by_time=False``); drives the cosine too."""
        cfg = self.cfg
        return self.elapsed() / (cfg.max_minutes * 60) if cfg.max_minutes and cfg.schedule_by_time else 0.0

    def batches(self) -> Iterator[tuple[Any, bool]]:
        """Endless ``(batch, last_of_epoch)`` from the saved position on; one batch of look-ahead
        tells which batch ends an epoch (batches come from each epoch's own generator, so reading
        ahead changes nothing else)."""
        end = object()
        while True:
            it = iter(self.data.epoch(self.epoch, self.batch_in_epoch))
            cur = next(it, end)
            if cur is end:
                if self.batch_in_epoch == 0:
                    raise RnnkitError("the training data produced no batches (too little data for one batch?)")
                self.end_epoch()  # resumed exactly at an epoch's end (a checkpoint from an older rnnkit)
                continue
            while cur is not end:
                nxt = next(it, end)
                yield cur, nxt is end
                cur = nxt

    def end_epoch(self) -> None:
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        self.carried = None  # a new epoch restarts the streams

    def train_step(self, batch: Any, last_of_epoch: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        self.sched.step(self.step, self.time_fraction())
        state = self.carried if self.data.carries_state else None
        weight = 1.0
        if self.dist is not None:
            batch, weight = batch  # this rank's rows of the global batch, and their share
        loss, state, metrics = self.loss_fn(to_device(batch, self.device), state)
        total = loss if weight == 1.0 else loss * weight  # DDP averages: unequal shards weighted by rows
        total = total + self.penalty(self.model) if self.penalty is not None else total
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        clip = self.cfg.grad_clip  # the global norm before clipping is logged (rnnkit explain gradients)
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = (torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip) if clip
                else torch.nn.utils.get_total_norm(grads)).detach()  # on the device: no sync
        metrics = {**metrics, "grad_norm": norm, "clipped": (norm > clip).float() if clip else norm.new_zeros(())}
        self.watch.update(total, self.model)
        self.opt.step()
        self.carried = detach_state(state) if self.data.carries_state else None
        self.step += 1
        self.batch_in_epoch += 1
        if last_of_epoch:
            self.end_epoch()
        return loss.detach(), metrics

    def limit_reached(self, last_of_epoch: bool, max_s: float | None) -> str | None:
        """Which budget the step just taken exhausted, if any."""
        cfg = self.cfg
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "max_steps"
        if cfg.epochs is not None and last_of_epoch and self.epoch >= cfg.epochs:
            return "epochs"
        if max_s is not None and self.elapsed() >= max_s:
            return "max_minutes"
        return None

    def run(self) -> FitResult:
        cfg, model = self.cfg, self.model
        self.t0 = time.monotonic()
        if self.dist is not None:
            self.shared_elapsed = self.elapsed_before
        max_s = cfg.max_minutes * 60 if cfg.max_minutes is not None else None
        self.progress.start(start_step=self.step, max_steps=self.total_steps, max_seconds=max_s,
                            elapsed_s=self.elapsed_before)
        t_log, stop = time.monotonic(), self.done_already()
        if stop is not None:
            return self.finish(stop)
        model.train()
        with SigintFlag() as sigint:
            try:
                for batch, last_of_epoch in self.batches():
                    loss, metrics = self.train_step(batch, last_of_epoch)
                    fault_point("step")
                    self.accumulate(loss, metrics)
                    for cb in self.callbacks:
                        cb(self.step)
                    self.progress.step(self.step, self.elapsed())
                    stop = self.limit_reached(last_of_epoch, max_s)
                    due = (self.step % cfg.eval_every == 0) if cfg.eval_every else last_of_epoch
                    if self.step % cfg.log_every == 0 or due or stop:
                        self.log_train(time.monotonic() - t_log)
                        t_log = time.monotonic()
                    if (due or stop) and self.validate():
                        stop = "early_stopping"
                    if last_of_epoch:
                        self.progress.epoch_end(self.epoch - 1, self.step)
                    stop_asked, interrupted = self.progress.stop_training, sigint.hit
                    if self.dist is not None:  # every rank stops, and reads the clock, alike (next step's)
                        self.shared_elapsed = None
                        self.shared_elapsed, (stop_asked, interrupted) = self.dist.agree(
                            self.elapsed(), stop_asked, interrupted)
                    if stop is None and stop_asked:
                        stop = "callback"
                        if not due:  # the run ends here: validate and checkpoint it
                            self.validate()
                    if stop is not None:
                        break
                    if interrupted:
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                self.save_interrupted()
                self.progress.finish(self.result("interrupted"))
                raise
        return self.finish(stop)

    def done_already(self) -> str | None:
        """The budget a resumed run had already reached (resuming a finished run trains no extra step)."""
        cfg = self.cfg
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return "max_steps"
        if cfg.epochs is not None and self.epoch >= cfg.epochs and self.batch_in_epoch == 0:
            return "epochs"
        return None

    def accumulate(self, loss: torch.Tensor, metrics: dict[str, torch.Tensor]) -> None:
        """Sum metric tensors on the device; no host sync until the next log line."""
        acc = self.acc
        acc["__loss"] = acc["__loss"] + loss if "__loss" in acc else loss
        for k, v in metrics.items():
            v = v.detach()
            acc[k] = acc[k] + v if k in acc else v
        self.n_acc += 1

    def log_train(self, seconds: float) -> None:
        self.check_finite()
        m = summarise(self.acc if self.dist is None else self.dist.sum_metrics(self.acc), self.n_acc)
        self.acc, self.n_acc = {}, 0
        count = m.pop("count", None)
        if count is not None:
            self.items_total += count
            m["items_per_s"] = count / max(seconds, 1e-9)
        m["lr"] = self.opt.param_groups[0]["lr"]
        self.last_train = m
        self.write_metrics({"step": self.step, "kind": "train", "elapsed_s": round(self.elapsed(), 3), **m})
        self.progress.log(self.step, m)

    def validate(self) -> bool:
        """Evaluate, checkpoint, and return True when early stopping says stop."""
        improved = True
        self.check_finite()
        if self.evaluate is not None:
            metrics = self._evaluate()
            if self.monitor not in metrics:
                raise RnnkitError(f"evaluate() returned {sorted(metrics)}, not the monitored "
                                  f"{self.monitor!r}")
            value = metrics[self.monitor]
            if not math.isfinite(value):  # never recorded, saved or marked best
                self.diverged(f"validation {self.monitor} = {value} at step {self.step}")
            improved = self.best is None or value < self.best
            if improved:
                self.best, self.best_step, self.bad_evals = value, self.step, 0
            else:
                self.bad_evals += 1
            self.sched.observe(value)
            self.last_eval = metrics
            self.write_metrics({"step": self.step, "kind": "eval", "elapsed_s": round(self.elapsed(), 3),
                                **metrics})
            self.progress.evaluated(self.step, metrics, improved)
        self.save(improved)
        patience = self.cfg.early_stopping_patience
        return bool(patience) and self.bad_evals >= patience  # None or 0: no early stopping

    def _evaluate(self) -> dict[str, float]:
        """The validation metrics; data parallel: rank 0's, broadcast (the weights are the same everywhere)."""
        metrics: Any = None
        if self.env.is_main:
            self.model.eval()
            try:
                with torch.no_grad():
                    metrics = {k: float(v) for k, v in self.evaluate(self.model).items()}
            except Exception as e:
                if self.dist is not None:  # tell the waiting ranks, then fail here too
                    self.dist.broadcast(f"{type(e).__name__}: {e}")
                raise
            finally:
                self.model.train()
        if self.dist is not None:
            metrics = self.dist.broadcast(metrics)
            if isinstance(metrics, str):
                raise RnnkitError(f"validation failed on rank 0: {metrics}")
        return metrics

    def result(self, stop: str) -> FitResult:
        return FitResult(steps=self.step, best_step=self.best_step, best_value=self.best,
                         monitor=self.monitor, stop_reason=stop, elapsed_s=self.elapsed(),
                         items_per_s=self.items_total / max(self.elapsed(), 1e-9),
                         last_train=self.last_train, last_eval=self.last_eval)

    def finish(self, stop: str) -> FitResult:
        result = self.result(stop)
        if self.run_dir is not None:  # every stop checkpointed this step already (validate -> save)
            if self.env.is_main:
                ckpt.load_weights(self.model, self.run_dir / ckpt.BEST_WEIGHTS, self.device)
                self._plot()
            if self.dist is not None:  # the other ranks may not see rank 0's disk
                self.dist.broadcast_weights(self.model)
        elif self.best_copy is not None:
            self.model.load_state_dict(self.best_copy)
        log.info("training stopped (%s) at step %d after %.1f s", stop, self.step, result.elapsed_s)
        self.progress.finish(result)
        return result

