"""Native (C++) CPU loops for the recurrences without a fast torch kernel, built on first use.

Every ``*.cpp`` file of this folder is one part of ONE extension (``TORCH_LIBRARY`` in loops.cpp,
``TORCH_LIBRARY_FRAGMENT`` in the others), exposed as ``torch.ops.rnnkit_native.*``: the forward
and backward time loops of the LSTM family and the minGRU/minLSTM scan (``loops.cpp``), of the GRU,
layer-norm GRU and Elman RNN (``gru.cpp``), and the no-grad single step of a whole stack used for
generation (``step.cpp``), and, not a layer but sharing the build, the 1-NN DTW search of the
classify baselines (``dtw.cpp``); ``common.h`` holds their shared vector helpers. Each step is one ATen
GEMM call plus one fused, vectorised pass over the gate row, instead of ~10 Python-dispatched ops.
At batch 1 that dispatch is most of a
step (see docs/benchmarks.md). It is compiled once per machine and torch version with
``torch.utils.cpp_extension.load`` (needs a C++ compiler; ninja comes with rnnkit) into
``$RNNKIT_CACHE/native/<key>``; when that is not possible the Python loops run instead and
``status()`` says why. ``RNNKIT_NATIVE=0`` turns the native loops off.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch

log = logging.getLogger(__name__)

#: the extension's sources, in a fixed order, and the header they share (the build key hashes all)
SOURCES = sorted(Path(__file__).parent.glob("*.cpp"))
HEADERS = sorted(Path(__file__).parent.glob("*.h"))
_lock = threading.Lock()
_state: dict[str, object] = {"tried": False, "ok": False, "why": "not built yet"}
_enabled = [True]


def _cpu_flags() -> list[str]:
    """Compile for the vector width torch itself dispatches to on this CPU (AVX2 or the default)."""
    cap = torch.backends.cpu.get_cpu_capability()
    if cap in ("AVX2", "AVX512") and platform.machine() in ("x86_64", "AMD64"):
        return ["-mavx2", "-mfma", "-mf16c", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
    return ["-DCPU_CAPABILITY=DEFAULT"]


def _build_dir(flags: list[str]) -> Path:
    from rnnkit.data.archive import cache_dir

    text = b"".join(p.read_bytes() for p in (*SOURCES, *HEADERS))
    key = hashlib.sha256(text + torch.__version__.encode() + " ".join(flags).encode()).hexdigest()
    return cache_dir() / "native" / key[:16]


def load() -> bool:
    """Build (first time) and load the native loops; True when ``torch.ops.rnnkit_native`` is usable."""
    if _state["tried"]:
        return bool(_state["ok"])
    with _lock:
        if _state["tried"]:
            return bool(_state["ok"])
        _state["ok"], _state["why"] = _try_load()
        _state["tried"] = True
        if not _state["ok"]:  # a user's own RNNKIT_NATIVE=0 is no news; anything else is
            level = logging.INFO if _state["why"] == "RNNKIT_NATIVE=0" else logging.WARNING
            log.log(level, "native loops unavailable, using the Python loops: %s", _state["why"])
    return bool(_state["ok"])


def _try_load() -> tuple[bool, str]:
    if os.environ.get("RNNKIT_NATIVE", "1") == "0":
        return False, "RNNKIT_NATIVE=0"
    if os.name == "nt":
        return False, "native loops are built with gcc/clang flags; not on Windows"
    try:
        from torch.utils import cpp_extension

        _ninja_on_path()
        flags = _cpu_flags()
        build = _build_dir(flags)
        build.mkdir(parents=True, exist_ok=True)
        fresh = not any(build.glob("*.so"))
        if fresh:  # a wait of a minute deserves a word on the console (the CLI shows warnings)
            log.warning("compiling rnnkit's native CPU loops into %s (once per machine, about a minute)", build)
        t0 = time.monotonic()
        cpp_extension.load(name="rnnkit_native", sources=[str(p) for p in SOURCES], build_directory=str(build),
                           extra_cflags=["-O3", *flags], is_python_module=False, verbose=False)
        if fresh:
            log.warning("native loops ready after %.0f s", time.monotonic() - t0)
        torch.ops.rnnkit_native.lnlstm_fwd  # noqa: B018  (fails here if registration did not happen)
        return True, f"compiled C++ ({' '.join(flags)})"
    except Exception as e:  # no compiler, no ninja, read-only cache: fall back, say why
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return False, f"{type(e).__name__}: {first}"


def _ninja_on_path() -> None:
    """torch runs ``ninja`` from PATH; a venv's rnnkit started without activating it lacks that."""
    if shutil.which("ninja") is None:
        try:
            import ninja  # the pip package that rnnkit depends on

            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
        except (ImportError, AttributeError):
            pass


def status() -> str:
    """One line: whether the native loops are in use, and why not when they are not."""
    load()
    return f"native C++ loops ({_state['why']})" if _state["ok"] else f"Python loops (native: {_state['why']})"


def available_for(t: torch.Tensor) -> bool:
    """True when the native loops can run on ``t`` (CPU, float32/float64), are enabled and built."""
    return _enabled[-1] and t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) and load()


@contextlib.contextmanager
def enabled(on: bool) -> Iterator[None]:
    """Run the block with the native loops on or off (tests and the benchmark compare both)."""
    _enabled.append(on)
    try:
        yield
    finally:
        _enabled.pop()


__all__ = ["available_for", "enabled", "load", "status"]
