"""Regression metrics: RMSE, MAE and R² over every target value (flattened), in the targets' own units."""

from __future__ import annotations

from typing import Any

import numpy as np


def regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """rmse, mae and r2 (1 - SSE / SST around the true values' mean, as scikit-learn's r2_score with
    every output pooled) of arrays of equal shape."""
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    err = p - t
    sst = float(((t - t.mean()) ** 2).sum()) if len(t) else 0.0
    return {"rmse": float(np.sqrt((err ** 2).mean())) if len(t) else float("nan"),
            "mae": float(np.abs(err).mean()) if len(t) else float("nan"),
            "r2": 1.0 - float((err ** 2).sum()) / sst if sst > 0 else float("nan")}


__all__ = ["regression_scores"]
