"""Helpers for the training loop: devices, state detaching, RNG capture, Ctrl-C handling."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a batch (tensor, or tuple/list/dict/NamedTuple of them) to `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def detach_state(state: Any) -> Any:
    """Cut the graph between TBPTT windows, keeping the values."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (list, tuple)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    return state


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    out = {"torch": torch.get_rng_state(), "python": list(map(_listify, random.getstate())),
           "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])]}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def _listify(x: Any) -> Any:
    return [_listify(v) for v in x] if isinstance(x, tuple) else x


def set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    py = s["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = s["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), int(n[2]), int(n[3]), n[4]))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def penalty_fn(cfg: TrainConfig) -> Callable[[nn.Module], torch.Tensor] | None:
    """L1/L2 weight penalty added to the loss; provided by `rnnkit.layers.regularize.penalty`."""
    if cfg.l1 == 0 and cfg.l2 == 0:
        return None
    try:
        from rnnkit.layers.regularize import penalty
    except ImportError as e:
        raise ConfigError(f"train.l1/train.l2 need rnnkit.layers.regularize.penalty ({e})") from None
    return lambda m: penalty(m, l1=cfg.l1, l2=cfg.l2)


class SigintFlag:
    """First Ctrl-C sets a flag that the loop checks between steps (consistent checkpoint);
    a second Ctrl-C interrupts immediately."""

    def __init__(self) -> None:
        self.hit = False
        self._old: Any = None

    def __enter__(self) -> SigintFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.hit:
            raise KeyboardInterrupt
        self.hit = True

    def __exit__(self, *exc: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def summarise(acc: dict[str, torch.Tensor], n_steps: int) -> dict[str, float]:
    vals = {k: float(v) for k, v in acc.items()}  # one sync per log interval
    out = {"loss": vals.pop("__loss") / max(1, n_steps)}
    count = vals.get("count")
    for k, v in vals.items():
        if k.endswith("_sum") and count:
            out[k[:-4]] = v / count
        elif k != "count":
            out[k] = v / max(1, n_steps)
    if count is not None:
        out["count"] = count
    return out
