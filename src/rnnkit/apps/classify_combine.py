"""Text classifiers combined with TF-IDF + logistic regression, chosen on validation data.

A bi-GRU trained for five minutes on a large or a small text set often loses to TF-IDF + logistic
regression, the bar every text run is compared with; a classifier that knows it should not ship the
loser. With ``model.combine = "auto"`` (the data-aware default for texts) the classify task fits the
TF-IDF member on the model's training part after training, scores each candidate of :data:`CANDIDATES`
(the network, the mean of both members' class probabilities, the TF-IDF member alone) on the validation
part and keeps the most accurate (ties: the first in :data:`CANDIDATES`). The member is then fitted again
on every training example and saved with the choice in the artifact ``combine.json`` (its vocabulary as
JSON, its idf and weights as base64 float32: no pickle); every prediction of the model (evaluate, predict,
the estimator, serve) is then that candidate's. The test split is never read. Forecasts have their own
combination with ETS / ARIMA (:mod:`rnnkit.evaluation.combine`).

The member keeps the :data:`MAX_FEATURES` most frequent word 1-2 grams (the reported baseline keeps all):
on the development sets' validation parts (rt-sentiment, reuters-r8) 32,768 features scored as well as all
of them (0.778 vs 0.777, 0.976 vs 0.973), fit 1.5-4x faster and keep ``combine.json`` at a few MB.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import numpy as np
import torch

from rnnkit.errors import ConfigError
from rnnkit.evaluation.classification import scores

log = logging.getLogger(__name__)

COMBINE_FILE = "combine.json"
NETWORK = "network"
#: candidate -> the TF-IDF member's weight in the averaged class probabilities (the network's: 1 - weight);
#: ``auto`` keeps the most accurate on validation, ties going to the first listed
CANDIDATES: dict[str, float] = {NETWORK: 0.0, "mean": 0.5, "tfidf": 1.0}
#: model.combine values: none (the network alone, no member fitted), auto (chosen on validation) or a candidate
CHOICES = ("none", "auto", *CANDIDATES)
TEXT_KINDS = ("text", "tokens")
MAX_FEATURES = 2**15


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, np.float32).tobytes()).decode("ascii")


def _unb64(s: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), np.float32).reshape(shape).astype(np.float64)


def as_texts(kind: str, xs: list[Any]) -> list[str]:
    """What the member reads: texts as they are, token ids as words (``t17``), as the baseline does."""
    if kind == "tokens":
        return [" ".join(f"t{int(i)}" for i in np.asarray(x) if i) for x in xs]
    return [str(x) for x in xs]


class TfidfMember:
    """TF-IDF of word 1-2 grams (sublinear tf, the top :data:`MAX_FEATURES`) + multinomial logistic
    regression, the settings of :func:`rnnkit.baselines.classify.tfidf_logreg`; kept as plain arrays so it
    saves to JSON and predicts without scikit-learn's fitted objects."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[int], n_classes: int) -> None:
        self.vocabulary, self.idf, self.coef, self.intercept = vocabulary, idf, coef, intercept
        self.classes, self.n_classes = classes, n_classes
        self._vec = None

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, n_classes: int, seed: int = 0) -> TfidfMember:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=MAX_FEATURES)
        x = vec.fit_transform(texts)
        clf = LogisticRegression(C=10.0, max_iter=2000, random_state=seed).fit(x, y)
        vocab = [""] * len(vec.vocabulary_)
        for term, i in vec.vocabulary_.items():
            vocab[i] = term
        return cls(vocab, vec.idf_, clf.coef_, clf.intercept_, [int(c) for c in clf.classes_], n_classes)

    def _features(self, texts: list[str]) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.preprocessing import normalize

        if self._vec is None:  # the same analyser (lowercase, 2+ character words, 1-2 grams), fixed vocabulary
            self._vec = CountVectorizer(ngram_range=(1, 2), vocabulary={t: i for i, t in enumerate(self.vocabulary)})
        x = self._vec.transform(texts).astype(np.float64)
        x.data = 1.0 + np.log(x.data)  # sublinear tf
        return normalize(x.multiply(self.idf[None, :]).tocsr())  # l2, as TfidfVectorizer

    def proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities (N, n_classes); a class absent from the member's training data gets 0."""
        z = self._features(texts) @ self.coef.T + self.intercept  # (N, 1) for two classes, else (N, K)
        if z.shape[1] == 1:
            z = np.concatenate([np.zeros_like(z), z], 1)  # binary LR: p(class 1) = sigmoid(z)
        z = np.exp(z - z.max(1, keepdims=True))
        p = np.zeros((len(texts), self.n_classes))
        p[:, self.classes] = z / z.sum(1, keepdims=True)
        return p

    def to_json(self) -> dict[str, Any]:
        return {"vocabulary": self.vocabulary, "idf": _b64(self.idf), "coef": _b64(self.coef),
                "coef_shape": list(self.coef.shape), "intercept": _b64(self.intercept), "classes": self.classes,
                "n_classes": self.n_classes, "dtype": "float32 base64"}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TfidfMember:
        shape = tuple(d["coef_shape"])
        return cls(list(d["vocabulary"]), _unb64(d["idf"], (len(d["vocabulary"]),)), _unb64(d["coef"], shape),
                   _unb64(d["intercept"], (shape[0],)), list(d["classes"]), int(d["n_classes"]))


def combination_of(model: Any) -> tuple[str, TfidfMember | None]:
    """The candidate a classifier predicts with and its TF-IDF member: the config's ``model.combine`` when it
    names one (an evaluation-time ``--set`` too), else the choice saved in ``combine.json``; the network
    alone without a saved member."""
    cfg = getattr(model, "run_config", None)
    how = getattr(getattr(cfg, "model", None), "combine", "none")
    chosen = (getattr(model, "artifacts", None) or {}).get(COMBINE_FILE)
    if how in ("none", NETWORK) or not chosen or chosen.get("member") is None:
        return NETWORK, None
    name = chosen["combination"] if how == "auto" else how
    if name == NETWORK:
        return NETWORK, None
    member = getattr(model, "_tfidf_member", None)
    if member is None:  # decoded once per loaded model (serve answers many requests)
        member = model._tfidf_member = TfidfMember.from_json(chosen["member"])
    return name, member


def probabilities(model: Any, seqs: list[Any], raw: list[Any], kind: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) of a classifier as it predicts: the network's softmax (``seqs`` encoded),
    blended with the TF-IDF member's on the ``raw`` inputs when the model combines them."""
    from rnnkit.apps.classify import predict_logits

    p = torch.softmax(predict_logits(model, seqs, batch_size), -1).double().numpy()
    name, member = combination_of(model)
    if member is None or not len(raw):
        return p
    w = CANDIDATES[name]
    return (1 - w) * p + w * member.proba(as_texts(kind, raw))


def check_combine(cfg: Any, kind: str) -> None:
    """Before training: a TF-IDF candidate needs texts (or token ids)."""
    how = cfg.model.combine
    if how in ("mean", "tfidf") and kind not in TEXT_KINDS:
        raise ConfigError(f"model.combine={how!r} combines with TF-IDF + logistic regression, which reads texts; "
                          f"this data holds {kind}: use model.combine=none")


def _parts(bundle: Any) -> tuple[list[Any], np.ndarray, list[Any], list[Any], np.ndarray]:
    """(fit texts, fit labels, validation texts, all training texts, their labels), raw."""
    raw = bundle.raw
    if raw.val_x is not None:
        return list(raw.train_x), bundle.train_y, list(raw.val_x), list(raw.train_x), bundle.train_y
    fit = [int(i) for i in bundle.fit_idx]
    val = [raw.train_x[int(i)] for i in bundle.val_idx]
    return [raw.train_x[i] for i in fit], bundle.train_y[fit], val, list(raw.train_x), bundle.train_y


def choose_combination(model: Any, bundle: Any, cfg: Any) -> dict[str, dict]:
    """``model.combine`` of a text classifier, as the artifact ``combine.json``: the TF-IDF member fitted on
    the training part scores every candidate on the validation part (``auto`` keeps the most accurate),
    then is fitted again on every training example and saved with the choice."""
    how, kind = cfg.model.combine, bundle.raw.kind
    if how == "none" or kind not in TEXT_KINDS:
        return {}
    C = len(bundle.labels.names)
    fit_x, fit_y, val_x, all_x, all_y = _parts(bundle)
    val_y = bundle.val[1]
    record: dict[str, Any] = {"combination": how, "rule": "model.combine"}
    if len(val_y):
        member = TfidfMember.fit(as_texts(kind, fit_x), fit_y, C, cfg.train.seed)
        p_net = probabilities(model, bundle.val[0], [], kind, bundle.cfg.eval_batch_size)
        p_tf = member.proba(as_texts(kind, val_x))
        acc = {n: scores(val_y, ((1 - w) * p_net + w * p_tf).argmax(-1), C)["accuracy"]
               for n, w in CANDIDATES.items()}
        record["val_accuracy"], record["n_val"] = acc, int(len(val_y))
        if how == "auto":
            record.update(combination=max(acc, key=lambda n: (acc[n], -list(CANDIDATES).index(n))), rule="auto")
        log.info("combine=%s: %s (validation accuracy over %d examples: %s)", how, record["combination"], len(val_y),
                 ", ".join(f"{k} {v:.4f}" for k, v in acc.items()))
    elif how == "auto":
        record.update(combination=NETWORK, rule="auto: no validation data to choose on")
        log.info("combine=auto: no validation data to choose on: the network alone")
    member = TfidfMember.fit(as_texts(kind, all_x), all_y, C, cfg.train.seed)
    record["member"] = member.to_json()
    return {COMBINE_FILE: record}


__all__ = ["CANDIDATES", "CHOICES", "COMBINE_FILE", "MAX_FEATURES", "NETWORK", "TfidfMember", "as_texts",
           "check_combine", "choose_combination", "combination_of", "probabilities"]
