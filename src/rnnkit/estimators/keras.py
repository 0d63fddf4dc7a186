"""`KerasModel`: a trained Keras model as an rnnkit estimator (``rnnkit.from_keras(path)``).

    model = rnnkit.from_keras("model.keras")       # Embedding / SimpleRNN / LSTM / GRU / ... -> rnnkit layers
    model.predict(x)                               # numpy in, numpy out, as keras.Model.predict
    model.fit(x, y, epochs=2)                      # fine-tune with rnnkit's fit() (loss from the last activation)
    model.save("runs/imported"); rnnkit.load("runs/imported")

The conversion is :mod:`rnnkit.interop.keras` (``rnnkit import-keras`` on the command line); the
network is :class:`rnnkit.models.sequential.SequentialNet`, whose recurrent layers are rnnkit
``Stack``s on rnnkit's own kernels.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.errors import DataError
from rnnkit.estimators.base import Estimator
from rnnkit.train.history import History


class ArrayBatches:
    """``(x, y)`` mini-batches of equal-shape arrays for ``fit()``, shuffled per epoch by ``(seed, epoch)``."""

    carries_state = False

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        self.x, self.y, self.batch_size, self.seed = x, y, batch_size, seed

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.from_numpy(np.random.default_rng([self.seed, epoch]).permutation(len(self.x)))
        for b in range(start, len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.x[idx], self.y[idx]


class KerasModel(Estimator):
    """An imported Keras model: ``predict`` as Keras, ``fit`` fine-tunes, ``save`` writes a model directory.

    ``path`` is the ``.keras`` / ``.h5`` file; the training parameters (``epochs``, ``batch_size``,
    ``lr``, ``optimizer``, ``max_steps``, ``max_minutes``, ``random_state``) apply to fine-tuning.
    """

    _task = "keras"
    _not_config = Estimator._not_config | {"path"}
    _defaults = ("train.max_steps=none", "train.epochs=1", "train.eval_every=none", "train.lr=1e-3")

    def __init__(self, path: str | None = None, epochs: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, optimizer: str | None = None, max_steps: int | None = None,
                 max_minutes: float | None = None, random_state: int | None = None, recipe: Any = None,
                 overrides: tuple[str, ...] = (), verbose: int | str = "auto") -> None:
        self._store(locals())

    def _import(self) -> KerasModel:
        from rnnkit.interop.keras import load_keras

        if self.path is None:
            raise DataError("KerasModel needs path= (a .keras or .h5 file), or use rnnkit.load on a model directory")
        net = load_keras(self.path)
        cfg = self._config(source=str(self.path))
        self._adopt(net, cfg, {"layers.json": net.to_dict()}, History(), {}, None)
        return self

    def predict(self, X: Any, batch_size: int = 256) -> Any:
        """The model's outputs for ``X`` (an array as Keras's ``predict`` takes), in eval mode."""
        if not hasattr(self, "model_"):
            self._import()
        return self.model_.predict(X, batch_size)

    def fit(self, X: Any, y: Any, *, epochs: int | None = None, batch_size: int | None = None,
            validation_data: tuple[Any, Any] | None = None, callbacks: Any = (),
            verbose: int | str | None = None) -> KerasModel:
        """Fine-tune on arrays ``(X, y)`` (integer ids or floats as the model's input; class indices,
        0/1 or values as its output) with rnnkit's ``fit()``; the best weights on ``validation_data``
        (else the training data) are kept."""
        from rnnkit.display import reporters_for
        from rnnkit.train.fit import fit

        if not hasattr(self, "model_"):
            self._import()
        cfg = self._config(epochs=epochs, batch_size=batch_size)
        net = self.model_
        dtype = torch.long if net.takes_ids else torch.float32
        as_x = lambda a: torch.as_tensor(np.asarray(a), dtype=dtype)  # noqa: E731
        data = ArrayBatches(as_x(X), torch.as_tensor(np.asarray(y)), cfg.train.batch_size, cfg.train.seed)
        vx, vy = validation_data if validation_data is not None else (X, y)
        val = (as_x(vx), torch.as_tensor(np.asarray(vy)))
        evaluate = lambda m: {"val_loss": float(m.loss(val)[0])}  # noqa: E731
        history = History()
        shown = reporters_for(self.verbose if verbose is None else verbose, {"accuracy": "acc"})
        net.train()
        self.fit_result_ = fit(net, data, cfg.train, evaluate=evaluate, callbacks=[history, *shown, *callbacks])
        self._adopt(net, cfg, self.artifacts_, history, {}, None)
        return self


def from_keras(path: str | Path) -> KerasModel:
    """A trained Keras model (``.keras`` or legacy ``.h5``) as an rnnkit estimator, ready to predict."""
    return KerasModel(path=str(path))._import()


__all__ = ["ArrayBatches", "KerasModel", "from_keras"]
