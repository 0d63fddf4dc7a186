"""`SequenceClassifier`: many-to-one classification of texts, series, images read as rows, token ids.

    clf = rnnkit.SequenceClassifier(cell="lstm", hidden_size=64, bidirectional=True)
    clf.fit(X_train, y_train, epochs=10, batch_size=32, validation_split=0.1)
    clf.predict(X_test); clf.predict_proba(X_test); clf.score(X_test, y_test)
    clf.evaluate(X_test, y_test)      # test metrics beside majority and TF-IDF/1-NN baselines

The network is :class:`rnnkit.models.classifier.SequenceClassifier` (embedding or raw features ->
optional Conv1d front-end -> recurrent Stack -> pooling -> linear), trained by the classify task's
flow: the same code ``rnnkit train classify`` runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin

from rnnkit.data.classify_sources import RawClassData
from rnnkit.errors import DataError
from rnnkit.estimators.base import IN_MEMORY, Estimator
from rnnkit.estimators.sequences import SequenceInputs, check_labels, json_scalar, where


class SequenceClassifier(SequenceInputs, ClassifierMixin, Estimator):
    """A recurrent sequence classifier with ``fit`` / ``predict`` / ``predict_proba`` / ``score`` / ``evaluate``.

    Model: ``cell`` (rnn, rnn_relu, lstm, gru, peephole_lstm, layernorm_lstm, layernorm_gru, mingru,
    minlstm), ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout`` (between layers),
    ``input_dropout``, ``embed_dim`` (text / token ids), ``frontend`` ("none" | "conv": a CNN-RNN with
    ``conv_channels``, ``conv_kernel``, ``conv_layers``, ``conv_pool``), ``pooling`` ("last", "mean",
    "max", "attention"), ``head_dropout``, ``class_weights`` ("none" | "balanced"), ``combine`` ("auto", the
    data-aware default for texts and series: the network, its kind's baseline (TF-IDF + LR, 1-NN DTW) or their
    mean, whichever is most accurate on validation; "none": the network alone), ``ensemble`` (members averaged),
    ``impl`` (kernel choice; "auto" explains itself). Data: ``tokenizer``
    ("word" | "char"), ``lowercase``, ``min_freq``, ``max_vocab``, ``max_len``, ``normalize``
    ("none" | "per_series" | "global"). Training: ``epochs``, ``batch_size``, ``lr``, ``optimizer``,
    ``weight_decay``, ``max_steps``, ``max_minutes``, ``early_stopping_patience`` (evaluations),
    ``grad_clip``, ``validation_split``, ``device``, ``random_state``. ``None`` keeps the default;
    ``recipe`` starts from a shipped recipe; ``overrides`` sets any other config key.

    Fitted attributes: ``classes_``, ``n_features_in_`` (features per step), ``model_`` (the torch
    module), ``config_`` (the resolved run config), ``history_``, ``artifacts_``.
    """

    _task = "classify"
    _aliases = {**Estimator._aliases, "random_state": ("train.seed", "data.split_seed"),
                "validation_split": ("data.val_fraction",)}
    _defaults = ("data.source=" + IN_MEMORY,)  # the rest: data-aware (rnnkit.defaults)

    def __init__(self, cell: str | None = None, hidden_size: int | None = None, num_layers: int | None = None,
                 bidirectional: bool | None = None, dropout: float | None = None, input_dropout: float | None = None,
                 embed_dim: int | None = None, frontend: str | None = None, conv_channels: int | None = None,
                 conv_kernel: int | None = None, conv_layers: int | None = None, conv_pool: int | None = None,
                 pooling: str | None = None, head_dropout: float | None = None, class_weights: str | None = None,
                 combine: str | None = None, ensemble: int | None = None, impl: str | None = None,
                 tokenizer: str | None = None,
                 lowercase: bool | None = None, min_freq: int | None = None, max_vocab: int | None = None,
                 max_len: int | None = None, normalize: str | None = None, epochs: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, optimizer: str | None = None,
                 weight_decay: float | None = None, max_steps: int | None = None, max_minutes: float | None = None,
                 early_stopping_patience: int | None = None, grad_clip: float | None = None,
                 validation_split: float | None = None, device: str | None = None, random_state: int | None = None,
                 recipe: Any = None, overrides: tuple[str, ...] = (), verbose: int | str = "auto") -> None:
        self._store(locals())

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None, *, validation_data: tuple[Any, Any] | None = None,
            validation_split: float | None = None, epochs: int | None = None, batch_size: int | None = None,
            max_minutes: float | None = None, callbacks: Any = (), verbose: int | str | None = None,
            tune: str | float | None = None, top_k: int = 1, out: Any = None) -> SequenceClassifier:
        """Train on examples ``X`` (see :mod:`rnnkit.estimators.inputs`) with labels ``y``.

        ``validation_data=(X_val, y_val)`` or ``validation_split`` (a stratified fraction of the
        training data; default 0.1, 0 validates on the training data) picks the best checkpoint and
        drives early stopping; encoders are fitted on the training part only. ``out`` also writes the
        run's checkpoints there. ``tune="15m"`` searches first (:mod:`rnnkit.tune`); with ``top_k=K`` the K best
        configurations are trained and their class probabilities averaged (``members_``, ``ensemble_``).
        Returns ``self``; ``history_`` holds the curves."""
        items, labels = self._examples(X, y)
        labels = check_labels(labels)
        if len(set(map(str, labels))) < 2:
            raise DataError(f"y holds one class only ({labels[0]!r}); a classifier needs at least 2 classes")
        self.classes_ = np.unique(np.asarray(labels, dtype=object if _mixed(labels) else None))
        names = [str(c) for c in self.classes_]
        if len(set(names)) != len(names):
            raise DataError(f"y: labels {list(self.classes_)} are not distinct as text; use one type of label")
        raw = RawClassData(self._kind(items), items, [str(v) for v in labels], [], [], where("X", len(items)), [],
                           IN_MEMORY, label_order=names, label_values=[json_scalar(c) for c in self.classes_])
        if validation_data is not None:
            vx, vy = self._examples(*validation_data, what="validation_data")
            raw.val_x, raw.val_y, raw.val_where = vx, [str(v) for v in vy], where("validation_data", len(vx))
        self._train(raw, out=out, callbacks=callbacks, verbose=verbose, tune=tune, top_k=top_k, epochs=epochs,
                    batch_size=batch_size, max_minutes=max_minutes, validation_split=validation_split)
        return self

    def _adopt(self, model: Any, cfg: Any, artifacts: dict[str, dict], *args: Any) -> None:
        super()._adopt(model, cfg, artifacts, *args)
        lab = artifacts["labels.json"]
        self.classes_ = np.asarray(lab.get("values") or lab["names"])
        self.n_features_in_ = lab.get("input_size") or 1

    # ------------------------------------------------------------------ predict
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` in the order of ``classes_`` (eval mode, batched); a tuned
        top-k ensemble averages its members' (each encodes ``X`` its own way)."""
        p = self._own_proba(X)  # first: it checks that the estimator is fitted
        members = getattr(self, "members_", [])
        return (p + sum(m.predict_proba(X) for m in members)) / (1 + len(members)) if members else p

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each example, as the labels given to ``fit``."""
        index = self.predict_proba(X).argmax(-1)  # first: it checks that the estimator is fitted
        return self.classes_[index]

    def _own_proba(self, X: Any) -> np.ndarray:
        """This model's class probabilities (the network's, combined with its baseline member when it has one)."""
        from rnnkit.apps.classify_combine import probabilities

        items, seqs = self._encode(X, with_items=True)  # checks that the estimator is fitted first
        return probabilities(self.model_, seqs, items, self.artifacts_["labels.json"]["kind"],
                             self.config_.data.eval_batch_size).astype(np.float32)

    # ------------------------------------------------------------------ evaluate
    def evaluate(self, X: Any, y: Any) -> dict[str, Any]:
        """Test accuracy, macro-F1 and confusion matrix on ``(X, y)`` beside the baselines (majority,
        TF-IDF + logistic regression for text, 1-NN DTW / Euclidean for series) fitted on the same
        training data; ``below_majority`` flags a model no better than guessing. A tuned top-k ensemble is
        scored as ``predict`` answers (its members' mean probabilities); ``best_member`` holds the best
        configuration's own scores."""
        from rnnkit.apps.classify import evaluate as evaluate_task
        from rnnkit.apps.classify import with_test

        self._check_fitted()
        items, labels = self._examples(X, y)
        bundle = self._training_bundle()
        if bundle is None:
            return self._evaluate_without_baselines(items, labels)
        test = with_test(bundle, items, [str(v) for v in labels], where("X", len(items)))
        if not getattr(self, "members_", []):
            return evaluate_task(self.model_, test, self.config_)
        from rnnkit.evaluation.classification import scores

        alone = scores(test.test[1], self._own_proba(items).argmax(-1), len(self.classes_))
        out = evaluate_task(self.model_, test, self.config_, pred=self.predict_proba(items).argmax(-1))
        out["best_member"] = {"test_accuracy": alone["accuracy"], "test_macro_f1": alone["macro_f1"]}
        return out

    def _evaluate_without_baselines(self, items: list[Any], labels: list[Any]) -> dict[str, Any]:
        from rnnkit.evaluation.classification import scores

        index = {str(c): i for i, c in enumerate(self.classes_)}
        unknown = sorted({str(v) for v in labels} - set(index))
        if unknown:
            raise DataError(f"y: label(s) {unknown} never occur in the training data (classes: {list(self.classes_)})")
        y = np.asarray([index[str(v)] for v in labels])
        pred = self.predict_proba(items).argmax(-1)
        s = scores(y, pred, len(self.classes_))
        return {"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"],
                "confusion_matrix": s["confusion_matrix"], "labels": [str(c) for c in self.classes_],
                "n_test": len(y), "baselines": {},
                "note": "baselines need the training data: evaluate in the session that called fit"}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # lists of texts
        return tags


def _mixed(labels: list[Any]) -> bool:
    return len({type(v) for v in labels}) > 1


__all__ = ["SequenceClassifier"]
