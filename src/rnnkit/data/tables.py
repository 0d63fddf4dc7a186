"""The one reader of user text files and tables (CSV / TSV / JSONL), with errors that name the place.

* :func:`read_text`: a whole text file (``\\r\\n`` becomes ``\\n``): UTF-8, or UTF-8 / UTF-16 / UTF-32
  with a byte-order mark; other bytes are read as cp1252 (else latin-1) with a warning naming the file
  and the first byte that is not UTF-8. A binary file (NUL bytes) or one over the size limit is an
  error; never a UnicodeDecodeError.
* :func:`read_rows`: the rows of a table as ``(row, "file:line")``: dicts keyed by the header for
  ``.csv`` / ``.tsv`` (or lists without a header), JSON objects for ``.jsonl``.
* :func:`column`: one column of those rows, with a missing column or an empty cell named by row.

Every task reads user tables through these (classification and regression examples, ``predict``
inputs, forecasting series, seq2seq pairs).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rnnkit.errors import DataError, RnnkitError

log = logging.getLogger(__name__)
T = TypeVar("T")

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


#: byte-order marks, longest first (a UTF-32 LE mark starts with the UTF-16 LE one)
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
#: what bytes that are not UTF-8 are read as, in order (cp1252 leaves five bytes undefined; latin-1 none)
FALLBACKS = ("cp1252", "latin-1")
MAX_FILE_MB_ENV = "RNNKIT_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 2048


def max_file_bytes() -> int:
    """The largest file a reader accepts: ``$RNNKIT_MAX_FILE_MB`` megabytes (default 2048), since a
    text file is held in memory whole (as a Python string, up to 4 bytes per character)."""
    raw = os.environ.get(MAX_FILE_MB_ENV, "")
    try:
        return int(float(raw) * 2**20) if raw.strip() else DEFAULT_MAX_FILE_MB * 2**20
    except ValueError:
        raise DataError(f"{MAX_FILE_MB_ENV}={raw!r} is not a number of megabytes") from None


def decode_bytes(raw: bytes, label: str) -> str:
    """Text of ``raw`` (a file's bytes; ``label`` names it): a byte-order mark picks UTF-8 / UTF-16 /
    UTF-32; otherwise UTF-8, and bytes that are not UTF-8 are read as cp1252 (else latin-1) with a
    warning naming the file and the first such byte. NUL bytes outside UTF-16/32 mean a binary file
    (an error naming the offset); the result never raises UnicodeDecodeError."""
    for bom, codec in BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec)
            except UnicodeDecodeError as e:
                raise DataError(f"{label}: not valid {codec.upper()} text after its byte-order mark "
                                f"(offset {e.start})") from None
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise DataError(f"{label}: a binary file, not text (NUL byte at offset {nul}); give a text file "
                        "(UTF-8, UTF-16 with a byte-order mark, or cp1252)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        for codec in FALLBACKS:
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError:
                continue
            log.warning("%s: not UTF-8 text (byte 0x%02x at offset %d, line %d); read as %s. If the "
                        "characters look wrong, convert the file: iconv -f <encoding> -t utf-8",
                        label, raw[e.start], e.start, line, codec)
            return text
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def read_text(path: str | Path) -> str:
    """The text of a file in any encoding :func:`decode_bytes` detects, with ``\r\n`` as ``\n``;
    a clear error for a missing, unreadable, binary, over-large or empty file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        size, limit = path.stat().st_size, max_file_bytes()
        if size > limit:
            raise DataError(f"{path}: {size / 2**20:.0f} MB is over the {limit / 2**20:.0f} MB file limit; "
                            f"raise it with the environment variable {MAX_FILE_MB_ENV}=<megabytes>")
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    text = decode_bytes(raw, str(path))
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text.replace("\r\n", "\n")


#: what a reader of a malformed JSON artifact trips over (a key missing, a list where a dict belongs, ...)
ARTIFACT_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def json_artifact(name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator for the readers of a model directory's JSON files (``tokenizer.json``, ``scaler.json``,
    ``labels.json``, ...): a malformed file becomes one DataError naming it, never a KeyError."""
    def wrap(read: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(read)
        def checked(*args: Any, **kwargs: Any) -> T:
            try:
                return read(*args, **kwargs)
            except RnnkitError:
                raise
            except ARTIFACT_ERRORS as e:
                detail = str(e).splitlines()[0] if str(e).strip() else ""
                raise DataError(f"{name}: malformed ({type(e).__name__}: {detail})") from None
        return checked
    return wrap


def json_floats(value: Any, what: str, size: int | None = None, positive: bool = False,
                empty_ok: bool = False) -> np.ndarray:
    """A JSON list of finite numbers as a float64 vector (``size`` long when given; each > 0 with
    ``positive``, e.g. a scale that is divided by; empty only with ``empty_ok``, e.g. the scaler of
    a forecast run's covariates when it has none); anything else is a DataError naming ``what``."""
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise DataError(f"{what}: expected a list of numbers, got {str(value)[:40]}")
    arr = np.asarray(value, np.float64)
    if (not len(arr) and not empty_ok) or not np.isfinite(arr).all() or (positive and (arr <= 0).any()):
        raise DataError(f"{what}: expected {'positive' if positive else 'finite'} numbers, got {str(value)[:40]}")
    if size is not None and len(arr) != size:
        raise DataError(f"{what}: expected {size} numbers, got {len(arr)}")
    return arr


def json_choice(value: Any, what: str, valid: tuple[str, ...]) -> str:
    """``value`` when it is one of ``valid``; else a DataError naming ``what`` and the valid names."""
    if not isinstance(value, str) or value not in valid:
        raise DataError(f"{what}: {str(value)[:40]!r} is not one of {', '.join(valid)}")
    return value


def read_rows(path: str | Path, header: bool = True) -> list[tuple[Any, str]]:
    """``(row, "file:line")`` for every data row of a ``.csv`` / ``.tsv`` / ``.jsonl`` file (blank
    lines skipped). CSV/TSV rows are dicts keyed by the header, or lists with ``header=False``."""
    path = Path(path)
    if path.suffix not in TABLE_SUFFIXES and path.suffix not in (".txt",):
        raise DataError(f"{path}: unsupported table type {path.suffix!r}; use .csv, .tsv or .jsonl")
    text = read_text(path)
    rows: list[tuple[Any, str]] = []
    if path.suffix in (".jsonl", ".json"):
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((json.loads(line), f"{path}:{n}"))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        return rows
    delimiter = "," if path.suffix == ".csv" else "\t"
    try:
        if header:
            reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
            rows = [(r, f"{path}:{reader.line_num}") for r in reader]
        else:
            plain = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            rows = [(r, f"{path}:{plain.line_num}") for r in plain if r]
    except csv.Error as e:
        raise DataError(f"{path}: not a readable {path.suffix[1:].upper()} file ({e})") from None
    return rows


def shown(name: Any) -> str:
    """A column name for a one-line message: as it is, or quoted with escapes when it holds a line break
    or another control character."""
    return str(name) if str(name).isprintable() else repr(str(name))


def column(rows: list[tuple[Any, str]], name: str, option: str = "") -> list[Any]:
    """The values of column ``name``; a row without it is an error naming the row and listing the
    columns it has (``option`` names the setting that chooses the column, e.g. ``--text-column``)."""
    out = []
    for row, where in rows:
        if not isinstance(row, dict) or name not in row:
            cols = ", ".join(map(shown, row)) if isinstance(row, dict) else f"a {type(row).__name__}"
            hint = f" (set {option})" if option else ""
            raise DataError(f"{where}: no column {name!r}; columns: {cols}{hint}")
        out.append(row[name])
    return out


__all__ = ["TABLE_SUFFIXES", "column", "decode_bytes", "json_artifact", "json_choice", "json_floats", "max_file_bytes",
           "read_rows", "read_text", "shown"]
