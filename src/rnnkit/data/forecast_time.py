"""Time axes for forecasting: parse timestamps to integer steps, validate them, calendar features.

A time column becomes ``ordinal`` (int64, one unit per step of the frequency: months since year 0
for "M", quarters for "Q", days // 7 for "W", ...), so a regular series has ``diff(ordinal) == 1``
everywhere. That one fact gives clear errors for non-monotone time, duplicates and missing
timestamps, and lets forecasts extend the calendar past the end of the data (``ordinal + k``).
"""

from __future__ import annotations

import re

import numpy as np

from rnnkit.errors import DataError

#: freq -> default seasonal period (what seasonal naive and MASE use)
SEASONAL_PERIODS = {"Y": 1, "Q": 4, "M": 12, "W": 52, "D": 7, "H": 24, "I": 1}
_MINUTES = re.compile(r"^(\d+)min$")


def default_period(freq: str) -> int:
    m = _MINUTES.match(freq)
    return 1440 // int(m.group(1)) if m else SEASONAL_PERIODS.get(freq, 1)


def infer_freq(times: list[str]) -> str:
    """Guess the frequency code from the spelling of the timestamps (and their spacing)."""
    t = times[0].strip()
    if re.fullmatch(r"-?\d+", t):
        return "Y" if all(re.fullmatch(r"\d{4}", s.strip()) for s in times) else "I"
    if re.fullmatch(r"\d{4}-\d{1,2}", t):
        return "M"
    if re.fullmatch(r"\d{4} ?Q[1-4]", t):
        return "Q"
    minutes = _datetimes(times).astype("datetime64[m]").astype(np.int64)
    step = int(np.median(np.diff(minutes))) if len(minutes) > 1 else 1440
    for freq, lo, hi in (("H", 60, 60), ("D", 1440, 1440), ("W", 10080, 10080), ("M", 40320, 44640),
                         ("Q", 128160, 132480), ("Y", 525600, 527040)):
        if lo <= step <= hi:
            return freq
    if 0 < step < 1440:
        return f"{step}min"
    raise DataError(f"cannot infer the frequency of the time column (median step {step} minutes); "
                    "set data.freq (Y, Q, M, W, D, H, <n>min or I for a plain index)")


def _datetimes(times: list[str]) -> np.ndarray:
    try:
        return np.array([s.strip().replace(" ", "T") for s in times], dtype="datetime64[m]")
    except ValueError as e:
        raise DataError(f"cannot parse the time column as dates ({e}); use ISO dates such as 2020-01-31, "
                        "2020-01, 2020Q1 or 2020, or set data.freq=I for a plain integer index") from None


def to_ordinal(times: list[str], freq: str) -> np.ndarray:
    """Timestamps -> integer step numbers for ``freq`` (see the module docstring)."""
    if not times:
        raise DataError("the time column is empty")
    try:
        if freq == "I" or (freq == "Y" and re.fullmatch(r"-?\d+(\.0*)?", times[0].strip())):
            return np.array([int(float(s)) for s in times], dtype=np.int64)
        if freq == "Y":  # dates a year apart (1950-01-01, as pandas writes a yearly index): their years
            return _datetimes(times).astype("datetime64[Y]").astype(np.int64) + 1970
        if freq == "Q":
            out = []
            for s in times:
                m = re.fullmatch(r"(\d{4}) ?Q([1-4])", s.strip())
                if m is None and re.match(r"\d{4}-\d{2}", s.strip()):  # a date (2020-04-01): its quarter
                    month = int(np.datetime64(s.strip()[:7], "M").astype(np.int64))
                    out.append(month // 3 + 1970 * 4)
                    continue
                if m is None:
                    raise DataError(f"time value {s!r} is not a quarter like 1970Q1 (or a date)")
                out.append(int(m.group(1)) * 4 + int(m.group(2)) - 1)
            return np.array(out, dtype=np.int64)
        if freq == "M":
            months = np.array([s.strip()[:7] for s in times], dtype="datetime64[M]").astype(np.int64)
            return months + 1970 * 12
    except (ValueError, OverflowError) as e:  # OverflowError: a year or index beyond int64 (9.2e18, inf)
        raise DataError(f"cannot parse the time column for freq {freq!r}: {e}") from None
    minutes = _datetimes(times).astype(np.int64)
    unit = {"H": 60, "D": 1440, "W": 10080}.get(freq)
    if unit is None:
        m = _MINUTES.match(freq)
        if m is None:
            raise DataError(f"unknown freq {freq!r}; valid: Y, Q, M, W, D, H, <n>min, I")
        unit = int(m.group(1))
    if freq == "W" and len(set((minutes // 1440 % 7).tolist())) > 1:
        raise DataError("weekly time column mixes weekdays; weekly data must fall on one weekday")
    return (minutes // unit).astype(np.int64)


def check_regular(ordinal: np.ndarray, times: list[str]) -> list[int]:
    """Raise on non-increasing time; return the row positions after which timestamps are missing."""
    d = np.diff(ordinal)
    back = np.flatnonzero(d <= 0)
    if len(back):
        i = int(back[0]) + 1
        what = "a duplicate timestamp" if d[i - 1] == 0 else "time going backwards"
        distinct = len(np.unique(ordinal))
        if distinct * 2 <= len(ordinal):  # every time twice or more: series stacked one after another
            raise DataError(f"the time column is not strictly increasing: {what} at row {i} ({times[i - 1]!r} then "
                            f"{times[i]!r}); {len(ordinal)} rows hold {distinct} distinct times, as several series "
                            "stacked with an id column (long format) do: name that column (--id-column / "
                            "data.id_column), or give one row per time and one column per series")
        raise DataError(f"the time column is not strictly increasing: {what} at row {i} "
                        f"({times[i - 1]!r} then {times[i]!r}); sort the file and drop duplicates")
    return np.flatnonzero(d > 1).tolist()


def calendar_features(ordinal: np.ndarray, freq: str, harmonics: int = 2) -> tuple[np.ndarray, list[str]]:
    """Known-future calendar features: sin/cos of the position in the year / week / day.

    Returns ``(T, F)`` and names; yearly data and a plain index have none (F = 0).
    """
    t = ordinal.astype(np.float64)
    cycles: list[tuple[str, np.ndarray]] = []
    if freq == "M":
        cycles.append(("month", (t % 12) / 12))
    elif freq == "Q":
        cycles.append(("quarter", (t % 4) / 4))
    elif freq == "W":
        cycles.append(("year", (t * 7 % 365.25) / 365.25))
    elif freq == "D":
        cycles += [("weekday", ((t + 3) % 7) / 7), ("year", (t % 365.25) / 365.25)]
    elif freq == "H":
        cycles += [("hour", (t % 24) / 24), ("weekday", ((t // 24 + 3) % 7) / 7)]
    elif _MINUTES.match(freq):
        n = int(_MINUTES.match(freq).group(1))
        cycles.append(("day", (t * n % 1440) / 1440))
    cols, names = [], []
    for name, phase in cycles:
        for k in range(1, harmonics + 1):
            cols += [np.sin(2 * np.pi * k * phase), np.cos(2 * np.pi * k * phase)]
            names += [f"{name}_sin{k}", f"{name}_cos{k}"]
    out = np.stack(cols, axis=1) if cols else np.zeros((len(t), 0))
    return out, names


def ordinal_to_str(ordinal: int, freq: str) -> str:
    """Inverse of :func:`to_ordinal` for labelling forecast steps past the end of the data."""
    o = int(ordinal)
    if freq in ("Y", "I"):
        return str(o)
    if freq == "Q":
        return f"{o // 4}Q{o % 4 + 1}"
    if freq == "M":
        return f"{o // 12}-{o % 12 + 1:02d}"
    unit = {"H": 60, "D": 1440, "W": 10080}.get(freq) or int(_MINUTES.match(freq).group(1))
    t = np.datetime64(o * unit, "m")
    return str(t.astype("datetime64[D]")) if freq in ("D", "W") else str(t)


def step_labels(times: list[str], ordinal: np.ndarray, freq: str, steps: np.ndarray) -> list[str]:
    """Labels for row positions ``steps`` (possibly past the end), in the data's own spelling where
    possible: sub-monthly data keeps the weekday / time of day of its timestamps."""
    out = []
    for s in np.asarray(steps).tolist():
        if s < len(times):
            out.append(times[s])
        elif freq in ("Y", "I", "Q", "M"):
            out.append(ordinal_to_str(ordinal[0] + s, freq))
        else:
            unit = {"H": 60, "D": 1440, "W": 10080}.get(freq) or int(_MINUTES.match(freq).group(1))
            t = np.datetime64(times[-1].strip().replace(" ", "T"), "m") + np.timedelta64(
                (s - len(times) + 1) * unit, "m")
            out.append(str(t.astype("datetime64[D]")) if freq in ("D", "W") else str(t))
    return out
