"""scikit-learn compatibility: parameters, clone, the estimator checks that apply to sequence
models, and a classifier inside Pipeline + GridSearchCV / cross_val_score."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone

from rnnkit.estimators import Forecaster, LanguageModel, Seq2Seq, SequenceClassifier, SequenceRegressor

# What sklearn's checks mean by "features" is columns of a 2-D table; for a sequence model a 2-D
# (N, T) array is N series of T steps, and any T is valid at predict time (that is the point of an
# RNN). n_features_in_ is therefore the number of features per step, and these checks cannot apply.
NOT_SEQUENCES = {
    "check_n_features_in": "n_features_in_ counts features per step; X.shape[1] is the sequence length",
    "check_n_features_in_after_fitting": "a sequence model accepts any length T at predict time",
    "check_classifiers_train": "its last part feeds a shorter sequence at predict, which is valid for an RNN; "
                               "accuracy, shapes and probabilities are checked before that",
}
# float32 convolutions (the FCN branch of the data-aware default for numeric series) round differently
# for different batch sizes: predictions on a subset agree to ~1e-6, not sklearn's 1e-7
FLOAT32 = {"check_methods_subset_invariance": "float32 batched convolutions agree to ~1e-6 across batch sizes"}


@pytest.mark.parametrize("cls", [SequenceClassifier, SequenceRegressor, Forecaster, LanguageModel, Seq2Seq])
def test_params_round_trip_and_clone(cls) -> None:
    est = cls(hidden_size=24, lr=3e-3, overrides=("train.warmup_steps=5",))
    params = est.get_params()
    assert params["hidden_size"] == 24 and params["lr"] == 3e-3
    twin = clone(est)
    assert twin.get_params() == params and twin is not est
    twin.set_params(hidden_size=8)
    assert twin.hidden_size == 8 and est.hidden_size == 24
    cfg = twin._config()  # every parameter maps to a config key
    assert cfg.model.hidden_size == 8 and cfg.train.lr == 3e-3 and cfg.train.warmup_steps == 5
    for name, value in cls().get_params().items():
        assert value is None or name in ("recipe", "overrides", "verbose"), name


def test_unknown_values_are_rejected_by_the_config() -> None:
    from rnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="model.pooling='median' is not valid"):
        SequenceClassifier(pooling="median", verbose=0).fit(np.zeros((4, 3, 1)), [0, 1, 0, 1])


@pytest.mark.parametrize("est", [
    SequenceClassifier(hidden_size=16, epochs=20, verbose=0, random_state=0),
    SequenceRegressor(hidden_size=16, pooling="attention", lr=2e-2, epochs=30, early_stopping_patience=0, verbose=0,
                      random_state=0),
], ids=["classifier", "regressor"])
def test_sklearn_estimator_checks(est) -> None:
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(est, expected_failed_checks={**NOT_SEQUENCES, **FLOAT32}, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 45


def test_pipeline_grid_search_and_cross_validation() -> None:
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 12)).astype(np.float32)
    y = (np.cumsum(X, 1)[:, -4:].mean(1) > 0).astype(int)
    pipe = make_pipeline(FunctionTransformer(lambda a: a[:, :, None] * 2.0),
                         SequenceClassifier(frontend="none", pooling="last", normalize="none", batch_size=32, epochs=12,
                                            verbose=0, random_state=0))
    grid = GridSearchCV(pipe, {"sequenceclassifier__hidden_size": [4, 24], "sequenceclassifier__lr": [1e-2]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["sequenceclassifier__hidden_size"] in (4, 24) and grid.best_score_ > 0.7
    scores = cross_val_score(pipe.set_params(sequenceclassifier__hidden_size=24, sequenceclassifier__lr=1e-2),
                             X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.7
