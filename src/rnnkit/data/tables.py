"""The one reader of user text files and tables (CSV / TSV / JSONL), with errors that name the place.

* :func:`read_text`: a whole UTF-8 file (a BOM is dropped, ``\\r\\n`` becomes ``\\n``); bytes that
  are not UTF-8 are an error naming the byte offset and line, never a UnicodeDecodeError.
* :func:`read_rows`: the rows of a table as ``(row, "file:line")``: dicts keyed by the header for
  ``.csv`` / ``.tsv`` (or lists without a header), JSON objects for ``.jsonl``.
* :func:`column`: one column of those rows, with a missing column or an empty cell named by row.

Every task reads user tables through these (classification and regression examples, ``predict``
inputs, forecasting series, seq2seq pairs).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from rnnkit.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file; a clear error for a missing, unreadable, non-UTF-8 or empty file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        start = e.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = raw[:start].count(b"\n") + 1
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[start]:02x} at offset {start}, line {line}); "
                        "convert it, e.g. iconv -f latin1 -t utf-8") from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty")
    return text.replace("\r\n", "\n")


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


def column(rows: list[tuple[Any, str]], name: str, option: str = "") -> list[Any]:
    """The values of column ``name``; a row without it is an error naming the row and listing the
    columns it has (``option`` names the setting that chooses the column, e.g. ``--text-column``)."""
    out = []
    for row, where in rows:
        if not isinstance(row, dict) or name not in row:
            cols = ", ".join(map(str, row)) if isinstance(row, dict) else f"a {type(row).__name__}"
            hint = f" (set {option})" if option else ""
            raise DataError(f"{where}: no column {name!r}; columns: {cols}{hint}")
        out.append(row[name])
    return out


__all__ = ["TABLE_SUFFIXES", "column", "read_rows", "read_text"]
