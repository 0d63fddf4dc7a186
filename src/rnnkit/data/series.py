"""Forecasting series read from the CSV files shipped in sktime, aeon and statsmodels archives.

:data:`FORMATS` says, per name, which file and columns hold the series; the package is the first
folder of the member path. Most files have one row per time step. ``elnino`` (statsmodels) is a
year x month table (columns JAN..DEC): :attr:`SeriesFormat.melt` names the single series its rows
are flattened into, in time order (1950-01 .. 2010-12, 732 months). ``longley`` keeps only the
target TOTEMP (total employment; the other columns are its regressors in the Longley test problem,
16 years). ``pbs`` is ONE intermittent monthly count series (scripts of immune sera and
immunoglobulin products, 1991-07 .. 2008-06, 90 of 204 months are zero), not the full PBS table.

Each parser returns a :class:`Series` with ``time`` as ISO-like strings (``1949-01``, ``1970Q1``,
``1958-03-29``, ``1821``), ``values`` float64 ``(T,)`` for one column or ``(T, K)`` for several,
the pandas-style ``freq`` and the ``seasonal_period`` a seasonal-naive baseline should use
(1 when there is no calendar season, e.g. yearly data; lynx's ~10-year cycle is not a season).

Missing values (statsmodels' weekly co2 has 59 empty weeks) are REPORTED, never silently
dropped: by default they stay NaN, ``meta["missing_count"]`` and ``meta["missing_times"]`` list
them and a warning is logged. ``load_dataset(name, interpolate=True)`` fills them by linear
interpolation in time order (uniform steps) and records ``meta["interpolated"]``; leading or
trailing gaps take the nearest observed value.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import Series

log = logging.getLogger(__name__)

SK = "sktime/datasets/data"
SM = "statsmodels/datasets"


def _ident(s: str) -> str:
    return s.strip()


def _year_quarter(s: str) -> str:  # "1970 Q1" -> "1970Q1"
    return s.replace(" ", "")


def _yyyymmdd(s: str) -> str:  # "19580329" -> "1958-03-29"
    return f"{s[:4]}-{s[4:6]}-{s[6:8]}"


def _mon_d_yyyy(s: str) -> str:  # "Jan-1-1995" -> "1995-01"
    return datetime.strptime(s, "%b-%d-%Y").strftime("%Y-%m")


def _year_mon(s: str) -> str:  # "1991 Jul" -> "1991-07"
    return datetime.strptime(s.strip(), "%Y %b").strftime("%Y-%m")


def _date_prefix(n: int) -> Callable[[str], str]:
    return lambda s: s.strip()[:n]


@dataclass(frozen=True)
class SeriesFormat:
    """How to read one CSV: which columns hold time and values, and the series' calendar."""

    member: str
    time_cols: tuple[str, ...]
    value_cols: tuple[str, ...]
    freq: str
    seasonal_period: int
    time_fn: Callable[[str], str] = _ident
    #: when set, each row is one year and ``value_cols`` are its 12 months in order: the rows are
    #: flattened into ONE series of this name, with times ``YYYY-MM``
    melt: str = ""


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
AE = "aeon/datasets/data"
FORMATS: dict[str, SeriesFormat] = {
    "airline": SeriesFormat(f"{SK}/Airline/Airline.csv", ("Date",), ("Passengers",), "M", 12),
    "lynx": SeriesFormat(f"{SK}/Lynx/Lynx.csv", ("",), ("0",), "Y", 1),
    "shampoo": SeriesFormat(f"{SK}/ShampooSales/ShampooSales.csv", ("Time",), ("Sales",), "M", 12),
    "uschange": SeriesFormat(
        f"{SK}/Uschange/Uschange.csv", ("Quarter",),
        ("Consumption", "Income", "Production", "Savings", "Unemployment"), "Q", 4, _year_quarter,
    ),
    "seatbelts": SeriesFormat(f"{SK}/seatbelts/seatbelts.csv", ("",), ("KSI", "label"), "M", 12,
                              _date_prefix(7)),
    "solar": SeriesFormat(f"{SK}/solar/solar.csv", ("datetime_gmt",), ("solar_gen",), "30min", 48,
                          _date_prefix(16)),
    "co2": SeriesFormat(f"{SM}/co2/co2.csv", ("date",), ("co2",), "W", 52, _yyyymmdd),
    "macrodata": SeriesFormat(
        f"{SM}/macrodata/macrodata.csv", ("year", "quarter"),
        ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp",
         "pop", "infl", "realint"), "Q", 4,
    ),
    "elec_equip": SeriesFormat(f"{SM}/elec_equip/elec_equip.csv", ("DATE",),
                               ("STS.M.I7.W.TOVT.NS0016.4.000",), "M", 12, _mon_d_yyyy),
    "sunspots": SeriesFormat(f"{SM}/sunspots/sunspots.csv", ("YEAR",), ("SUNACTIVITY",), "Y", 1),
    "nile": SeriesFormat(f"{SM}/nile/nile.csv", ("year",), ("volume",), "Y", 1),
    "elnino": SeriesFormat(f"{SM}/elnino/elnino.csv", ("YEAR",), _MONTHS, "M", 12, melt="sst"),
    "pbs": SeriesFormat(f"{AE}/PBS_dataset/PBS_dataset.csv", ("Month",), ("Scripts",), "M", 12, _year_mon),
    "longley": SeriesFormat(f"{AE}/Longley/Longley.csv", ("YEAR",), ("TOTEMP",), "Y", 1),
}


def _time_of(row: dict[str, str], fmt: SeriesFormat) -> str:
    if fmt.time_cols == ("year", "quarter"):
        return f"{int(float(row['year']))}Q{int(float(row['quarter']))}"
    return fmt.time_fn(row[fmt.time_cols[0]])


def _float(v: str, where: str) -> float:
    v = v.strip()
    if v in ("", "NA", "NaN", "nan", "?"):
        return float("nan")
    try:
        return float(v)
    except ValueError:
        raise DatasetError(f"{where}: not a number {v!r}") from None


def interpolate_missing(values: np.ndarray) -> np.ndarray:
    """Linear interpolation over the step index of NaNs in each column (edges: nearest value)."""
    out = values.astype(np.float64, copy=True)
    cols = out.reshape(len(out), -1)
    idx = np.arange(len(out))
    for k in range(cols.shape[1]):
        bad = np.isnan(cols[:, k])
        if bad.all():
            raise DatasetError(f"column {k} has no observed values to interpolate from")
        cols[bad, k] = np.interp(idx[bad], idx[~bad], cols[~bad, k])
    return cols.reshape(out.shape)


def missing_values(name: str, time: list[str], values: np.ndarray, interpolate: bool) -> tuple[np.ndarray, dict]:
    """``(values, meta)``: NaN values counted (``missing_count``, ``missing_times``) and kept, or filled by
    linear interpolation with ``interpolate`` (``meta["interpolated"]``)."""
    nan_rows = np.isnan(values.reshape(len(values), -1)).any(axis=1)
    meta: dict = {"missing_count": int(np.isnan(values).sum()),
                  "missing_times": [t for t, b in zip(time, nan_rows) if b]}
    if meta["missing_count"]:
        if interpolate:
            values = interpolate_missing(values)
            meta["interpolated"] = meta["missing_count"]
            log.info("%s: %d missing values filled by linear interpolation", name, meta["missing_count"])
        else:
            log.warning("%s: %d missing values kept as NaN (load with interpolate=True to fill them)",
                        name, meta["missing_count"])
    return values, meta


def format_by_member(formats: dict[str, Any], member: str, what: str = "series") -> tuple[str, Any]:
    """(name, format) of the table entry ``formats`` whose archive member is ``member``."""
    by_member = {f.member: k for k, f in formats.items()}
    if member not in by_member:
        raise DatasetError(f"no {what} format for {member}; known: {sorted(by_member)}")
    return by_member[member], formats[by_member[member]]


def parse_series(archive: Path, member: str, interpolate: bool = False) -> Series:
    """Read the series stored at ``member`` (one of :data:`FORMATS`) from the archive."""
    name, fmt = format_by_member(FORMATS, member)
    text = read_member(archive, fmt.member).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing_cols = [c for c in fmt.time_cols + fmt.value_cols if c not in (reader.fieldnames or [])]
    if missing_cols:
        raise DatasetError(f"{fmt.member}:1: columns {missing_cols} not in header {reader.fieldnames}")
    time, rows = [], []
    for lineno, row in enumerate(reader, start=2):
        where = f"{fmt.member}:{lineno}"
        if None in row or None in row.values():
            raise DatasetError(f"{where}: {len(reader.fieldnames or [])} columns expected")
        values_here = [_float(row[c], where) for c in fmt.value_cols]
        try:
            t = _time_of(row, fmt)
        except ValueError as e:
            raise DatasetError(f"{where}: bad time {[row[c] for c in fmt.time_cols]} ({e})") from None
        if fmt.melt:  # one year per row -> 12 monthly steps
            time += [f"{t}-{m:02d}" for m in range(1, len(values_here) + 1)]
            rows += [[v] for v in values_here]
        else:
            time.append(t)
            rows.append(values_here)
    values = np.asarray(rows, dtype=np.float64)
    if values.shape[1] == 1:
        values = values[:, 0]
    values, meta = missing_values(name, time, values, interpolate)
    columns = [fmt.melt] if fmt.melt else list(fmt.value_cols)
    return Series(name=name, time=time, values=values, columns=columns, freq=fmt.freq,
                  seasonal_period=fmt.seasonal_period, source=f"{archive.name}:{fmt.member}", meta=meta)
