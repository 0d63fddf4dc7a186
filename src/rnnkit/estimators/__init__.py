"""The Python API: one scikit-learn / Keras style estimator per task (fit / predict / evaluate / save)."""

from rnnkit.estimators.base import Estimator, estimator_class, load
from rnnkit.estimators.classifier import SequenceClassifier
from rnnkit.estimators.forecaster import Forecaster
from rnnkit.estimators.language import CharLM, LanguageModel
from rnnkit.estimators.regressor import SequenceRegressor
from rnnkit.estimators.seq2seq import Seq2Seq

__all__ = ["CharLM", "Estimator", "Forecaster", "LanguageModel", "Seq2Seq", "SequenceClassifier", "SequenceRegressor",
           "estimator_class", "load"]
