"""The model directory: save and load a run without pickles, every write atomic.

```
run_dir/
  config.json        resolved RunConfig (+ format_version, + the list of artifact files)
  model.safetensors  best weights          last.safetensors  latest weights (for resume)
  tokenizer.json | scaler.json | labels.json ...   task artifacts (plain JSON dicts)
  trainer_state.pt   optimizer / schedule / RNG / step / carried state / data position
  metrics.jsonl  metrics.json  curves.png
```

Every file is written to a temporary file in the same directory and moved into place with
`os.replace`, which is atomic on POSIX and Windows: a crash mid-write leaves the previous file
intact, never a half-written one. `trainer_state.pt` holds only tensors, numbers, strings, lists
and dicts and is read with `torch.load(weights_only=True)`.

During training the three weight/state files are one unit: `rnnkit.checkpoint_unit` writes them
with a `manifest.json` (step, sha256 of each file) into a step directory and publishes it by one
rename; the top-level names are links into it. `load_weights` checks a file against the manifest
beside it (when there is one) and refuses weights holding NaN or Inf.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_model, save_model
from torch import nn

from rnnkit.errors import CheckpointError
from rnnkit.faults import fault_point

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
BEST_WEIGHTS = "model.safetensors"
LAST_WEIGHTS = "last.safetensors"
TRAINER_STATE = "trainer_state.pt"
MANIFEST = "manifest.json"
METRICS_LOG = "metrics.jsonl"
FINAL_METRICS = "metrics.json"
_RESERVED = {CONFIG_FILE, FINAL_METRICS}
_UMASK = os.umask(0o022)  # read the process umask once (os.umask can only read it by setting it)
os.umask(_UMASK)


# --------------------------------------------------------------------------- atomic writes

def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp_path)` on a temp file next to `path`, then atomically move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; a run's files get the user's umask as any file
        fault_point("atomic_write")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    def _w(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, _w)


def atomic_write_json(path: str | Path, obj: Any) -> str:
    """Write ``obj`` as JSON atomically; returns the sha256 of the bytes written (artifact digests)."""
    data = (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- weights

def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write the model's weights as safetensors (tied weights are stored once), atomically."""
    atomic_write(path, lambda tmp: save_model(model, tmp))


def load_weights(model: nn.Module, path: str | Path, device: str | torch.device = "cpu") -> None:
    """Load safetensors weights into `model` (strict: every parameter must match by name and shape).

    A file inside a checkpoint step directory is first checked against its `manifest.json` (links are
    resolved once, so the file checked is the file read); weights holding NaN or Inf are refused, so a
    diverged model fails here with its file named instead of printing nan downstream."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    real = path.resolve()
    verify_file(real)
    try:
        missing, unexpected = load_model(model, str(real), strict=False, device=str(device))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: corrupt or unreadable safetensors file ({e})") from None
    except RuntimeError as e:  # shape mismatch
        raise CheckpointError(f"{path}: weights do not fit the model built from config.json ({e})") from None
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model (missing: {missing}, "
                              f"unexpected: {unexpected})")
    bad = nonfinite_names(model.state_dict())
    if bad:
        raise CheckpointError(f"{path}: {len(bad)} weight tensor(s) hold NaN or Inf (first: {bad[0]}); the run "
                              "diverged, these weights cannot be used (train again, e.g. with a lower train.lr)")


def nonfinite_names(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors holding NaN or Inf (one pass, one host sync per tensor)."""
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


# --------------------------------------------------------------------------- manifests

def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(step_dir: str | Path) -> dict[str, Any]:
    """The `manifest.json` of a checkpoint step directory: ``{"step": int, "files": {name: {"sha256", "bytes"}}}``."""
    m = read_json(step_dir, MANIFEST)
    if not isinstance(m, dict) or not isinstance(m.get("step"), int) or not isinstance(m.get("files"), dict):
        raise CheckpointError(f"{Path(step_dir) / MANIFEST}: not a checkpoint manifest (needs 'step' and 'files')")
    return m


def verify_file(path: Path) -> None:
    """Check `path` against the `manifest.json` beside it; a file without a manifest passes unchecked."""
    if not (path.parent / MANIFEST).is_file():
        return
    entry = read_manifest(path.parent)["files"].get(path.name)
    if entry is None:
        raise CheckpointError(f"{path}: not listed in {path.parent / MANIFEST}")
    if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
        raise CheckpointError(f"{path}: size or sha256 differs from {path.parent / MANIFEST} "
                              "(changed or damaged after the checkpoint was written)")


# --------------------------------------------------------------------------- model directory

def save_model_dir(run_dir: str | Path, model: nn.Module, config: dict[str, Any],
                   artifacts: dict[str, dict] | None = None, weights: str | None = BEST_WEIGHTS) -> None:
    """Write config.json, the artifact JSON files and the weights (`model.safetensors` by default;
    ``weights=None``: none, as `fit` does, whose weights go into checkpoint step directories)."""
    run_dir = Path(run_dir)
    artifacts = artifacts or {}
    for name in artifacts:
        if not name.endswith(".json") or "/" in name or name in _RESERVED:
            raise ValueError(f"artifact names must be plain *.json file names other than "
                             f"{sorted(_RESERVED)}, got {name!r}")
    # the digests let `read_artifacts` refuse a tokenizer/labels/scaler file that is not the one these
    # weights were trained with (a reordered vocabulary loads fine and generates garbage)
    digests = {name: atomic_write_json(run_dir / name, artifacts[name]) for name in sorted(artifacts)}
    atomic_write_json(run_dir / CONFIG_FILE, {**config, "artifacts": sorted(artifacts), "artifact_sha256": digests})
    if weights is not None:
        save_weights(model, run_dir / weights)


def add_artifacts(run_dir: str | Path, extra: dict[str, dict]) -> None:
    """Add (or replace) artifact JSON files of a written model directory, listed and digested in
    config.json like the others (the files first, then config.json, each atomically)."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    names = sorted(set(cfg.get("artifacts", [])) | set(extra))
    digests = {**(cfg.get("artifact_sha256") or {}),
               **{name: atomic_write_json(run_dir / name, extra[name]) for name in sorted(extra)}}
    atomic_write_json(run_dir / CONFIG_FILE, {**cfg, "artifacts": names, "artifact_sha256": digests})


def read_json(run_dir: str | Path, name: str) -> Any:
    """Read one JSON file of a model directory, with errors naming the file."""
    path = Path(run_dir) / name
    if not Path(run_dir).is_dir():
        raise CheckpointError(f"run directory not found: {run_dir}")
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: not a complete rnnkit model directory")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt JSON ({e})") from None


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The raw `config.json` dict of a model directory (see `rnnkit.tasks.run_config_from_dict`)."""
    cfg = read_json(run_dir, CONFIG_FILE)
    if not isinstance(cfg, dict) or "task" not in cfg:
        raise CheckpointError(f"{Path(run_dir) / CONFIG_FILE}: not an rnnkit config (no 'task' key)")
    return cfg


def read_artifacts(run_dir: str | Path) -> dict[str, dict]:
    """All artifact JSON files listed in config.json, by file name."""
    cfg = read_config(run_dir)
    digests = cfg.get("artifact_sha256") or {}
    for name, digest in digests.items():
        path = Path(run_dir) / name
        if path.is_file() and sha256_file(path) != digest:
            raise CheckpointError(f"{path} is not the file this model was trained with (its sha256 differs from "
                                  f"config.json's artifact_sha256); restore the original: the weights depend on it")
    return {name: read_json(run_dir, name) for name in cfg.get("artifacts", [])}


# --------------------------------------------------------------------------- trainer state

def save_trainer_state(run_dir: str | Path, state: dict[str, Any]) -> None:
    """torch.save a dict of plain data (tensors, numbers, strings, lists, dicts), atomically."""
    atomic_write(Path(run_dir) / TRAINER_STATE, lambda tmp: torch.save(state, tmp))


def load_trainer_state(run_dir: str | Path) -> dict[str, Any]:
    """Load trainer_state.pt with `weights_only=True` (no arbitrary code from the file)."""
    path = Path(run_dir) / TRAINER_STATE
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: nothing to resume (train without --resume)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise CheckpointError(f"{path}: corrupt trainer state ({type(e).__name__}: {e})") from None


def pack_state(state: Any) -> Any:
    """Recurrent state (None, tensor, NamedTuple, tuple/list/dict of those) -> plain data for torch.save."""
    if state is None or isinstance(state, torch.Tensor):
        return state
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        cls = type(state)
        return {"__namedtuple__": f"{cls.__module__}:{cls.__qualname__}",
                "items": [pack_state(v) for v in state]}
    if isinstance(state, (tuple, list)):
        return {"__seq__": "tuple" if isinstance(state, tuple) else "list",
                "items": [pack_state(v) for v in state]}
    if isinstance(state, dict):
        return {"__dict__": {k: pack_state(v) for k, v in state.items()}}
    raise TypeError(f"cannot save recurrent state of type {type(state).__name__}")


def unpack_state(obj: Any, device: str | torch.device = "cpu") -> Any:
    """Inverse of `pack_state`; NamedTuple classes are re-imported only from `rnnkit.*` modules."""
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if "__namedtuple__" in obj:
        module, _, qualname = obj["__namedtuple__"].partition(":")
        items = [unpack_state(v, device) for v in obj["items"]]
        if module.startswith("rnnkit."):
            cls = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
            return cls(*items)
        return tuple(items)
    if "__seq__" in obj:
        items = [unpack_state(v, device) for v in obj["items"]]
        return tuple(items) if obj["__seq__"] == "tuple" else items
    return {k: unpack_state(v, device) for k, v in obj["__dict__"].items()}
