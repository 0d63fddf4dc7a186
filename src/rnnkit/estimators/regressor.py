"""`SequenceRegressor`: one value (or several) per sequence, or one per step, from series, texts or ids.

    reg = rnnkit.SequenceRegressor(cell="gru", hidden_size=64)
    reg.fit(X, y, epochs=30)          # y (N,) or (N, K): many-to-one; y[i] (T_i,) or (T_i, K): per step
    reg.predict(X); reg.score(X, y)   # R², as scikit-learn
    reg.evaluate(X, y)                # RMSE / MAE / R² beside the training mean and ridge regression

The network is :class:`rnnkit.models.regressor.SequenceRegressor`, trained by the regress task's
flow (``rnnkit train regress`` runs the same code).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin

from rnnkit.data.classify_sources import RawClassData
from rnnkit.estimators.base import IN_MEMORY, Estimator
from rnnkit.estimators.sequences import SequenceInputs, where


class SequenceRegressor(SequenceInputs, RegressorMixin, Estimator):
    """A recurrent sequence regressor with ``fit`` / ``predict`` / ``score`` (R²) / ``evaluate``.

    Parameters are those of :class:`~rnnkit.estimators.SequenceClassifier` (without
    ``class_weights``) plus ``loss`` ("mse", "mae", "huber") and ``per_step`` (None: decided from
    the targets: one per input step of every example means many-to-many). Targets are standardised
    on the training part; predictions come back in their units.

    Fitted attributes: ``n_outputs_``, ``per_step_``, ``n_features_in_``, ``model_``, ``config_``,
    ``history_``, ``artifacts_``.
    """

    _task = "regress"
    _aliases = {**Estimator._aliases, "random_state": ("train.seed", "data.split_seed"),
                "validation_split": ("data.val_fraction",)}
    _defaults = ("data.source=" + IN_MEMORY,)  # the rest: data-aware (rnnkit.defaults)

    def __init__(self, cell: str | None = None, hidden_size: int | None = None, num_layers: int | None = None,
                 bidirectional: bool | None = None, dropout: float | None = None, input_dropout: float | None = None,
                 embed_dim: int | None = None, frontend: str | None = None, conv_channels: int | None = None,
                 conv_kernel: int | None = None, conv_layers: int | None = None, conv_pool: int | None = None,
                 pooling: str | None = None, head_dropout: float | None = None, loss: str | None = None,
                 ensemble: int | None = None, impl: str | None = None, per_step: bool | None = None,
                 tokenizer: str | None = None, lowercase: bool | None = None, min_freq: int | None = None,
                 max_vocab: int | None = None, max_len: int | None = None, normalize: str | None = None,
                 epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
                 optimizer: str | None = None, weight_decay: float | None = None, max_steps: int | None = None,
                 max_minutes: float | None = None, early_stopping_patience: int | None = None,
                 grad_clip: float | None = None, validation_split: float | None = None, device: str | None = None,
                 random_state: int | None = None, recipe: Any = None, overrides: tuple[str, ...] = (),
                 verbose: int | str = "auto") -> None:
        self._store(locals())

    def fit(self, X: Any, y: Any = None, *, validation_data: tuple[Any, Any] | None = None,
            validation_split: float | None = None, epochs: int | None = None, batch_size: int | None = None,
            max_minutes: float | None = None, callbacks: Any = (), verbose: int | str | None = None,
            tune: str | float | None = None, out: Any = None) -> SequenceRegressor:
        """Train on examples ``X`` with numeric targets ``y`` (see the module docstring for shapes).

        ``validation_data=(X_val, y_val)`` or ``validation_split`` (a random fraction of the training
        data; default 0.1) picks the best checkpoint and drives early stopping; the input encoder
        and target scaler are fitted on the training part only."""
        items, targets = self._examples(X, y)
        raw = RawClassData(self._kind(items), items, targets, [], [], where("X", len(items)), [], IN_MEMORY)
        if validation_data is not None:
            vx, vy = self._examples(*validation_data, what="validation_data")
            raw.val_x, raw.val_y, raw.val_where = vx, vy, where("validation_data", len(vx))
        return self._train(raw, out=out, callbacks=callbacks, verbose=verbose, tune=tune, epochs=epochs,
                           batch_size=batch_size, max_minutes=max_minutes, validation_split=validation_split)

    def _adopt(self, model: Any, cfg: Any, artifacts: dict[str, dict], *args: Any) -> None:
        super()._adopt(model, cfg, artifacts, *args)
        t = artifacts["targets.json"]
        self.n_outputs_, self.per_step_ = int(t["n_outputs"]), bool(t["per_step"])
        self.n_features_in_ = t.get("input_size") or 1

    def _input_meta(self) -> dict[str, Any]:
        return self.artifacts_["targets.json"]

    def predict(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Predictions in the targets' units: ``(N,)`` (or ``(N, K)``) per sequence; per step, ``(N, T)``
        / ``(N, T, K)`` when every example has T steps, else a list of ``(T_i,)`` / ``(T_i, K)`` arrays."""
        from rnnkit.apps.regress import predict_scaled
        from rnnkit.data.regress import TargetScaler

        self._check_fitted()
        scaler = TargetScaler.from_dict(self.artifacts_["targets.json"])
        preds = [scaler.inverse(p) for p in predict_scaled(self.model_, self._encode(X),
                                                           self.config_.data.eval_batch_size)]
        if self.n_outputs_ == 1:
            preds = [p[..., 0] for p in preds]
        if not self.per_step_ or len({p.shape for p in preds}) == 1:
            return np.stack(preds)
        return preds

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R² over every target value (per step values pooled), as ``sklearn.metrics.r2_score``."""
        if not self.per_step_:
            return super().score(X, y, sample_weight)
        from rnnkit.evaluation.regression import regression_scores

        pred, truth = self.predict(X), self._examples(X, y)[1]
        return regression_scores(np.concatenate([np.ravel(t) for t in truth]),
                                 np.concatenate([np.ravel(p) for p in pred]))["r2"]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # lists of texts
        tags.target_tags.multi_output = True  # y (N, K)
        return tags

    def evaluate(self, X: Any, y: Any) -> dict[str, Any]:
        """Test RMSE / MAE / R² on ``(X, y)`` beside the training mean and ridge regression fitted on
        the same training data; ``below_mean`` flags a model no better than predicting the mean."""
        from rnnkit.apps.regress import evaluate as evaluate_task
        from rnnkit.apps.regress import with_test
        from rnnkit.evaluation.regression import regression_scores

        self._check_fitted()
        items, targets = self._examples(X, y)
        bundle = self._training_bundle()
        if bundle is not None:
            return evaluate_task(self.model_, with_test(bundle, items, targets, where("X", len(items))), self.config_)
        pred = self.predict(items)
        scores = regression_scores(np.concatenate([np.ravel(t) for t in targets]),
                                   np.concatenate([np.ravel(p) for p in pred]))
        return {**{f"test_{k}": v for k, v in scores.items()}, "n_test": len(items), "baselines": {},
                "note": "baselines need the training data: evaluate in the session that called fit"}


__all__ = ["SequenceRegressor"]
