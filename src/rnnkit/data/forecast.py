"""Forecasting data: a time-indexed frame -> scaled sliding context/horizon windows.

Layout of one window with origin ``t0`` (the first forecast step)::

    context rows  t0-C .. t0-1   -> x  (C, 1 + P + F): scaled target, past covariates, known features
    horizon rows  t0   .. t0+H-1 -> xf (H, F) known-future features, y (H,) scaled target

so the context never contains a row at or after ``t0`` (tests check this). Known features are the
user's known-future covariates plus calendar features (always computable for future steps). Several
target columns are several series of one global model; each window carries its series id.

Functions here take the forecast task's data config (``rnnkit.apps.forecast.ForecastDataConfig``,
which lives beside its task) as ``cfg``.

Splits by time: the last ``test_size`` rows are held out; of the rest, the last ``val_size`` rows
give the validation windows and training windows have their targets strictly before them. The
scalers are fitted on the training rows only (``n_fit``), never on validation or test rows.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.forecast_time import check_regular, default_period, infer_freq, to_ordinal
from rnnkit.data.tables import read_text
from rnnkit.errors import DataError

log = logging.getLogger(__name__)


@dataclass
class Frame:
    """A regular multi-series table: ``targets (T, K)``, ``past (T, P)``, ``known (T, F)``."""

    name: str
    times: list[str]
    ordinal: np.ndarray
    freq: str
    period: int
    targets: np.ndarray
    target_names: list[str]
    past: np.ndarray
    past_names: list[str]
    known: np.ndarray
    known_names: list[str]


MISSING = ("", "NA", "NaN", "nan")  # cells read as a missing value (then data.impute decides)


def _cell(v: str) -> float | None:
    """A CSV cell (stripped) as a number: NaN for a :data:`MISSING` cell, None for text."""
    try:
        return float(v) if v not in MISSING else np.nan
    except ValueError:
        return None


def _read_csv(cfg: Any) -> tuple[str, list[str], dict[str, np.ndarray], str, int]:
    """A CSV's numeric columns by name. A column whose cells are all text (ids, labels) is skipped; a
    text cell in a column that also holds numbers, or in a named target/covariate, is an error naming
    the cell (file:row and column)."""
    path = Path(cfg.source)
    try:
        rows = [r for r in csv.reader(io.StringIO(read_text(path), newline="")) if r]
    except csv.Error as e:
        raise DataError(f"{path}: not a readable CSV file ({e})") from None
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header row and at least one data row")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    tcol = cfg.time_column or header[0]
    if tcol not in header:
        raise DataError(f"{path}: time column {tcol!r} not in header {header}")
    ti = header.index(tcol)
    if getattr(cfg, "id_column", ""):
        return _read_long(path, header, body, ti, cfg)
    named = set(cfg.target_columns + cfg.past_covariates + cfg.known_covariates)
    cols: dict[str, np.ndarray] = {}
    text_cells: dict[str, tuple[int, str]] = {}  # column -> its first non-numeric cell
    for j, name in enumerate(header):
        if j == ti:
            continue
        vals: list[float | None] = []
        for r, row in enumerate(body, start=2):
            v = row[j].strip() if j < len(row) else ""
            vals.append(_cell(v))
            if vals[-1] is None:
                text_cells.setdefault(name, (r, v))
        if name not in text_cells:
            cols[name] = np.asarray(vals, dtype=np.float64)
        elif name in named or any(v is not None and v == v for v in vals):
            r, v = text_cells[name]
            raise DataError(f"{path}:{r}: column {name!r} holds {v!r}, not a number")
    if not cols:
        r, v = next(iter(text_cells.values()), (2, ""))
        raise DataError(f"{path}: no numeric column besides the time column {tcol!r} (e.g. row {r} holds "
                        f"{v!r}); the series must be numbers")
    return path.stem, [row[ti] if ti < len(row) else "" for row in body], cols, cfg.freq, cfg.seasonal_period


def long_name(value_column: str, series_id: Any, n_values: int) -> str:
    """The series column of ``series_id`` in long-format data: the id itself, or ``value[id]`` when the
    rows carry several value columns."""
    return str(series_id) if n_values == 1 else f"{value_column}[{series_id}]"


def _read_long(path: Path, header: list[str], body: list[list[str]], ti: int, cfg: Any
               ) -> tuple[str, list[str], dict[str, np.ndarray], str, int]:
    """A CSV in long format (one row per series and time, ``data.id_column`` naming the series) as one
    column per series: named by its id (by ``value[id]`` with several value columns), the times the
    union of every series' times in order, a time a series lacks a missing value (``data.impute``
    decides). Covariates are not taken in this layout: they would be per series."""
    if cfg.id_column not in header:
        raise DataError(f"{path}: id column {cfg.id_column!r} not in header {header}")
    if cfg.past_covariates or cfg.known_covariates:
        raise DataError(f"{path}: data.id_column (long format) takes no covariates; give one row per time and "
                        "a column per series and covariate instead")
    ii = header.index(cfg.id_column)
    values = list(cfg.target_columns) or [h for j, h in enumerate(header) if j not in (ti, ii)]
    for c in values:
        if c not in header or c in (header[ti], cfg.id_column):
            raise DataError(f"{path}: value column {c!r} not in header {header} (besides the time and id columns)")
    at = [(c, header.index(c)) for c in values]
    ids, times, cells = [], [], {c: [] for c in values}
    for r, row in enumerate(body, start=2):
        row = row + [""] * (len(header) - len(row))
        sid = row[ii].strip()
        if not sid:
            raise DataError(f"{path}:{r}: empty id in column {cfg.id_column!r}")
        ids.append(sid)
        times.append(row[ti].strip())
        for c, j in at:
            v = row[j].strip()
            cells[c].append(_cell(v))
            if cells[c][-1] is None:
                raise DataError(f"{path}:{r}: column {c!r} holds {v!r}, not a number")
    order, cols = pivot_long(ids, times, {c: np.asarray(v) for c, v in cells.items()}, cfg.freq,
                             [f"{path}:{r}" for r in range(2, len(body) + 2)])
    log.info("%s: long format, %d series by %r over %d times", path, len(set(ids)), cfg.id_column, len(order))
    return path.stem, order, cols, cfg.freq, cfg.seasonal_period


def pivot_long(ids: list[str], times: list[str], values: dict[str, np.ndarray], freq: str, where: list[str]
               ) -> tuple[list[str], dict[str, np.ndarray]]:
    """Rows of (id, time, value columns) as one column per series and value column (:func:`long_name`), over
    the union of the rows' times ordered by time (``freq``; inferred when ""), a time a series lacks NaN. A
    repeated (id, time) is an error naming its row (``where``). The CSV reader and the estimator both pivot
    here, so the two name and order the series alike."""
    order = list(dict.fromkeys(times))
    order = [order[i] for i in np.argsort(to_ordinal(order, freq or infer_freq(order)), kind="stable")]
    series = list(dict.fromkeys(ids))
    at = {w: i for i, w in enumerate(order)}
    of = {s: k for k, s in enumerate(series)}
    row, col = np.array([at[w] for w in times]), np.array([of[s] for s in ids])
    seen: set[int] = set()
    for i, key in enumerate((row * len(series) + col).tolist()):
        if key in seen:
            raise DataError(f"{where[i]}: series {ids[i]!r} has time {times[i]!r} twice")
        seen.add(key)
    cols = {}
    for c, v in values.items():
        grid = np.full((len(order), len(series)), np.nan)
        grid[row, col] = v
        cols.update({long_name(c, s, len(values)): grid[:, k] for k, s in enumerate(series)})
    return order, cols


def _read_bundled(cfg: Any) -> tuple[str, list[str], dict[str, np.ndarray], str, int]:
    from rnnkit.data.registry import load_dataset  # lazy: the registry pulls every parser

    s = load_dataset(cfg.source)
    values = s.values.reshape(len(s.values), -1)
    cols = {c: values[:, j] for j, c in enumerate(s.columns)}
    return s.name, list(s.time), cols, cfg.freq or s.freq, cfg.seasonal_period or s.seasonal_period


def _check_values(name: str, times: list[str], arr: np.ndarray, names: list[str], impute: str) -> np.ndarray:
    if np.isinf(arr).any():
        r, c = np.argwhere(np.isinf(arr))[0]
        raise DataError(f"{name}: infinite value in column {names[c]!r} at {times[r]!r}; the series must be "
                        "finite numbers (replace it, or leave the cell empty and set data.impute=interpolate)")
    bad = np.isnan(arr)
    if bad.any() and impute == "error":
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{name}: {int(bad.sum())} missing (NaN) value(s), first in column {names[c]!r} at "
                        f"{times[r]!r}; clean the data or set data.impute=interpolate")
    if bad.any():
        idx = np.arange(len(arr))
        for c in range(arr.shape[1]):
            if bad[:, c].all():
                raise DataError(f"{name}: column {names[c]!r} has no values")
            arr[bad[:, c], c] = np.interp(idx[bad[:, c]], idx[~bad[:, c]], arr[~bad[:, c], c])
        log.info("%s: %d missing values filled by linear interpolation", name, int(bad.sum()))
    return arr


def load_frame(cfg: Any, table: tuple | None = None) -> Frame:
    """Read the source (or take ``table`` = (name, times, {column: values}, freq, period), e.g. a
    DataFrame given to an estimator), pick the columns, check the time axis and values (clear errors)."""
    if table is None:
        is_file = cfg.source.endswith(".csv") or Path(cfg.source).is_file()
        table = (_read_csv if is_file else _read_bundled)(cfg)
    name, times, cols, freq, period = table
    covs = set(cfg.past_covariates) | set(cfg.known_covariates)
    # in long format (data.id_column) the target columns were pivoted to one column per series already
    targets = (not getattr(cfg, "id_column", "") and list(cfg.target_columns)) or [c for c in cols if c not in covs]
    for c in targets + sorted(covs):
        if c not in cols:
            raise DataError(f"{name}: column {c!r} not found (numeric columns: {', '.join(cols)})")
    if not targets:
        raise DataError(f"{name}: no target column; set data.target_columns")
    freq = freq or infer_freq(times)
    ordinal = to_ordinal(times, freq)
    gaps = check_regular(ordinal, times)
    table = np.stack([cols[c] for c in targets + list(cfg.past_covariates) + list(cfg.known_covariates)], 1)
    names = targets + list(cfg.past_covariates) + list(cfg.known_covariates)
    if gaps:
        if cfg.impute == "error":
            i = gaps[0]
            raise DataError(f"{name}: {len(gaps)} gap(s) of missing timestamps for freq {freq!r}, first between "
                            f"{times[i]!r} and {times[i + 1]!r}; fill them or set data.impute=interpolate")
        span = int(ordinal[-1] - ordinal[0]) + 1
        if span > 10 * len(ordinal) + 1000:  # a stray timestamp far away would fill millions of rows
            raise DataError(f"{name}: filling the gaps for freq {freq!r} would turn {len(ordinal)} rows into {span} "
                            f"(from {times[0]!r} to {times[-1]!r}); check the time column or set data.freq")
        full = np.arange(ordinal[0], ordinal[-1] + 1)
        filled = np.full((len(full), table.shape[1]), np.nan)
        filled[ordinal - ordinal[0]] = table
        known_t = dict(zip(ordinal.tolist(), times))
        times = [known_t.get(int(o), f"step{int(o)}") for o in full]
        ordinal, table = full, filled
    table = _check_values(name, times, table, names, cfg.impute)
    k, p = len(targets), len(cfg.past_covariates)
    return Frame(name, times, ordinal, freq, period or default_period(freq), table[:, :k], targets,
                 table[:, k:k + p], list(cfg.past_covariates), table[:, k + p:], list(cfg.known_covariates))


def window_indices(origins: np.ndarray, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the context ``(N, C)`` and horizon ``(N, H)`` of windows at ``origins``."""
    origins = np.asarray(origins, dtype=np.int64)[:, None]
    return origins + np.arange(-context, 0), origins + np.arange(horizon)


@dataclass
class Windows:
    """Scaled arrays of one frame plus the row boundaries of the splits."""

    z: np.ndarray  # (T, K) scaled targets
    past: np.ndarray  # (T, P) scaled past covariates
    known: np.ndarray  # (T + extra, F) scaled known features (calendar extends past the end)
    n_fit: int  # rows the scalers and training windows may use
    n_train: int  # rows before the test tail
    context: int
    horizon: int

    def batch(self, origins: np.ndarray, series: np.ndarray, with_target: bool = True) -> dict[str, torch.Tensor]:
        """Window tensors for (origin, series) pairs: all at once, no Python loop over windows."""
        ctx, hor = window_indices(origins, self.context, self.horizon)
        if ctx.min() < 0:
            raise DataError(f"a window at origin {int(origins.min())} needs {self.context} context rows before it")
        if hor.max() >= len(self.known):
            raise DataError(f"horizon {self.horizon} from origin {int(origins.max())} runs past the available "
                            f"known-future features ({len(self.known)} rows)")
        s = np.asarray(series)[:, None]
        x = np.concatenate([self.z[ctx, s][..., None], self.past[ctx], self.known[ctx]], axis=-1)
        out = {"x": torch.tensor(x, dtype=torch.float32),
               "xf": torch.tensor(self.known[hor], dtype=torch.float32),
               "sid": torch.tensor(np.asarray(series), dtype=torch.long)}
        if with_target:
            if hor.max() >= len(self.z):
                raise DataError(f"horizon {self.horizon} from origin {int(origins.max())} runs past the data "
                                f"end ({len(self.z)} rows)")
            out["y"] = torch.tensor(self.z[hor, s], dtype=torch.float32)
        return out


def pairs(origins: np.ndarray, n_series: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (origin, series) combination, origin-major."""
    o, s = np.meshgrid(np.asarray(origins), np.arange(n_series), indexing="ij")
    return o.ravel(), s.ravel()


class ForecastTrainData:
    """`fit()`'s training data: shuffled mini-batches of the training windows (no carried state)."""

    carries_state = False

    def __init__(self, windows: Windows, origins: np.ndarray, n_series: int, batch_size: int, seed: int) -> None:
        o, s = pairs(origins, n_series)
        self.all = windows.batch(o, s)
        self.n, self.batch_size, self.seed = len(o), batch_size, seed

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        perm = torch.randperm(self.n, generator=g)
        for i, b in enumerate(range(0, self.n, self.batch_size)):
            if i >= start:
                idx = perm[b:b + self.batch_size]
                yield {k: v[idx] for k, v in self.all.items()}
