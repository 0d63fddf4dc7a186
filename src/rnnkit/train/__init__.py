"""Training: `fit()` (the only loop), optimisers, schedules, progress reporting, plots."""

from rnnkit.train.fit import TrainData, fit
from rnnkit.train.progress import FitResult, ProgressReporter

__all__ = ["fit", "FitResult", "ProgressReporter", "TrainData"]
