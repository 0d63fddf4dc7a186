"""The ``keras`` task: a model imported from Keras (``rnnkit import-keras``), loadable with ``tasks.load_run``.

An imported model is not trained by a recipe: its architecture is the ``layers.json`` artifact
written by :func:`rnnkit.interop.keras.import_keras` and its weights came from Keras. ``build_model``
rebuilds it from the model directory, so ``rnnkit.load(dir)`` gives a
:class:`~rnnkit.estimators.keras.KerasModel` that predicts and fine-tunes (``fit(x, y)``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from torch import nn

from rnnkit.config import RunConfig
from rnnkit.errors import ConfigError
from rnnkit.interop.keras import KerasSourceConfig
from rnnkit.models.sequential import SequentialNet, SequentialNetConfig
from rnnkit.tasks import TaskSpec

_NO_DATA = ("task 'keras' holds a model imported from Keras (rnnkit import-keras); it has no data pipeline: "
            "use it from Python: rnnkit.load(dir).predict(x), or fine-tune with rnnkit.load(dir).fit(x, y)")


def prepare_data(cfg: RunConfig, raw: Any = None) -> NoReturn:
    raise ConfigError(_NO_DATA)


def artifacts(bundle: Any) -> NoReturn:
    raise ConfigError(_NO_DATA)


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> SequentialNet:
    if "layers.json" not in arts:
        raise ConfigError("an imported Keras model directory needs its layers.json artifact (re-run import-keras)")
    return SequentialNet.from_dict(arts["layers.json"])


def validate(model: nn.Module, bundle: Any) -> NoReturn:
    raise ConfigError(_NO_DATA)


def evaluate(model: nn.Module, bundle: Any, cfg: RunConfig) -> NoReturn:
    raise ConfigError(_NO_DATA)


TASK = TaskSpec(
    name="keras", description="a model imported from a Keras .keras / .h5 file (rnnkit import-keras)",
    model_config_cls=SequentialNetConfig, data_config_cls=KerasSourceConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="keras",
    estimator="rnnkit.estimators.keras:KerasModel",
)

__all__ = ["TASK"]
