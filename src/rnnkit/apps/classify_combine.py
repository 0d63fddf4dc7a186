"""Classifiers combined with their kind's classical baseline, chosen on validation data.

A bi-GRU trained for five minutes on a large or a small text set often loses to TF-IDF + logistic
regression, and an LSTM-FCN on a few dozen series to 1-NN DTW: the bars every run is compared with. A
classifier that knows it should not ship the loser. With ``model.combine = "auto"`` (the data-aware default
for texts and numeric series) the classify task fits the kind's *member* (:data:`MEMBERS`) on the model's
training part after training, scores each candidate of :data:`CANDIDATES` (the network, the mean of both
models' class probabilities, the member alone) on the validation part and keeps the most accurate (ties:
the first in :data:`CANDIDATES`). The member is then fitted again on every training example and saved with
the choice in the artifact ``combine.json`` (vocabulary as JSON, arrays as base64 float32: no pickle); every
prediction of the model (evaluate, predict, the estimator, serve, a tuned ensemble) is then that candidate's.
The test split is never read. Forecasts have their own combination with ETS / ARIMA
(:mod:`rnnkit.evaluation.combine`).

* Texts (and token ids): TF-IDF of word 1-2 grams + logistic regression, keeping the :data:`MAX_FEATURES`
  most frequent (the reported baseline keeps all): on the development sets' validation parts (rt-sentiment,
  reuters-r8) 32,768 features scored as well as all of them (0.778 vs 0.777, 0.976 vs 0.973), fit 1.5-4x
  faster and keep ``combine.json`` at a few MB.
* Numeric series: 1-NN DTW (the run's ``data.dtw_window``) on the series as the network reads them
  (normalised); its class probabilities are one-hot, so the mean predicts its labels too and only the
  network and the member are candidates.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import numpy as np
import torch

from rnnkit.baselines.classify import fit_tfidf_logreg, token_words
from rnnkit.errors import ConfigError
from rnnkit.evaluation.classification import scores

log = logging.getLogger(__name__)

COMBINE_FILE = "combine.json"
NETWORK = "network"
#: candidate -> the member's weight in the averaged class probabilities (the network's: 1 - weight);
#: ``auto`` keeps the most accurate on validation, ties going to the first listed
CANDIDATES: dict[str, float] = {NETWORK: 0.0, "mean": 0.5, "baseline": 1.0}
#: model.combine values: none (the network alone, no member fitted), auto (chosen on validation) or a candidate
CHOICES = ("none", "auto", *CANDIDATES)
MAX_FEATURES = 2**15
#: the most values (steps x features over all training series) the 1-NN member keeps: 20 MB as float32 (the
#: held-out UCR sets hold 0.1-0.3 M); above it the model predicts alone, since every load would parse the file
#: and every prediction run DTW against all of them
MAX_SERIES_VALUES = 5_000_000


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, "<f4").tobytes()).decode("ascii")  # little-endian, any host


def _unb64(s: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(s), "<f4").reshape(shape).astype(np.float64)


class TfidfMember:
    """The texts' member: TF-IDF of word 1-2 grams (sublinear tf, the top :data:`MAX_FEATURES`) + multinomial logistic
    regression, the settings of :func:`rnnkit.baselines.classify.tfidf_logreg`; kept as plain arrays so it
    saves to JSON and predicts without scikit-learn's fitted objects."""

    name = "tfidf_logreg"
    soft = True  # class probabilities, not votes: the mean is a candidate of its own

    def __init__(self, vocabulary: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[int], n_classes: int) -> None:
        self.vocabulary, self.idf, self.coef, self.intercept = vocabulary, idf, coef, intercept
        self.classes, self.n_classes = classes, n_classes
        self._vec = None

    @staticmethod
    def inputs(kind: str, raw: list[Any], seqs: list[Any]) -> list[str]:
        """What the member reads: texts as they are, token ids as words (``t17``), as the baseline does."""
        return token_words(raw) if kind == "tokens" else [str(x) for x in raw]

    @staticmethod
    def too_large(inputs: list[str]) -> str | None:
        return None  # at most MAX_FEATURES weights per class

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, n_classes: int, seed: int = 0, cfg: Any = None) -> TfidfMember:
        vec, clf = fit_tfidf_logreg(texts, y, seed=seed, max_features=MAX_FEATURES)
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


class NearestMember:
    """The numeric series' member: 1-NN DTW (:func:`rnnkit.baselines.classify.nn1_dtw`, the run's Sakoe-Chiba
    band) over the training series as the network reads them; its probabilities are the neighbour's class."""

    name = "1nn_dtw"
    soft = False

    def __init__(self, series: list[np.ndarray], y: np.ndarray, n_classes: int, window: int | None) -> None:
        self.series, self.y, self.n_classes, self.window = series, np.asarray(y, np.int64), n_classes, window

    @staticmethod
    def inputs(kind: str, raw: list[Any], seqs: list[Any]) -> list[np.ndarray]:
        return [np.asarray(x, np.float32) for x in seqs]  # normalised as the network reads them

    @staticmethod
    def too_large(inputs: list[np.ndarray]) -> str | None:
        n = sum(int(np.asarray(x).size) for x in inputs)
        return (f"the training series hold {n:,} values, more than the {MAX_SERIES_VALUES:,} a 1-NN member keeps"
                if n > MAX_SERIES_VALUES else None)

    @classmethod
    def fit(cls, series: list[np.ndarray], y: np.ndarray, n_classes: int, seed: int = 0,
            cfg: Any = None) -> NearestMember:
        return cls(series, y, n_classes, getattr(getattr(cfg, "data", None), "dtw_window", None))

    def proba(self, series: list[np.ndarray]) -> np.ndarray:
        from rnnkit.baselines.classify import nn1_dtw

        pred = nn1_dtw(self.series, self.y, series, self.window)
        return np.eye(self.n_classes)[pred]

    def to_json(self) -> dict[str, Any]:
        lengths = [len(x) for x in self.series]
        flat = np.concatenate([np.asarray(x, np.float32).reshape(len(x), -1) for x in self.series])
        return {"series": _b64(flat), "lengths": lengths, "features": int(flat.shape[1]), "labels": self.y.tolist(),
                "n_classes": self.n_classes, "window": self.window, "dtype": "float32 base64"}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> NearestMember:
        lengths = [int(n) for n in d["lengths"]]
        flat = _unb64(d["series"], (sum(lengths), int(d["features"]))).astype(np.float32)
        return cls(np.split(flat, np.cumsum(lengths)[:-1]), np.asarray(d["labels"]), int(d["n_classes"]), d["window"])


#: the input kind -> its member (images and per-step targets have none: the network predicts alone)
MEMBERS: dict[str, type] = {"text": TfidfMember, "tokens": TfidfMember, "series": NearestMember}


def combination_of(model: Any) -> tuple[str, Any]:
    """The candidate a classifier predicts with and its member: the config's ``model.combine`` when it names
    one (an evaluation-time ``--set`` too), else the choice saved in ``combine.json``; the network alone
    without a saved member."""
    cfg = getattr(model, "run_config", None)
    how = getattr(getattr(cfg, "model", None), "combine", "none")
    chosen = (getattr(model, "artifacts", None) or {}).get(COMBINE_FILE)
    if how in ("none", NETWORK) or not chosen or chosen.get("member") is None:
        return NETWORK, None
    name = chosen["combination"] if how == "auto" else how
    if name == NETWORK:
        return NETWORK, None
    member = getattr(model, "_combine_member", None)
    if member is None:  # decoded once per loaded model (serve answers many requests)
        member = model._combine_member = MEMBERS[chosen["kind"]].from_json(chosen["member"])
    return name, member


def network_probabilities(model: Any, seqs: list[Any], batch_size: int = 256) -> np.ndarray:
    """The network's own class probabilities (N, C) of encoded sequences."""
    from rnnkit.apps.classify import predict_logits

    return torch.softmax(predict_logits(model, seqs, batch_size), -1).double().numpy()


def blend(model: Any, p_network: np.ndarray, seqs: list[Any], raw: list[Any], kind: str) -> np.ndarray:
    """The network's probabilities blended with its member's (reading the ``raw`` inputs or ``seqs``) as the
    model's combination says; unchanged for the network alone."""
    name, member = combination_of(model)
    if member is None or not len(seqs):
        return p_network
    w = CANDIDATES[name]
    return (1 - w) * p_network + w * member.proba(member.inputs(kind, raw, seqs))


def probabilities(model: Any, seqs: list[Any], raw: list[Any], kind: str, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (N, C) of a classifier as it predicts: the network's softmax (``seqs`` encoded),
    blended with its member's when the model combines them."""
    return blend(model, network_probabilities(model, seqs, batch_size), seqs, raw, kind)


def check_combine(cfg: Any, kind: str) -> None:
    """Before training: a candidate with a member needs a kind that has one."""
    how = cfg.model.combine
    if how in CANDIDATES and how != NETWORK and kind not in MEMBERS:
        raise ConfigError(f"model.combine={how!r} blends the network with its kind's baseline; {kind} inputs have "
                          f"none (texts: TF-IDF + logistic regression, series: 1-NN DTW): use model.combine=none")
    if how == "mean" and not MEMBERS[kind].soft:
        raise ConfigError(f"model.combine='mean' on {kind} inputs predicts the labels of {MEMBERS[kind].name}, whose "
                          "votes are one-hot: use model.combine=baseline (or auto)")


def _parts(bundle: Any) -> tuple[tuple[list, list], np.ndarray, tuple[list, list], tuple[list, list], np.ndarray]:
    """(raw, encoded) examples and labels of the training part, the validation part and all training."""
    raw, fit = bundle.raw, [int(i) for i in bundle.fit_idx]
    fit_seqs = list(bundle.train.seqs)
    val = (list(raw.val_x) if raw.val_x is not None else [raw.train_x[int(i)] for i in bundle.val_idx],
           list(bundle.val[0]))
    fit_part = ([raw.train_x[i] for i in fit], fit_seqs)
    if raw.val_x is not None:  # the given validation set stays out of the member, as out of the network
        return fit_part, np.asarray(bundle.train.labels), val, fit_part, np.asarray(bundle.train.labels)
    everything = (fit_part[0] + val[0], fit_seqs + val[1])
    return (fit_part, np.asarray(bundle.train.labels), val, everything,
            np.concatenate([bundle.train.labels, bundle.val[1]]))


def choose_combination(model: Any, bundle: Any, cfg: Any) -> dict[str, dict]:
    """``model.combine`` of a classifier, as the artifact ``combine.json``: the kind's member fitted on the
    training part scores every candidate on the validation part (``auto`` keeps the most accurate), then
    is fitted again on every training example and saved with the choice."""
    how, kind = cfg.model.combine, bundle.raw.kind
    if how == "none" or kind not in MEMBERS:
        return {}
    cls, C = MEMBERS[kind], len(bundle.labels.names)
    fit_part, fit_y, val, everything, all_y = _parts(bundle)
    val_y = bundle.val[1]
    record: dict[str, Any] = {"combination": how, "rule": "model.combine", "kind": kind, "member_name": cls.name}
    all_inputs = cls.inputs(kind, *everything)
    large = cls.too_large(all_inputs)
    if large:
        log.warning("model.combine=%s: %s; the network predicts alone", how, large)
        return {COMBINE_FILE: {**record, "combination": NETWORK, "rule": f"no member: {large}"}}
    member = None
    if len(val_y):
        fit_inputs = all_inputs if everything is fit_part else cls.inputs(kind, *fit_part)
        member = cls.fit(fit_inputs, fit_y, C, cfg.train.seed, cfg)
        p_net = network_probabilities(model, val[1], bundle.cfg.eval_batch_size)
        p_member = member.proba(cls.inputs(kind, *val))
        names = [n for n in CANDIDATES if cls.soft or n != "mean"]
        acc = {n: scores(val_y, ((1 - CANDIDATES[n]) * p_net + CANDIDATES[n] * p_member).argmax(-1), C)["accuracy"]
               for n in names}
        record["val_accuracy"], record["n_val"] = acc, int(len(val_y))
        if how == "auto":
            record.update(combination=max(acc, key=lambda n: (acc[n], -names.index(n))), rule="auto")
        log.info("combine=%s: %s (validation accuracy over %d examples: %s; baseline = %s)", how,
                 record["combination"], len(val_y), ", ".join(f"{k} {v:.4f}" for k, v in acc.items()), cls.name)
    elif how == "auto":
        record.update(combination=NETWORK, rule="auto: no validation data to choose on")
        log.info("combine=auto: no validation data to choose on: the network alone")
    if member is None or everything is not fit_part:  # given validation data: the fit part is all training
        member = cls.fit(all_inputs, all_y, C, cfg.train.seed, cfg)
    record["member"] = member.to_json()
    return {COMBINE_FILE: record}


__all__ = ["CANDIDATES", "CHOICES", "COMBINE_FILE", "MAX_FEATURES", "MEMBERS", "NETWORK", "NearestMember",
           "TfidfMember", "blend", "check_combine", "choose_combination", "combination_of", "network_probabilities",
           "probabilities"]
