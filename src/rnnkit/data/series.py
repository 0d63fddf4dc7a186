"""Forecasting series read from the CSV files shipped in sktime and statsmodels archives.

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


def parse_series(archive: Path, member: str, interpolate: bool = False) -> Series:
    """Read the series stored at ``member`` (one of :data:`FORMATS`) from the archive."""
    by_member = {f.member: k for k, f in FORMATS.items()}
    if member not in by_member:
        raise DatasetError(f"no series format for {member}; known: {sorted(by_member)}")
    name = by_member[member]
    fmt = FORMATS[name]
    text = read_member(archive, fmt.member).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    missing_cols = [c for c in fmt.time_cols + fmt.value_cols if c not in (reader.fieldnames or [])]
    if missing_cols:
        raise DatasetError(f"{fmt.member}:1: columns {missing_cols} not in header {reader.fieldnames}")
    time, rows = [], []
    for lineno, row in enumerate(reader, start=2):
        where = f"{fmt.member}:{lineno}"
        time.append(_time_of(row, fmt))
        rows.append([_float(row[c], where) for c in fmt.value_cols])
    values = np.asarray(rows, dtype=np.float64)
    if values.shape[1] == 1:
        values = values[:, 0]
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
    return Series(name=name, time=time, values=values, columns=list(fmt.value_cols), freq=fmt.freq,
                  seasonal_period=fmt.seasonal_period, source=f"{archive.name}:{fmt.member}", meta=meta)
