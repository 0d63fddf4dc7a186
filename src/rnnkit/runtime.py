"""Process-level settings the rnnkit CLI applies at start-up (library code never changes them).

``tune_cpu_allocator``: glibc returns every freed block above its mmap threshold (dynamic, at most
32 MiB) straight to the OS and trims the heap top above 128 KiB-ish, so a training step that
allocates and frees ~250 MB of activation buffers (a layer-norm LSTM at B=64, T=100, H=256) pays a
page fault and a page zeroing for every 4 KiB of them again on every step. Keeping such blocks in
the heap (mmap threshold fixed at its 32 MiB maximum, trim threshold 1 GiB) removed that cost:
measured side by side (scripts/bench_ln_side_by_side.py, docs/benchmarks.md) nn.LSTM fwd+bwd got
faster too, the layer-norm LSTM about 1.5x. The price is that up to 1 GiB of freed memory stays
with the process instead of going back to the OS, as with torch's CUDA caching allocator.
Blocks above the 32 MiB threshold (a GRU's saved gates at B=256, T=50, H=256 are 52 MB) are still
mmapped afresh on every call; with 4 KiB pages that is a fault and a zeroing per page. So the CLI
also asks torch's CPU allocator for transparent huge pages on blocks of 2 MiB and more
(``THP_MEM_ALLOC_ENABLE=1``, read by c10 at torch's first allocation, so it is set only while
torch is not loaded yet, and never over a user's own value): measured in separate processes
(docs/benchmarks.md, "Native GRU and RNN loops"), the native GRU forward at that shape took 33.6
instead of 47.3 ms, nn.GRU's 33.2 instead of 41.3, the input-projection GEMM 11.2 instead of 17.6.
``RNNKIT_MALLOC_TUNING=0`` leaves the allocator alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1 << 30
_done: list[str] = []


def tune_cpu_allocator() -> str:
    """Keep large freed blocks in the process (glibc only); returns what was done, once per process."""
    if _done:
        return _done[0]
    if os.environ.get("RNNKIT_MALLOC_TUNING", "1") == "0":
        why = "left alone (RNNKIT_MALLOC_TUNING=0)"
    elif not sys.platform.startswith("linux"):
        why = f"left alone (not glibc: {sys.platform})"
    else:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
                libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            why = (f"glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB"
                   if ok else "left alone (mallopt refused the values)")
        except (OSError, AttributeError) as e:  # musl and others have no mallopt
            why = f"left alone ({type(e).__name__}: {e})"
        why += "; " + _huge_pages()
    log.info("CPU allocator: %s", why)
    _done.append(why)
    return why


def _huge_pages() -> str:
    """Transparent huge pages for torch's big CPU blocks, when it is not too late to ask."""
    if "THP_MEM_ALLOC_ENABLE" in os.environ:
        return f"huge pages as set (THP_MEM_ALLOC_ENABLE={os.environ['THP_MEM_ALLOC_ENABLE']})"
    if "torch" in sys.modules:  # c10 may have read the variable already
        return "huge pages left alone (torch was loaded first)"
    os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    return "huge pages for blocks >= 2 MiB"


__all__ = ["tune_cpu_allocator"]
