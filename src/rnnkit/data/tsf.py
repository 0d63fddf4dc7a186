"""The Monash forecasting archive's ``.tsf`` format, and the M1 yearly series shipped in aeon.

A ``.tsf`` file (Godahewa et al., Monash Time Series Forecasting Archive)::

    # comments
    @relation M1
    @attribute series_name string
    @attribute start_timestamp date
    @frequency yearly
    @horizon 6
    @missing false
    @equallength false
    @data
    T1:1972-01-01 00-00-00:3600,7700,12300,...

Each data line holds the attribute values in the declared order, then the series values, all
separated by ``:``; values are comma-separated numbers, ``?`` for a missing one.

``m1-yearly:<k>`` (``k`` = 1..181) is series ``T<k>`` of aeon 1.6.0's
``aeon/datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf``: the 181 yearly series of the M1
competition (Makridakis et al. 1982), 15 to 58 values each, as ONE univariate :class:`Series` per
name (the series have different start years and lengths, so they do not fit one ``(T, K)`` table).
The file holds each whole series; M1's test period is its last ``meta["horizon"]`` = 6 values.
The file's header says the start year of T51 lost its last two digits and was set to 1900; the
start years are otherwise as given (8 series start in 1865).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import Series

M1_YEARLY = "aeon/datasets/data/m1_yearly_dataset/m1_yearly_dataset.tsf"
M1_YEARLY_COUNT = 181
_FREQ = {"yearly": ("Y", 1), "quarterly": ("Q", 4), "monthly": ("M", 12), "weekly": ("W", 52), "daily": ("D", 7)}


@dataclass
class TsfFile:
    """A parsed ``.tsf``: header fields and one record per series (attributes + float64 values)."""

    relation: str = ""
    attributes: list[tuple[str, str]] = field(default_factory=list)  # (name, type)
    frequency: str = ""
    horizon: int | None = None
    records: list[tuple[dict[str, str], np.ndarray]] = field(default_factory=list)


def read_tsf(text: str, source: str = "<text>") -> TsfFile:
    """Parse ``.tsf`` text. Errors (:class:`DatasetError`) name the file and line."""
    out = TsfFile()
    in_data = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{source}:{lineno}"
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DatasetError(f"{where}: expected a @header or @data before data, got {line[:40]!r}")
            key, _, rest = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            elif key == "attribute":
                parts = rest.split()
                if len(parts) != 2:
                    raise DatasetError(f"{where}: expected '@attribute NAME TYPE'")
                out.attributes.append((parts[0], parts[1]))
            elif key == "relation":
                out.relation = rest.strip()
            elif key == "frequency":
                out.frequency = rest.strip().lower()
            elif key == "horizon":
                try:
                    out.horizon = int(rest)
                except ValueError:
                    raise DatasetError(f"{where}: @horizon {rest.strip()!r} is not an integer") from None
            continue
        fields = line.split(":")
        if len(fields) != len(out.attributes) + 1:
            raise DatasetError(f"{where}: expected {len(out.attributes)} attribute(s) and the values separated "
                               f"by ':', got {len(fields)} field(s)")
        attrs = {name: v.strip() for (name, _), v in zip(out.attributes, fields)}
        values = []
        for t in fields[-1].split(","):
            t = t.strip()
            try:
                values.append(np.nan if t == "?" else float(t))
            except ValueError:
                raise DatasetError(f"{where}: not a number {t!r}") from None
        out.records.append((attrs, np.asarray(values, dtype=np.float64)))
    if not in_data:
        raise DatasetError(f"{source}: no @data section")
    return out


def _times(start: str, n: int, freq: str, where: str) -> list[str]:
    """Time labels from a ``YYYY-MM-DD hh-mm-ss`` start: ``YYYY`` for yearly series (others: the step index)."""
    if not start:
        return [str(i) for i in range(n)]
    if freq == "Y":
        try:
            year = int(start[:4])
        except ValueError:
            raise DatasetError(f"{where}: bad start timestamp {start!r}") from None
        return [str(year + i) for i in range(n)]
    return [str(i) for i in range(n)]


def parse_tsf_series(archive: Path, member: str, series: str, name: str = "") -> Series:
    """Series ``series`` (its ``series_name``) of the ``.tsf`` file ``member`` as a :class:`Series`
    called ``name`` (default: ``series``)."""
    tsf = read_tsf(read_member(archive, member).decode("utf-8"), member)
    names = [attrs.get("series_name", "") for attrs, _ in tsf.records]
    if series not in names:
        raise DatasetError(f"{member}: no series {series!r}; it has {names[0]}..{names[-1]} ({len(names)} series)")
    attrs, values = tsf.records[names.index(series)]
    freq, period = _FREQ.get(tsf.frequency, (tsf.frequency, 1))
    missing = int(np.isnan(values).sum())
    return Series(
        name=name or series, time=_times(attrs.get("start_timestamp", ""), len(values), freq, member),
        values=values, columns=[series], freq=freq, seasonal_period=period, source=f"{archive.name}:{member}",
        meta={"horizon": tsf.horizon, "start_timestamp": attrs.get("start_timestamp", ""), "missing_count": missing,
              "relation": tsf.relation},
    )


def parse_m1_yearly(archive: Path, member: str = M1_YEARLY, *, series: int) -> Series:
    """M1 yearly series ``T<series>`` (1..181)."""
    return parse_tsf_series(archive, member, f"T{series}", name=f"m1-yearly:{series}")


__all__ = ["M1_YEARLY", "M1_YEARLY_COUNT", "TsfFile", "parse_m1_yearly", "parse_tsf_series", "read_tsf"]
