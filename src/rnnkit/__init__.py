"""rnnkit: recurrent neural networks — cells, layers, tasks on real data, a Python API and a CLI.

The Python API is one estimator per task, in the Keras and scikit-learn idiom::

    import rnnkit
    clf = rnnkit.SequenceClassifier(cell="lstm", hidden_size=64).fit(X, y, epochs=10)
    clf.predict(X_test); clf.save("runs/mine"); rnnkit.load("runs/mine")

Estimators: `SequenceClassifier`, `SequenceRegressor`, `Forecaster`, `CharLM` / `LanguageModel`,
`Seq2Seq`; `from_keras` turns a trained Keras model into an rnnkit one. Names are imported on
first use, so `import rnnkit` stays light (no torch until a model is touched).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> "module:attribute", imported on first access
_LAZY = {
    "SequenceClassifier": "rnnkit.estimators.classifier:SequenceClassifier",
    "SequenceRegressor": "rnnkit.estimators.regressor:SequenceRegressor",
    "Forecaster": "rnnkit.estimators.forecaster:Forecaster",
    "LanguageModel": "rnnkit.estimators.language:LanguageModel",
    "CharLM": "rnnkit.estimators.language:CharLM",
    "Seq2Seq": "rnnkit.estimators.seq2seq:Seq2Seq",
    "load": "rnnkit.estimators.base:load",
    "from_keras": "rnnkit.estimators.keras:from_keras",
    "KerasModel": "rnnkit.estimators.keras:KerasModel",
    "History": "rnnkit.train.history:History",
    "callbacks": "rnnkit.callbacks:",
}


def lazy_module(package: str, table: dict[str, str], namespace: dict[str, Any]) -> tuple[Any, Any]:
    """``(__getattr__, __dir__)`` for a package whose public names (``table``: name -> "module:attribute",
    an empty attribute meaning the module itself) are imported on first access and then cached in
    ``namespace`` (the package's globals). Serves ``rnnkit`` and ``rnnkit.explain``."""

    def getattr_(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = table[name].partition(":")
        value = importlib.import_module(module)
        value = getattr(value, attr) if attr else value
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted([*namespace, *table])

    return getattr_, dir_


__getattr__, __dir__ = lazy_module("rnnkit", _LAZY, globals())

__all__ = ["__version__", *_LAZY]
