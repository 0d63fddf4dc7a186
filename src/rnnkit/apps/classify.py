"""The classify task (issue 4) as a `TaskSpec`: text, time series and images read as sequences.

data source -> RawClassData -> validation split carved from *training* data (model selection
never sees the test set) -> vocabulary / scaler / label encoder fitted on the remaining training
part -> SequenceClassifier trained by `fit()` -> test accuracy, macro-F1 and confusion matrix
beside the majority-class and a standard non-neural baseline on the same split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.apps.classify_report import scores
from rnnkit.config import RunConfig
from rnnkit.data.classify import (
    NORMALIZATIONS,
    TOKENIZERS,
    ClassBatches,
    LabelEncoder,
    Scaler,
    Vocab,
    check_series,
    check_texts,
    pad_batch,
    stratified_val_split,
)
from rnnkit.data.classify_sources import RawClassData, load_raw
from rnnkit.errors import ConfigError, DataError
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier, balanced_class_weight
from rnnkit.tasks import TaskSpec

log = logging.getLogger(__name__)
SELECT_BY = ("loss", "accuracy")


@dataclass(frozen=True)
class ClassifyDataConfig:
    source: str = "rt-sentiment"  # bundled name (digits, mnist-5k, ucr:<Name>, rt-sentiment, reuters-r8) or a path
    test_source: str | None = None  # separate test file (else a stratified split of `source`)
    text_column: str = "text"
    label_column: str = "label"
    tokenizer: str = "word"  # word | char
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int = 30000
    max_len: int = 0  # > 0: truncate longer inputs (counted and logged); 0: never truncate
    normalize: str = "none"  # none | per_series | global (numeric inputs)
    val_fraction: float = 0.1  # carved from the training split, stratified
    test_fraction: float = 0.2  # only for sources without a test split
    split_seed: int = 0
    select_by: str = "loss"  # loss | accuracy: what picks the best checkpoint on validation
    eval_batch_size: int = 256
    dtw_window: int | None = None  # Sakoe-Chiba band for the 1-NN DTW baseline (None: full)
    baselines: bool = True

    def __post_init__(self) -> None:
        for name, value, valid in (("tokenizer", self.tokenizer, TOKENIZERS), ("normalize", self.normalize,
                                   NORMALIZATIONS), ("select_by", self.select_by, SELECT_BY)):
            if value not in valid:
                raise ConfigError(f"data.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")


@dataclass
class ClassifyBundle:
    raw: RawClassData
    cfg: ClassifyDataConfig
    labels: LabelEncoder
    vocab: Vocab | None
    scaler: Scaler | None
    train: ClassBatches
    fit_idx: np.ndarray  # indices into raw.train_* used to fit the model
    val_idx: np.ndarray
    val: tuple[list, np.ndarray]
    test: tuple[list, np.ndarray]
    train_y: np.ndarray  # all training labels (encoded), for the baselines


def encode_inputs(items: list[Any], where: list[str], kind: str, vocab: Vocab | None, scaler: Scaler | None,
                  max_len: int = 0, input_size: int | None = None) -> list[Any]:
    """Raw texts/series -> token id lists or (T, F) float arrays; errors name the row.

    Series must all have ``input_size`` features (default: as many as the first one)."""
    if kind == "text":
        check_texts(items, where)
        seqs = [vocab.encode(t) for t in items]
        for s, w in zip(seqs, where):
            if not s:
                raise DataError(f"{w}: text has no tokens after tokenisation")
    else:
        seqs = [check_series(x, w) for x, w in zip(items, where)]
        want = input_size or (seqs[0].shape[1] if seqs else 0)
        for s, w in zip(seqs, where):
            if s.shape[1] != want:
                raise DataError(f"{w}: {s.shape[1]} features per step, expected {want} (as the training data)")
        seqs = [scaler.transform(s) for s in seqs]
    if max_len > 0:
        cut = sum(len(s) > max_len for s in seqs)
        if cut:
            log.warning("data.max_len=%d truncates %d of %d inputs", max_len, cut, len(seqs))
        seqs = [s[:max_len] for s in seqs]
    return seqs


def prepare_data(cfg: RunConfig) -> ClassifyBundle:
    d = cfg.data
    raw = load_raw(d.source, test_source=d.test_source, text_column=d.text_column, label_column=d.label_column,
                   test_fraction=d.test_fraction, split_seed=d.split_seed)
    labels = (LabelEncoder(raw.label_order) if raw.label_order else LabelEncoder.fit(raw.train_y))
    train_y = labels.encode(raw.train_y, raw.train_where)
    test_y = labels.encode(raw.test_y, raw.test_where)
    fit_idx, val_idx = stratified_val_split(train_y, d.val_fraction, d.split_seed)
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    vocab = scaler = None
    if raw.kind == "text":
        check_texts(raw.train_x, raw.train_where)
        vocab = Vocab.build(pick(raw.train_x, fit_idx), d.tokenizer, d.lowercase, d.min_freq, d.max_vocab)
    else:
        fit_series = [check_series(raw.train_x[i], raw.train_where[i]) for i in fit_idx]
        scaler = Scaler.fit(d.normalize, fit_series)
    enc = lambda xs, ws: encode_inputs(xs, ws, raw.kind, vocab, scaler, d.max_len)  # noqa: E731
    train_seqs = enc(raw.train_x, raw.train_where)
    test_seqs = enc(raw.test_x, raw.test_where)
    train = ClassBatches(pick(train_seqs, fit_idx), train_y[fit_idx], cfg.train.batch_size, cfg.train.seed)
    log.info("%s (%s): %d train / %d val / %d test, %d classes%s", raw.source, raw.kind, len(fit_idx), len(val_idx),
             len(test_seqs), len(labels.names), f", vocabulary {len(vocab)}" if vocab else "")
    return ClassifyBundle(raw, d, labels, vocab, scaler, train, fit_idx, val_idx,
                          (pick(train_seqs, val_idx), train_y[val_idx]), (test_seqs, test_y), train_y)


def artifacts(bundle: ClassifyBundle) -> dict[str, dict]:
    counts = np.bincount(bundle.train_y[bundle.fit_idx], minlength=len(bundle.labels.names)).tolist()
    first = bundle.train.seqs[0]
    out = {"labels.json": {"names": bundle.labels.names, "train_counts": counts, "kind": bundle.raw.kind,
                           "input_size": None if bundle.vocab else int(first.shape[1])}}
    if bundle.vocab is not None:
        out["tokenizer.json"] = bundle.vocab.to_dict()
    if bundle.scaler is not None:
        out["scaler.json"] = bundle.scaler.to_dict()
    return out


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> SequenceClassifier:
    lab = arts["labels.json"]
    weight = balanced_class_weight(lab["train_counts"]) if cfg.model.class_weights == "balanced" else None
    if "tokenizer.json" in arts:
        model = SequenceClassifier(cfg.model, len(lab["names"]), vocab_size=len(arts["tokenizer.json"]["itos"]),
                                   class_weight=weight)
    else:
        model = SequenceClassifier(cfg.model, len(lab["names"]), input_size=lab["input_size"], class_weight=weight)
    log.info("%s", model.stack.explain_backend())
    return model


@torch.no_grad()
def predict_logits(model: SequenceClassifier, seqs: list[Any], batch_size: int = 256) -> torch.Tensor:
    """Logits (N, C) of encoded sequences, in batches (padding is masked, so batching is harmless)."""
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(seqs), batch_size):
        chunk = seqs[s:s + batch_size]
        b = pad_batch(chunk, np.zeros(len(chunk), np.int64))
        out.append(model(b.x.to(device), b.lengths.to(device)).logits.float().cpu())
    return torch.cat(out) if out else torch.zeros(0, model.num_classes)


def validate(model: SequenceClassifier, bundle: ClassifyBundle) -> dict[str, float]:
    seqs, y = bundle.val if len(bundle.val[0]) else (bundle.train.seqs, bundle.train.labels)
    logits = predict_logits(model, seqs, bundle.cfg.eval_batch_size)
    yt = torch.as_tensor(y)
    loss = float(F.cross_entropy(logits, yt))
    s = scores(y, logits.argmax(-1).numpy(), model.num_classes)
    select = loss if bundle.cfg.select_by == "loss" else (1 - s["accuracy"]) + 1e-3 * loss
    return {"val_loss": loss, "val_accuracy": s["accuracy"], "val_macro_f1": s["macro_f1"], "val_select": select}


def evaluate(model: SequenceClassifier, bundle: ClassifyBundle, cfg: RunConfig) -> dict[str, Any]:
    """Test metrics beside the baselines; `below_majority` flags a model no better than guessing."""
    from rnnkit.apps.classify_baselines import run_baselines

    model.eval()
    seqs, y = bundle.test
    pred = predict_logits(model, seqs, bundle.cfg.eval_batch_size).argmax(-1).numpy()
    s = scores(y, pred, model.num_classes)
    out: dict[str, Any] = {"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"]}
    out.update({k: v for k, v in validate(model, bundle).items() if k != "val_select"})
    base = run_baselines(bundle) if bundle.cfg.baselines else {}
    out["baselines"] = base
    maj = base.get("majority", {}).get("test_accuracy")
    out["below_majority"] = bool(maj is not None and s["accuracy"] <= maj)
    if out["below_majority"]:
        log.warning("test accuracy %.4f is at or below the majority-class baseline %.4f", s["accuracy"], maj)
    others = [v["test_accuracy"] for k, v in base.items() if k != "majority"]
    if others:
        out["test_accuracy_vs_best_baseline"] = s["accuracy"] - max(others)
    out.update({"confusion_matrix": s["confusion_matrix"], "labels": bundle.labels.names,
                "n_train": len(bundle.fit_idx), "n_val": len(bundle.val_idx), "n_test": len(y),
                "source": bundle.raw.source, "kind": bundle.raw.kind})
    return out


def report(model: SequenceClassifier, bundle: ClassifyBundle, metrics: dict[str, Any], run_dir: Any) -> None:
    """Write confusion.png next to the run's metrics (called after training and `evaluate`)."""
    from pathlib import Path

    from rnnkit.apps.classify_report import plot_confusion

    if "confusion_matrix" in metrics:
        plot_confusion(metrics["confusion_matrix"], metrics["labels"], Path(run_dir) / "confusion.png",
                       title=f"{bundle.raw.source}: test accuracy {metrics['test_accuracy']:.3f}")


TASK = TaskSpec(
    name="classify", description="sequence classification: text, time series (UCR/UEA), images as rows",
    model_config_cls=ClassifierConfig, data_config_cls=ClassifyDataConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="classify",
    monitor="val_select", headline=("test_accuracy", "test_macro_f1", "test_accuracy_vs_best_baseline"),
    progress_fields={"accuracy": "acc"}, report=report,
)

__all__ = ["TASK", "ClassifyBundle", "ClassifyDataConfig", "encode_inputs", "predict_logits", "report"]
