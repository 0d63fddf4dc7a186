"""Per-column scalers for forecasting, fitted on the training part only and saved as JSON.

Every kind is an increasing map ``z = (f(x) - a) / b``, so quantiles (prediction intervals) map
back exactly through :meth:`Scaler.inverse`:

==========  =================  ========================================================
kind        f(x)               a, b (from the training part of each column)
==========  =================  ========================================================
none        x                  0, 1
standard    x                  mean, std
minmax      x                  min, max - min
log1p       log(1 + x)         mean, std of log(1 + x)  (multiplicative seasonality and
                                growth become additive; needs x > -1, i.e. positive series)
==========  =================  ========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.data.tables import json_artifact, json_choice, json_floats
from rnnkit.errors import DataError

SCALERS = ("none", "standard", "minmax", "log1p")


@dataclass(frozen=True)
class Scaler:
    """Column-wise affine map after an optional log1p; ``a``/``b`` have one entry per column."""

    kind: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    columns: tuple[str, ...] = ()

    @classmethod
    def fit(cls, x: np.ndarray, kind: str, columns: tuple[str, ...] = ()) -> Scaler:
        """Fit on ``x`` (T, K) -- pass ONLY the training rows, never the held-out part."""
        if kind not in SCALERS:
            raise DataError(f"unknown scaler {kind!r}; valid: {', '.join(SCALERS)}")
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if len(x) == 0:
            raise DataError("cannot fit a scaler on zero training rows")
        names = columns or tuple(str(i) for i in range(x.shape[1]))
        if kind == "log1p":
            lo = x.min(axis=0)
            bad = [f"{n!r} (min {m:g})" for n, m in zip(names, lo) if m <= -1]
            if bad:
                raise DataError(f"scaler 'log1p' needs values > -1 (a positive series); column(s) "
                                f"{', '.join(bad)} are not; use data.scaler=standard")
            x = np.log1p(x)
        if kind == "none":
            a, b = np.zeros(x.shape[1]), np.ones(x.shape[1])
        elif kind == "minmax":
            a, b = x.min(axis=0), x.max(axis=0) - x.min(axis=0)
        else:
            a, b = x.mean(axis=0), x.std(axis=0)
        b = np.where(b > 1e-12, b, 1.0)  # a constant column is only shifted
        return cls(kind, tuple(float(v) for v in a), tuple(float(v) for v in b), tuple(names))

    def transform(self, x: np.ndarray, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Scale ``x`` (..., K) (or the columns ``cols`` of the fitted ones)."""
        a, b = np.asarray(self.a)[cols], np.asarray(self.b)[cols]
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "log1p":
            x = np.log1p(x)
        return (x - a) / b

    def inverse(self, z: np.ndarray, cols: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Undo :meth:`transform`; ``cols`` selects which fitted columns ``z``'s last axis holds."""
        a, b = np.asarray(self.a)[cols], np.asarray(self.b)[cols]
        x = np.asarray(z, dtype=np.float64) * b + a
        return np.expm1(x) if self.kind == "log1p" else x

    def to_dict(self) -> dict:
        return {"kind": self.kind, "a": list(self.a), "b": list(self.b), "columns": list(self.columns)}

    @classmethod
    @json_artifact("scaler.json")
    def from_dict(cls, d: dict) -> Scaler:
        kind = json_choice(d["kind"], "scaler.json kind", SCALERS)
        a = json_floats(d["a"], "scaler.json a", empty_ok=True)  # no covariates: an empty scaler
        b = json_floats(d["b"], "scaler.json b", len(a), positive=True, empty_ok=True)
        columns = d.get("columns", [])
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise DataError(f"scaler.json columns: expected a list of column names, got {str(columns)[:40]}")
        return cls(kind, tuple(a.tolist()), tuple(b.tolist()), tuple(columns))
