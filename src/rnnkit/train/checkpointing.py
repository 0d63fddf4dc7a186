"""The training loop's checkpoints: what `fit()` saves, verifies and restores (exact resume).

`Checkpointing` is the persistence half of `rnnkit.train.fit._Loop` (a mixin: the loop's own state is
its attributes): the trainer state (step, position, carried state, optimizer, schedule, RNG, early-stopping
counters; each rank's own under data parallel), publishing a checkpoint as one unit
(`rnnkit.checkpoint_unit`) only after checking that everything since the last check is finite, resuming
from one, and the run's metrics.jsonl (truncated to the checkpoint on resume, never appended to by a fresh
run). Kept apart from the loop so that each reads on its own.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rnnkit import checkpoint as ckpt
from rnnkit import checkpoint_unit as units
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.train.numerics import NonFiniteWatch
from rnnkit.train.utils import rng_state, set_rng_state

log = logging.getLogger(__name__)


class Checkpointing:
    """Save / restore for the loop (`_Loop`); reads and sets the loop's attributes."""

    def trainer_state(self) -> dict[str, Any]:
        own = {"carried": ckpt.pack_state(self.carried), "rng": rng_state(),
               "acc": {k: v.cpu() for k, v in self.acc.items()}, "n_acc": self.n_acc}
        st = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
              "optimizer": self.opt.state_dict(), "schedule": self.sched.state_dict(), "best": self.best,
              "best_step": self.best_step, "bad_evals": self.bad_evals,
              "elapsed_s": self.elapsed(), "items_total": self.items_total, **own}
        if self.dist is not None:  # each rank carries its own streams' state and RNG (a collective)
            st["world"], st["ranks"] = self.env.world, self.dist.gather(own)
        return st

    def save(self, improved: bool) -> None:
        """Publish a checkpoint (last weights + trainer state + best weights, one unit), after checking
        that the steps since the last check and the weights are finite."""
        self.check_finite()
        bad = ckpt.nonfinite_names(self.model.state_dict())
        if bad:
            self.diverged(f"non-finite weights ({bad[0]}) after step {self.step}")
        if self.run_dir is None:
            if improved:
                self.best_copy = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        if self.saved_step == self.step:
            return  # e.g. Ctrl-C right after an evaluation's checkpoint
        state = self.trainer_state()
        if self.env.is_main:
            if not self.wrote_config:
                ckpt.save_model_dir(self.run_dir, self.model, self.run_config or {}, self.artifacts, weights=None)
                self.wrote_config = True
            # a new run's first checkpoint holds its current weights as the best (never an earlier run's)
            units.publish(self.run_dir, self.model, state, improved or self.saved_step is None)
        if self.dist is not None:
            self.dist.barrier()  # the checkpoint is published before any rank goes on
        self.saved_step = self.step

    def check_finite(self) -> None:
        """Stop the run if a loss or gradient since the last check was NaN/Inf (one host sync)."""
        if self.dist is not None:
            self.dist.any_flags(self.watch.flags)
        problem = self.watch.check(self.step)
        if problem is not None:
            self.diverged(problem)

    def diverged(self, problem: str) -> None:
        where = ""
        if self.run_dir is not None:
            step = units.saved_step(self.run_dir)
            where = (f"; the last good checkpoint (step {step}) is kept in {self.run_dir}" if step is not None
                     else "; no checkpoint had been written yet")
        raise RnnkitError(f"training stopped: {problem}{where}; lower train.lr or set train.grad_clip")

    def start_fresh(self) -> None:
        """A new run in run_dir: remove a killed run's leftovers, and its metrics.jsonl (never appended to)."""
        units.clean_leftovers(self.run_dir)
        path = self.run_dir / ckpt.METRICS_LOG
        if path.exists():
            log.warning("%s: starting a new metrics.jsonl (the one there belonged to an interrupted run)",
                        self.run_dir)
            path.unlink()

    def restore(self) -> None:
        """Continue from run_dir's published checkpoint (verified against its manifest)."""
        if self.run_dir is None:
            raise ConfigError("resume=True needs a run_dir")
        if self.env.is_main:
            units.clean_leftovers(self.run_dir)
        if self.dist is not None:
            self.dist.barrier()
        st, weights = units.resume_point(self.run_dir)
        own = st
        if self.dist is not None or "world" in st:
            if st.get("world", 1) != self.env.world:
                raise ConfigError(f"{self.run_dir} was trained by {st.get('world', 1)} processes; resume it "
                                  f"with as many (this job has {self.env.world})")
            own = st["ranks"][self.env.rank]
        ckpt.load_weights(self.model, weights, self.device)
        self.opt.load_state_dict(st["optimizer"])
        self.sched.load_state_dict(st["schedule"])
        set_rng_state(own["rng"])
        self.step, self.epoch, self.batch_in_epoch = st["step"], st["epoch"], st["batch_in_epoch"]
        self.carried = ckpt.unpack_state(own["carried"], self.device)
        self.best, self.best_step, self.bad_evals = st["best"], st["best_step"], st["bad_evals"]
        self.elapsed_before, self.items_total = st["elapsed_s"], st["items_total"]
        self.acc = {k: v.to(self.device) for k, v in own["acc"].items()}
        self.n_acc = own["n_acc"]
        self.watch = NonFiniteWatch(self.device, self.step)
        self.saved_step = self.step
        if self.env.is_main:
            self._truncate_metrics(self.step)
        log.info("resuming at step %d (epoch %d, batch %d)", self.step, self.epoch, self.batch_in_epoch)

    def _truncate_metrics(self, step: int) -> None:
        """Keep the metrics.jsonl records up to the checkpoint's step (and drop a line torn by a kill)."""
        path = self.run_dir / ckpt.METRICS_LOG
        if path.exists():
            lines = [ln for ln in path.read_text().splitlines() if _step_of(ln) is not None and _step_of(ln) <= step]
            ckpt.atomic_write_bytes(path, "".join(ln + "\n" for ln in lines).encode())

    def write_metrics(self, record: dict[str, Any]) -> None:
        if self.run_dir is not None and self.env.is_main:
            with open(self.run_dir / ckpt.METRICS_LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def save_interrupted(self) -> None:
        """Ctrl-C: checkpoint the current step, unless it is not finite (the last good one then stays)."""
        try:
            self.save(improved=False)
        except RnnkitError as e:
            log.warning("interrupted at step %d; not saved: %s", self.step, e)
            return
        if self.run_dir is not None:
            log.warning("interrupted at step %d; checkpoint saved, continue with resume", self.step)

    def _plot(self) -> None:
        try:
            from rnnkit.evaluation.curves import plot_curves
            plot_curves(self.run_dir / ckpt.METRICS_LOG, self.run_dir / "curves.png")
        except Exception as e:  # noqa: BLE001 - a plot must never lose a finished run
            log.warning("could not draw curves.png: %s", e)


def _step_of(line: str) -> int | None:
    """The step of a metrics.jsonl line; None for a line cut short by a kill."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None
