"""Forecasting series stored as number literals in pmdarima's Python modules (the R ``forecast``,
``fpp`` and ``datasets`` packages' series).

pmdarima 2.0.4 keeps each series as ``rslt = np.array([...])`` inside ``load_<name>()`` in
``pmdarima/datasets/<name>.py``. The parser reads that file out of the wheel and takes the list with
:mod:`ast` (``ast.literal_eval`` of the list node), never importing pmdarima (it needs compiled
code). ``None`` in a literal is a missing value (NaN).

:data:`FORMATS` gives each series' calendar, taken from its module (docstring and index code) and
checked against the number of values:

==========  ============  ======  ======================  =====  ==========================================
name        freq          period  first .. last           count  note
==========  ============  ======  ======================  =====  ==========================================
wineind     M             12      1980-01 .. 1994-08      176    index code: Jan 1980 .. Aug 1994
woolyrnq    Q             4       1965Q1 .. 1994Q3        119    index code: Q1 1965 .. Q3 1994
ausbeer     Q             4       1956Q1 .. 2008Q3        211    "1956:Q1 to 2008:Q3"; the literal has one
                                                                 more entry, ``None`` (2008Q4): dropped
austres     Q             4       1971Q2 .. 1993Q2        89     see below
taylor      30min         48      2000-06-05 00:00 ..     4032   Mon 5 June .. Sun 27 August 2000,
                                  2000-08-27 23:30               12 weeks x 7 days x 48 half-hours
==========  ============  ======  ======================  =====  ==========================================

``austres``: the docstring (copied from R's help page) says "March 1971 to March 1994", 93 quarters,
but the literal holds 89 values; R's ``austres`` object itself starts at 1971 Q2 and ends at 1993 Q2
(``tsp`` 1971.25 .. 1993.25), which is what the labels follow. ``taylor``'s docstring calls it
"annual data ... m=1"; it is half-hourly, and the daily cycle (48) is the season used here (the data
also have a weekly cycle of 336). Its labels are the start of each half-hour from Monday 00:00 (the
module does not say whether the first value is the half-hour starting or ending at midnight).

pmdarima's ``gasoline`` is NOT in the wheel: ``load_gasoline`` downloads a CSV from
alkaline-ml.com at run time, so it has no entry here.

Values beyond the documented last period must all be missing (they are dropped and counted in
``meta["dropped_after_end"]``); any other length mismatch is an error. Missing values inside the
documented range are reported as in :mod:`rnnkit.data.series` (NaN, ``meta["missing_count"]``;
``interpolate=True`` fills them).
"""

from __future__ import annotations

import ast
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import Series
from rnnkit.data.forecast_time import ordinal_to_str, to_ordinal
from rnnkit.data.series import format_by_member, missing_values

log = logging.getLogger(__name__)

PM = "pmdarima/datasets"


@dataclass(frozen=True)
class LiteralFormat:
    """Where the literal is (module file, function, variable) and the series' calendar."""

    member: str
    function: str
    freq: str
    seasonal_period: int
    start: str  # first time label, spelled as rnnkit's series spell it (1980-01, 1965Q1, 2000-06-05 00:00)
    length: int  # documented number of observations
    variable: str = "rslt"


FORMATS: dict[str, LiteralFormat] = {
    "wineind": LiteralFormat(f"{PM}/wineind.py", "load_wineind", "M", 12, "1980-01", 176),
    "woolyrnq": LiteralFormat(f"{PM}/woolyrnq.py", "load_woolyrnq", "Q", 4, "1965Q1", 119),
    "ausbeer": LiteralFormat(f"{PM}/ausbeer.py", "load_ausbeer", "Q", 4, "1956Q1", 211),
    "austres": LiteralFormat(f"{PM}/austres.py", "load_austres", "Q", 4, "1971Q2", 89),
    "taylor": LiteralFormat(f"{PM}/taylor.py", "load_taylor", "30min", 48, "2000-06-05 00:00", 4032),
}


def time_labels(start: str, n: int, freq: str) -> list[str]:
    """``n`` consecutive labels from ``start`` (sub-daily ones as ``YYYY-MM-DD hh:mm``)."""
    first = int(to_ordinal([start], freq)[0])
    return [ordinal_to_str(first + i, freq).replace("T", " ") for i in range(n)]


def _array_call(node: ast.AST) -> ast.Call | None:
    """The ``np.array([...])`` call inside ``np.array([...]).astype(dtype)`` (or itself)."""
    while isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "array":
            return node
        node = f.value if isinstance(f, ast.Attribute) else f
    return None


def read_literal(source: str, function: str, variable: str = "rslt", where: str = "<source>") -> list:
    """The list literal assigned as ``variable = np.array([...])`` inside ``def function``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise DatasetError(f"{where}:{e.lineno}: not valid Python ({e.msg})") from None
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    if not funcs:
        raise DatasetError(f"{where}: no function {function}()")
    for node in ast.walk(funcs[0]):
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable
                                                     for t in node.targets)):
            continue
        call = _array_call(node.value)
        if call is None or not call.args or not isinstance(call.args[0], ast.List):
            raise DatasetError(f"{where}:{node.lineno}: {variable} is not np.array([...]) of a list literal")
        try:
            values = ast.literal_eval(call.args[0])
        except ValueError as e:
            raise DatasetError(f"{where}:{node.lineno}: the {variable} list is not a literal ({e})") from None
        bad = [v for v in values if v is not None and not isinstance(v, (int, float))]
        if bad:
            raise DatasetError(f"{where}:{node.lineno}: not a number {bad[0]!r} in {variable}")
        return values
    raise DatasetError(f"{where}: no assignment {variable} = np.array([...]) in {function}()")


def parse_pmdarima(archive: Path, member: str, interpolate: bool = False) -> Series:
    """Read the series whose module is ``member`` (one of :data:`FORMATS`) from the pmdarima wheel."""
    name, fmt = format_by_member(FORMATS, member, "pmdarima series")
    raw = read_literal(read_member(archive, member).decode("utf-8"), fmt.function, fmt.variable, member)
    tail = raw[fmt.length:]
    if len(raw) < fmt.length or any(v is not None for v in tail):
        raise DatasetError(f"{member}: {fmt.function}() holds {len(raw)} values, expected {fmt.length} "
                           f"({fmt.start} onwards, freq {fmt.freq})")
    values = np.array([np.nan if v is None else float(v) for v in raw[:fmt.length]], dtype=np.float64)
    time = time_labels(fmt.start, fmt.length, fmt.freq)
    values, meta = missing_values(name, time, values, interpolate)
    meta["dropped_after_end"] = len(tail)
    return Series(name=name, time=time, values=values, columns=[name], freq=fmt.freq,
                  seasonal_period=fmt.seasonal_period, source=f"{archive.name}:{member}", meta=meta)


__all__ = ["FORMATS", "LiteralFormat", "parse_pmdarima", "read_literal", "time_labels"]
