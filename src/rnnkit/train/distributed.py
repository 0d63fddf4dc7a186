"""Data-parallel training on PyTorch's own engine: DistributedDataParallel under ``torchrun``.

`fit()` reads the environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``TORCHELASTIC_RESTART_COUNT``); with ``WORLD_SIZE > 1`` it opens a process
group (gloo on CPU, NCCL on CUDA, with a timeout so a hung peer ends the job instead of stalling it),
checks that every rank starts from the same weights, wraps the model in DDP and trains on this
rank's shard of every batch. One process (no torchrun) never touches this module's collectives.

* ``batch_size`` is the global batch: every rank builds the same global batch (same (seed, epoch)
  order) and keeps its contiguous share of the rows, ``B / world`` each. A TBPTT stream batch is
  ``B`` parallel streams, so each rank owns ``B / world`` whole streams and carries its own hidden
  state; for padded batches this is DistributedSampler with equal shards. A shard's loss is weighted
  by its share of the rows, so DDP's gradient average equals the global batch's mean (exact for
  losses that are a mean over rows).
* Train metrics are summed over ranks before they are logged; validation runs on rank 0 and its
  metrics are broadcast, so early stopping and the schedule decide the same everywhere.
* The process group is opened by the first `fit()` of a process (or by the caller) and stays open for
  the process's later fits: re-opening one under the same torchrun store races with the old one's keys.
* Rank 0 alone writes: the run lock, metrics.jsonl, checkpoints (the per-rank carried state and RNG
  gathered into it), curves; the others wait at a barrier around each checkpoint.

``RNNKIT_DIST_TIMEOUT_S`` (default 1800) is the process-group timeout; ``RNNKIT_DDP_FIND_UNUSED=1``
turns on DDP's ``find_unused_parameters`` for a model whose loss leaves some parameters unused.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from rnnkit.errors import ConfigError, RnnkitError

log = logging.getLogger(__name__)

TIMEOUT_ENV = "RNNKIT_DIST_TIMEOUT_S"
FIND_UNUSED_ENV = "RNNKIT_DDP_FIND_UNUSED"


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a ``torchrun`` job (all zeros / ones without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    restart: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_env() -> DistEnv:
    """The torchrun environment of this process."""
    e = os.environ
    try:
        world = int(e.get("WORLD_SIZE", "1"))
        return DistEnv(rank=int(e.get("RANK", "0")), world=world, local_rank=int(e.get("LOCAL_RANK", "0")),
                       local_world=int(e.get("LOCAL_WORLD_SIZE", str(world))),
                       restart=int(e.get("TORCHELASTIC_RESTART_COUNT", "0")))
    except ValueError as err:
        raise ConfigError(f"malformed torchrun environment (RANK / WORLD_SIZE ...): {err}") from None


def is_main() -> bool:
    """True on rank 0, and in a single process: the process that writes, logs and prints."""
    return dist_env().is_main


def auto_resume(run_dir: str | Path | None, resume: bool) -> bool:
    """``resume``, or True for a worker torchrun restarted (``--max-restarts``) when ``run_dir`` holds a
    published checkpoint: the job continues from it instead of refusing the directory."""
    if resume or run_dir is None or dist_env().restart == 0:
        return resume
    from rnnkit import checkpoint_unit as units

    step = units.saved_step(Path(run_dir))
    if step is None:
        return False
    log.warning("torchrun restart %d: resuming %s from its checkpoint at step %d",
                dist_env().restart, run_dir, step)
    return True


def threads_per_process(local_world: int) -> int:
    """Cores of this machine shared by its local processes (at least one each)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, local_world))


def device_for(device: torch.device, env: DistEnv) -> torch.device:
    """A CUDA run uses the GPU of its local rank; a CPU run stays on the CPU."""
    if device.type != "cuda":
        return device
    d = torch.device("cuda", env.local_rank)
    torch.cuda.set_device(d)
    return d


def _attempt_store(env: DistEnv, timeout: datetime.timedelta) -> dist.Store | None:
    """torchrun's agent store, under a prefix of its own for each restart: the workers of a restarted
    attempt would otherwise read the dead attempt's addresses and fail to connect. None: ``env://``."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    base = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), env.world,
                         is_master=False, timeout=timeout)
    return dist.PrefixStore(f"rnnkit/attempt_{env.restart}", base)


class _LossForward(nn.Module):
    """DDP synchronises gradients through ``forward``; rnnkit models train through ``loss``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any, state: Any) -> Any:
        return self.model.loss(batch, state)


class Group:
    """This rank's part in a data-parallel run: the process group, the DDP model and the collectives
    `fit()` needs (every rank calls them at the same points of the loop)."""

    def __init__(self, env: DistEnv, device: torch.device) -> None:
        self.env, self.device = env, device
        if not dist.is_initialized():  # opened once per process and kept: later fits reuse it
            backend = "nccl" if device.type == "cuda" else "gloo"
            timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "1800")))
            store = _attempt_store(env, timeout)
            kw = {} if store is None else {"store": store, "rank": env.rank, "world_size": env.world}
            dist.init_process_group(backend, timeout=timeout, device_id=device if device.type == "cuda" else None,
                                    **kw)
            log.info("process group: %s, rank %d of %d, timeout %s", backend, env.rank, env.world, timeout)
        if dist.get_world_size() != env.world:
            raise ConfigError(f"the process group has {dist.get_world_size()} ranks, WORLD_SIZE says {env.world}")
        # collectives on Python objects travel as tensors on the group's device
        self.obj_device = device if dist.get_backend() == "nccl" else torch.device("cpu")

    # ------------------------------------------------------------------ model
    def check_same_weights(self, model: nn.Module) -> None:
        """Every rank must start from the same weights (seeded before the model was built)."""
        with torch.no_grad():
            s = torch.zeros(2, dtype=torch.float64, device=self.device)
            for p in model.state_dict().values():
                if p.is_floating_point():
                    s[0] += p.double().sum()
                    s[1] += p.double().square().sum()
        hi, lo = s.clone(), -s
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        dist.all_reduce(lo, op=dist.ReduceOp.MAX)
        if not torch.equal(hi, -lo):
            raise RnnkitError("the ranks built different initial weights: seed every rank the same "
                              "(train.seed) before building the model")

    def wrap(self, model: nn.Module) -> nn.Module:
        """The DDP module whose ``forward(batch, state)`` is ``model.loss(batch, state)``."""
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        # a model with parameters its loss leaves unused needs DDP's (slower) search for them
        unused = os.environ.get(FIND_UNUSED_ENV, "0") not in ("", "0")
        return DDP(_LossForward(model), device_ids=ids, find_unused_parameters=unused)

    def broadcast_weights(self, model: nn.Module) -> None:
        """Rank 0's weights on every rank (it read the best checkpoint; the others may not see the disk)."""
        for t in model.state_dict().values():
            dist.broadcast(t, src=0)

    # ------------------------------------------------------------------ values
    def sum_metrics(self, acc: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Metric sums of every rank, in one all-reduce. ``count`` and ``*_sum`` add up over ranks; the
        per-step means (loss, grad_norm, ...) are averaged over ranks."""
        if not acc:
            return acc
        keys = sorted(acc)
        flat = torch.stack([acc[k].detach().to(self.device, torch.float64).reshape(()) for k in keys])
        dist.all_reduce(flat)
        out = {}
        for k, v in zip(keys, flat):
            total = k == "count" or k.endswith("_sum")
            out[k] = (v if total else v / self.env.world).to(acc[k].dtype)
        return out

    def agree(self, elapsed: float, *flags: bool) -> tuple[float, list[bool]]:
        """The largest elapsed time and each flag set on any rank: every rank stops, and follows the
        clock-driven schedule, at the same step."""
        t = torch.tensor([elapsed, *map(float, flags)], dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return float(t[0]), [bool(v) for v in t[1:].tolist()]

    def any_flags(self, flags: torch.Tensor) -> None:
        """OR a boolean flag tensor (non-finite loss / gradients) over the ranks, in place."""
        f = flags.to(torch.uint8)
        dist.all_reduce(f, op=dist.ReduceOp.MAX)
        flags.copy_(f.bool())

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order, on every rank."""
        out: list[Any] = [None] * self.env.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.obj_device)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()


# --------------------------------------------------------------------------- data

def _leaves(batch: Any) -> Iterator[torch.Tensor]:
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, (list, tuple)):
        for b in batch:
            yield from _leaves(b)
    elif isinstance(batch, dict):
        for b in batch.values():
            yield from _leaves(b)


def batch_rows(batch: Any) -> int:
    """The batch size: the first dimension of the batch's first tensor with one."""
    for t in _leaves(batch):
        if t.dim():
            return int(t.shape[0])
    raise RnnkitError("a training batch holds no tensor with a batch dimension; cannot shard it")


def take_rows(batch: Any, lo: int, hi: int, n: int) -> Any:
    """Rows ``lo:hi`` of every tensor whose first dimension is the batch's ``n`` rows."""
    if isinstance(batch, torch.Tensor):
        return batch[lo:hi] if batch.dim() and batch.shape[0] == n else batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(take_rows(b, lo, hi, n) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(take_rows(b, lo, hi, n) for b in batch)
    if isinstance(batch, dict):
        return {k: take_rows(v, lo, hi, n) for k, v in batch.items()}
    return batch


class ShardedData:
    """This rank's share of `fit()`'s training data: yields ``(rows of the global batch, weight)``.

    Rank r keeps rows ``n*r//world .. n*(r+1)//world`` of every global batch: contiguous streams for
    TBPTT (the same rows every window, so the carried state stays this rank's own), equal shards of
    the (seed, epoch)-ordered padded batches otherwise. ``weight`` (rows kept x world / n) makes the
    gradient average over ranks the global batch's mean when the shards are unequal; a batch with
    fewer rows than ranks (an epoch's short last batch) is skipped by every rank. Data that is
    ``rank_aware`` (`rnnkit.data.tokenfile.TokenStreams`) yields this rank's rows already."""

    def __init__(self, data: Any, env: DistEnv) -> None:
        self.data, self.env = data, env
        self.carries_state = data.carries_state

    def __len__(self) -> int:
        return len(self.data)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Any, float]]:
        if getattr(self.data, "rank_aware", False):  # it reads this rank's rows itself (a token file)
            for b in self.data.epoch(epoch, start):
                yield b, 1.0
            return
        r, w = self.env.rank, self.env.world
        kept = (b for b in self.data.epoch(epoch, 0) if batch_rows(b) >= w)
        for b in islice(kept, start, None):
            n = batch_rows(b)
            lo, hi = n * r // w, n * (r + 1) // w
            yield take_rows(b, lo, hi, n), (hi - lo) * w / n


def join(env: DistEnv, cfg: Any, model: nn.Module, data: Any,
         device: torch.device) -> tuple[torch.device, Group, Any, ShardedData]:
    """A rank joins a data-parallel run (``cfg``: the TrainConfig): its device and threads, the process group,
    the identical-start check, the DDP-wrapped loss, the data shard, and an RNG stream of its own (dropout
    masks differ by rank). Returns (device, group, loss function, sharded data)."""
    from rnnkit.train.utils import seed_everything

    device = device_for(device, env)
    model.to(device)
    if not cfg.num_threads and device.type == "cpu":
        torch.set_num_threads(threads_per_process(env.local_world))
    group = Group(env, device)
    group.check_same_weights(model)
    loss_fn = group.wrap(model)
    seed_everything(cfg.seed + 1_000_003 * env.rank)
    log.info("data parallel: rank %d of %d on %s, %d threads, batch %d per rank (global %d)", env.rank,
             env.world, device, torch.get_num_threads(), cfg.batch_size // env.world, cfg.batch_size)
    return device, group, loss_fn, ShardedData(data, env)


__all__ = ["DistEnv", "Group", "ShardedData", "auto_resume", "batch_rows", "device_for", "dist_env", "is_main", "join",
           "take_rows", "threads_per_process"]
