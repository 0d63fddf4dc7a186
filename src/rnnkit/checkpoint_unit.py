"""A training checkpoint as one atomic unit: weights, trainer state and a manifest, published by one rename.

```
run_dir/
  checkpoint -> checkpoints/step-00000500      the pointer: switching it publishes a checkpoint
  checkpoints/step-00000500/
    last.safetensors    weights at step 500 (what --resume continues from)
    model.safetensors   best weights so far (a hard link to this or an earlier step's file)
    trainer_state.pt    optimizer / schedule / RNG / data position at step 500 (weights_only)
    manifest.json       {"step": 500, "files": {name: {"sha256": ..., "bytes": ...}}}
  last.safetensors  model.safetensors  trainer_state.pt  -> checkpoint/<same name>
```

`publish` writes everything into ``checkpoints/.step-00000500.tmp/`` (each file fsync'd), renames
it to ``step-00000500`` and then replaces the ``checkpoint`` symlink by renaming a fresh symlink onto
it: ``rename(2)`` is atomic, so a reader or a resume sees the whole old checkpoint or the whole new
one, never weights of one step beside the optimizer state of another. The top-level names are
symlinks through the pointer, so `rnnkit.load`, ``rnnkit evaluate`` and every reader of
``run_dir/model.safetensors`` keep working and switch with it. A step directory is never changed
once renamed; the previous one is kept (a reader may still be opening it) and older ones removed.

A kill at any moment leaves at most an unpublished step directory, a step directory the pointer
does not name, or a temp file: `clean_leftovers` removes them when the next run starts (under
the run lock) and logs what it removed. `resume_point` verifies the manifest (every sha256, and
the trainer state's step) before a resume uses the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_model
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.errors import CheckpointError
from rnnkit.faults import fault_point

log = logging.getLogger(__name__)

POINTER = "checkpoint"
STEPS = "checkpoints"
UNIT = (ckpt.LAST_WEIGHTS, ckpt.BEST_WEIGHTS, ckpt.TRAINER_STATE)  # the files linked at the top level


def current_dir(run_dir: str | Path) -> Path | None:
    """The published step directory of a run (None: no checkpoint published yet)."""
    pointer = Path(run_dir) / POINTER
    if not pointer.is_symlink():
        return None
    target = pointer.resolve()
    if not target.is_dir():
        raise CheckpointError(f"{pointer} points to {target}, which is missing: the run directory was damaged")
    return target


def unit_file(run_dir: str | Path, name: str) -> Path:
    """``run_dir/name``; for a checkpoint file whose top-level link a kill left unmade, the file in the
    published step directory."""
    path = Path(run_dir) / name
    if name in UNIT and not path.exists():
        d = current_dir(run_dir)
        if d is not None:
            return d / name
    return path


def saved_step(run_dir: str | Path) -> int | None:
    """The step of the run's published checkpoint, or of a checkpoint written before step directories
    existed; None when the run has none (stopped before its first checkpoint)."""
    try:
        d = current_dir(run_dir)
        if d is not None:
            return ckpt.read_manifest(d)["step"]
        if (Path(run_dir) / ckpt.TRAINER_STATE).is_file():
            return int(ckpt.load_trainer_state(run_dir)["step"])
    except (CheckpointError, KeyError, TypeError, ValueError):
        return None
    return None


def publish(run_dir: str | Path, model: nn.Module, state: dict[str, Any], improved: bool) -> Path:
    """Write the checkpoint of ``state["step"]`` as one unit and switch the pointer to it.

    ``improved``: the current weights are the best so far (else the best weights are those of the
    checkpoint published before, or the current ones when there is none). Returns the step directory."""
    run_dir = Path(run_dir)
    steps = run_dir / STEPS
    steps.mkdir(exist_ok=True)
    prev = current_dir(run_dir)
    name = _free_name(steps, int(state["step"]))
    tmp = steps / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / ckpt.LAST_WEIGHTS))
    _fsync(tmp / ckpt.LAST_WEIGHTS)
    fault_point("ckpt_weights")
    torch.save(state, tmp / ckpt.TRAINER_STATE)
    _fsync(tmp / ckpt.TRAINER_STATE)
    fault_point("ckpt_state")
    files = {n: _entry(tmp / n) for n in (ckpt.LAST_WEIGHTS, ckpt.TRAINER_STATE)}
    if improved or prev is None or not (prev / ckpt.BEST_WEIGHTS).is_file():
        _link_or_copy(tmp / ckpt.LAST_WEIGHTS, tmp / ckpt.BEST_WEIGHTS)
        files[ckpt.BEST_WEIGHTS] = files[ckpt.LAST_WEIGHTS]
    else:
        _link_or_copy(prev / ckpt.BEST_WEIGHTS, tmp / ckpt.BEST_WEIGHTS)
        files[ckpt.BEST_WEIGHTS] = ckpt.read_manifest(prev)["files"][ckpt.BEST_WEIGHTS]
    fault_point("ckpt_best")
    manifest = {"format": 1, "step": int(state["step"]), "files": files}
    (tmp / ckpt.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _fsync(tmp / ckpt.MANIFEST)
    fault_point("ckpt_manifest")
    final = steps / name
    os.rename(tmp, final)
    _fsync(steps)
    fault_point("ckpt_rename")
    _symlink_replace(run_dir / POINTER, f"{STEPS}/{name}")  # the commit
    _fsync(run_dir)
    fault_point("ckpt_pointer")
    _link_unit(run_dir)
    keep = {name, None if prev is None else prev.name}
    for d in steps.iterdir():
        if d.name not in keep:
            _remove(d)
    fault_point("ckpt_done")
    return final


def resume_point(run_dir: str | Path) -> tuple[dict[str, Any], Path]:
    """(trainer state, weights file) of the run's published checkpoint, verified against its manifest:
    every file's size and sha256, and the trainer state's step; a mismatched set is a `CheckpointError`."""
    run_dir = Path(run_dir)
    d = current_dir(run_dir)
    if d is None:
        if (run_dir / ckpt.TRAINER_STATE).is_file() and not (run_dir / ckpt.TRAINER_STATE).is_symlink():
            log.warning("%s: checkpoint from an older rnnkit (no manifest); resuming without verifying it", run_dir)
            return ckpt.load_trainer_state(run_dir), run_dir / ckpt.LAST_WEIGHTS
        raise CheckpointError(f"{run_dir} has no complete checkpoint to resume (the run stopped before its first "
                              "one); start it again without --resume")
    manifest = ckpt.read_manifest(d)
    for name in UNIT:
        if not (d / name).is_file():
            raise CheckpointError(f"{d / name} is missing: an incomplete checkpoint, cannot resume")
        ckpt.verify_file(d / name)
    state = ckpt.load_trainer_state(d)
    if state.get("step") != manifest["step"]:
        raise CheckpointError(f"{d / ckpt.TRAINER_STATE}: step {state.get('step')} but {d / ckpt.MANIFEST} says "
                              f"step {manifest['step']}: a mismatched checkpoint, cannot resume")
    return state, d / ckpt.LAST_WEIGHTS


def clean_leftovers(run_dir: str | Path) -> list[str]:
    """Remove what a killed write left (unpublished step directories: temp ones and any newer than the
    published one; temp files) and restore the top-level links; call with the run lock held. Keeps the
    published checkpoint and the one before it. Returns the names removed (also logged)."""
    run_dir = Path(run_dir)
    cur = current_dir(run_dir)
    removed = []
    steps = run_dir / STEPS
    entries = sorted(steps.iterdir()) if steps.is_dir() else []
    here = None if cur is None else _order(cur.name)
    older = sorted((d for d in entries if here is not None and (_order(d.name) or here) < here),
                   key=lambda d: _order(d.name))
    keep = {d.name for d in [cur, *older[-1:]] if d is not None}
    for d in entries:
        if d.name not in keep:
            _remove(d)
            if d not in older:  # older ones are only a removal a kill cut short; the rest never got published
                removed.append(f"{STEPS}/{d.name}")
    for p in sorted(run_dir.glob(".*.tmp")):
        _remove(p)
        removed.append(p.name)
    if removed:
        log.warning("%s: removed the leftovers of an interrupted write: %s", run_dir, ", ".join(removed))
    if cur is not None:
        _link_unit(run_dir)
    return removed


# --------------------------------------------------------------------------- helpers

def _free_name(steps: Path, step: int) -> str:
    """``step-00000500``, or ``step-00000500.1`` ... when a published one exists (published dirs never change)."""
    name, k = f"step-{step:08d}", 0
    while (steps / name).exists():
        k += 1
        name = f"step-{step:08d}.{k}"
    return name


def _order(name: str) -> tuple[int, int] | None:
    """``step-00000500.1`` -> (500, 1); None for a name that is not a published step directory."""
    stem, _, k = name.removeprefix("step-").partition(".")
    if not name.startswith("step-") or not stem.isdigit() or not (k.isdigit() or k == ""):
        return None
    return int(stem), int(k or 0)


def _entry(path: Path) -> dict[str, Any]:
    return {"sha256": ckpt.sha256_file(path), "bytes": path.stat().st_size}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a file system without hard links
        shutil.copyfile(src, dst)
        _fsync(dst)


def _symlink_replace(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` atomically: a new symlink renamed onto the old name."""
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)


def _link_unit(run_dir: Path) -> None:
    """Top-level ``last.safetensors`` etc. as links through the pointer (replacing older regular files)."""
    for name in UNIT:
        path, target = run_dir / name, f"{POINTER}/{name}"
        if not (path.is_symlink() and os.readlink(path) == target):
            _symlink_replace(path, target)


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk (a directory: its entries, after a rename)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass
    finally:
        os.close(fd)
