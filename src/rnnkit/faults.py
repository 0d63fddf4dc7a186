"""Deterministic fault injection, for the reliability tests (``tests/test_faults.py``).

``RNNKIT_FAULT=stage:count`` makes the process kill itself with SIGKILL the ``count``-th time (1 when
omitted) it reaches ``fault_point(stage)``; unset, a fault point is one dictionary lookup. SIGKILL
rather than an exception: nothing runs after it (no ``finally``, no ``atexit``, no flush), exactly
as when the machine or the OOM killer ends a run. The stages:

==================  ==================================================================
``atomic_write``    a temp file written, not yet moved into place (config.json, ...)
``ckpt_weights``    checkpoint: ``last.safetensors`` written into the unpublished step dir
``ckpt_state``      checkpoint: ``trainer_state.pt`` written
``ckpt_best``       checkpoint: ``model.safetensors`` (best weights) linked or copied
``ckpt_manifest``   checkpoint: ``manifest.json`` written, step dir not yet renamed
``ckpt_rename``     checkpoint: step dir renamed, the ``checkpoint`` pointer not yet switched
``ckpt_pointer``    checkpoint: pointer switched (published), older step dirs not yet removed
``ckpt_done``       checkpoint: older step dirs removed
``step``            after an optimizer step, outside any write
==================  ==================================================================
"""

from __future__ import annotations

import os
import signal

ENV = "RNNKIT_FAULT"
_seen: dict[str, int] = {}


def fault_point(stage: str) -> None:
    """SIGKILL this process if ``RNNKIT_FAULT`` names ``stage`` and this is its ``count``-th visit."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != stage:
        return
    _seen[stage] = _seen.get(stage, 0) + 1
    if _seen[stage] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
