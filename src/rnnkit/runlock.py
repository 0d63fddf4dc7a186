"""One writer per run directory: ``run_dir/run.lock``.

The lock file holds ``{"pid", "host", "started"}`` of the process training into the directory and
is held with ``flock`` for as long as it trains, so the kernel releases it when that process dies,
however it dies. A second writer is refused with a `CheckpointError` naming the holder's pid. A lock
file left by a killed process (flock free, same host) is taken over with a warning naming that pid.
A lock file written on another host is never taken over silently: flock over a network file system
cannot be trusted, so the message says to delete the file when that run is gone.

The lock is re-entrant within a process: `train_run` takes it before it reads or writes anything in
the directory, and `fit` (which can be called on its own) takes it again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from rnnkit.errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows: no flock; a lock file of another process is then always refused
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
_held: dict[Path, list[int]] = {}  # resolved run dir -> [fd, depth]


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold the run directory's lock (creating the directory) for the duration of the block."""
    key = acquire(run_dir)
    try:
        yield
    finally:
        release(key)


def holds_lock(run_dir: str | Path) -> bool:
    """Whether this process holds the lock of ``run_dir``."""
    return Path(run_dir).resolve() in _held


def acquire(run_dir: str | Path) -> Path:
    """Take the lock (see the module docstring); returns the key for `release`."""
    run_dir = _make_dir(Path(run_dir))
    key = run_dir.resolve()
    if key in _held:
        _held[key][1] += 1
        return key
    path = key / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            old = _read(fd)
            if not _try_lock(fd):
                raise CheckpointError(f"{run_dir} is in use by another rnnkit process ({_who(old)}); "
                                      "wait for it to end or pick another --out")
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                old = _read(fd)  # as it is now that we hold it
                break
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder released (and removed) the file between our open and our lock: retry
    try:
        _take_over(run_dir, old)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    _held[key] = [fd, 1]
    return key


def release(key: Path) -> None:
    """Drop one level of the lock; the last one removes the lock file and closes it."""
    entry = _held.get(key)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] == 0:
        del _held[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key / LOCK_FILE)  # while still holding it, so nobody locks a file about to vanish
        os.close(entry[0])


def _make_dir(run_dir: Path) -> Path:
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is a file, not a run directory; pick another --out")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot create the run directory {run_dir}: {e.strerror}") from None
    return run_dir


def _try_lock(fd: int) -> bool:
    if fcntl is None:
        return True  # judged by the file's content in _take_over
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _take_over(run_dir: Path, old: dict | None) -> None:
    """Accept a lock file left behind (its process is gone), or refuse one we cannot judge."""
    if not old or old.get("pid") == os.getpid():
        return
    if old.get("host") != socket.gethostname() or fcntl is None:
        raise CheckpointError(f"{run_dir / LOCK_FILE} is held by {_who(old)}, which this machine cannot check; "
                              f"if that run has ended, delete {run_dir / LOCK_FILE}")
    state = "which is no longer running" if not _alive(old.get("pid")) else "which no longer holds it"
    log.warning("%s: taking over the lock of pid %s (started %s), %s", run_dir, old.get("pid"),
                old.get("started", "?"), state)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(fd: int) -> dict | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "null")
    except (ValueError, UnicodeDecodeError):
        return None  # empty or torn: written by a process killed while writing it
    return data if isinstance(data, dict) else None


def _who(info: dict | None) -> str:
    if not info:
        return "pid unknown"
    return f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started', '?')}"
