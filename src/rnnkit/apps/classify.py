"""The classify task (issue 4) as a `TaskSpec`: text, time series and images read as sequences.

data source -> RawClassData -> validation split carved from *training* data (model selection
never sees the test set) -> vocabulary / scaler / label encoder fitted on the remaining training
part -> SequenceClassifier trained by `fit()` -> test accuracy, macro-F1 and confusion matrix
beside the majority-class and a standard non-neural baseline on the same split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from rnnkit.apps.classify_combine import (
    COMBINE_FILE,
    NETWORK,
    blend,
    check_combine,
    choose_combination,
    combination_of,
    network_probabilities,
    probabilities,
)
from rnnkit.config import RunConfig
from rnnkit.data.classify import (
    ClassBatches,
    LabelEncoder,
    Scaler,
    Vocab,
    pad_batch,
    stratified_val_split,
)
from rnnkit.data.classify_sources import RawClassData, handle_missing_labels, load_raw
from rnnkit.data.sequences import InputDataConfig, InputEncoder
from rnnkit.defaults import summarise_sequences
from rnnkit.errors import ConfigError
from rnnkit.evaluation.classification import scores
from rnnkit.limits import check_encoder_batch
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier, balanced_class_weight
from rnnkit.tasks import TaskSpec
from rnnkit.verdicts import verdict, warn_without_validation

log = logging.getLogger(__name__)
SELECT_BY = ("loss", "accuracy")


@dataclass(frozen=True)
class ClassifyDataConfig(InputDataConfig):
    source: str = "rt-sentiment"  # bundled name (digits, mnist-5k, ucr:<Name>, rt-sentiment, reuters-r8) or a path
    label_column: str = "label"
    select_by: str = "loss"  # loss | accuracy: what picks the best checkpoint on validation
    dtw_window: int | None = None  # Sakoe-Chiba band for the 1-NN DTW baseline (None: full)

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {"dtw_window": "[0, inf)"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.select_by not in SELECT_BY:
            raise ConfigError(f"data.select_by={self.select_by!r} is not valid; choose one of: {', '.join(SELECT_BY)}")


@dataclass
class ClassifyBundle:
    raw: RawClassData
    cfg: ClassifyDataConfig
    labels: LabelEncoder
    encoder: InputEncoder
    train: ClassBatches
    fit_idx: np.ndarray  # indices into raw.train_* used to fit the model
    val_idx: np.ndarray  # indices into raw.train_* held out for validation (empty with explicit val data)
    val: tuple[list, np.ndarray]
    test: tuple[list, np.ndarray]
    train_y: np.ndarray  # all training labels (encoded), for the baselines

    @property
    def vocab(self) -> Vocab | None:
        return self.encoder.vocab

    @property
    def scaler(self) -> Scaler | None:
        return self.encoder.scaler


def split_for_validation(raw: RawClassData, train_y: np.ndarray, d: Any) -> tuple[np.ndarray, np.ndarray]:
    """(fit, val) indices into the training examples: none held out when the raw data brings its own
    validation set, else a stratified ``val_fraction`` carved from training (never from test)."""
    if raw.val_x is not None:
        return np.arange(len(train_y)), np.zeros(0, np.int64)
    return stratified_val_split(train_y, d.val_fraction, d.split_seed if d.val_seed is None else d.val_seed)


def prepare_data(cfg: RunConfig, raw: RawClassData | None = None) -> ClassifyBundle:
    """Read ``cfg.data.source`` (or take ``raw``, e.g. arrays given to an estimator), split off
    validation, fit the input encoder and label encoder on the training part, encode every split."""
    d = cfg.data
    raw = handle_missing_labels(read_source(cfg) if raw is None else raw, d.missing_labels)
    check_combine(cfg, raw.kind)
    labels = (LabelEncoder(raw.label_order) if raw.label_order else LabelEncoder.fit(raw.train_y))
    train_y = labels.encode(raw.train_y, raw.train_where)
    test_y = labels.encode(raw.test_y, raw.test_where)
    fit_idx, val_idx = split_for_validation(raw, train_y, d)
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    encoder = InputEncoder.fit(raw.kind, pick(raw.train_x, fit_idx), pick(raw.train_where, fit_idx), d)
    train_seqs = encoder.encode(raw.train_x, raw.train_where)
    test_seqs = encoder.encode(raw.test_x, raw.test_where)
    if raw.val_x is not None:
        val = (encoder.encode(raw.val_x, raw.val_where), labels.encode(raw.val_y, raw.val_where))
    else:
        val = (pick(train_seqs, val_idx), train_y[val_idx])
    warn_without_validation(cfg, len(val[0]))
    check_encoder_batch(cfg, [len(s) for s in train_seqs])
    train = ClassBatches(pick(train_seqs, fit_idx), train_y[fit_idx], cfg.train.batch_size, cfg.train.seed,
                         bucket=d.bucket)
    log.info("%s (%s): %d train / %d val / %d test, %d classes%s", raw.source, raw.kind, len(fit_idx), len(val[1]),
             len(test_seqs), len(labels.names), f", vocabulary {len(encoder.vocab)}" if encoder.vocab else "")
    return ClassifyBundle(raw, d, labels, encoder, train, fit_idx, val_idx, val, (test_seqs, test_y), train_y)


def read_source(cfg: RunConfig) -> RawClassData:
    """The raw examples of ``cfg.data.source`` (bundled name or file), with their test split."""
    d = cfg.data
    return load_raw(d.source, test_source=d.test_source, text_column=d.text_column, label_column=d.label_column,
                    test_fraction=d.test_fraction, split_seed=d.split_seed)


def artifacts(bundle: ClassifyBundle) -> dict[str, dict]:
    counts = np.bincount(bundle.train_y[bundle.fit_idx], minlength=len(bundle.labels.names)).tolist()
    files, meta = bundle.encoder.artifacts()
    values = {"values": bundle.raw.label_values} if bundle.raw.label_values is not None else {}
    return {"labels.json": {"names": bundle.labels.names, "train_counts": counts, **meta, **values}, **files}


def with_test(bundle: ClassifyBundle, items: list[Any], labels: list[str], where: list[str]) -> ClassifyBundle:
    """The bundle with another test set (e.g. an estimator's ``evaluate(X, y)``), encoded as training was."""
    raw = replace(bundle.raw, test_x=items, test_y=labels, test_where=where)
    test = (bundle.encoder.encode(items, where), bundle.labels.encode(labels, where))
    return replace(bundle, raw=raw, test=test)


def input_encoder(cfg: RunConfig, arts: dict[str, dict]) -> InputEncoder:
    """The input encoder of a model directory (what `predict` reads raw input with)."""
    return InputEncoder.from_artifacts(arts, arts["labels.json"], cfg.data.max_len)


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> SequenceClassifier:
    lab = arts["labels.json"]
    weight = balanced_class_weight(lab["train_counts"]) if cfg.model.class_weights == "balanced" else None
    model = SequenceClassifier(cfg.model, len(lab["names"]), class_weight=weight,
                               **input_encoder(cfg, arts).model_input)
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


def evaluate(model: SequenceClassifier, bundle: ClassifyBundle, cfg: RunConfig,
             pred: np.ndarray | None = None) -> dict[str, Any]:
    """Test metrics beside the baselines; `below_majority` flags a model no better than guessing.
    ``pred``: the test predictions when they are not the model's alone (a tuned top-k ensemble's)."""
    from rnnkit.apps.classify_baselines import run_baselines

    model.eval()
    seqs, y = bundle.test
    out: dict[str, Any] = {}
    if pred is None:
        p_net = network_probabilities(model, seqs, bundle.cfg.eval_batch_size)
        pred = blend(model, p_net, seqs, bundle.raw.test_x, bundle.raw.kind).argmax(-1)
        name = combination_of(model)[0]
        if name != NETWORK:  # the combination's scores are the headline; the network alone's beside them
            alone = scores(y, p_net.argmax(-1), model.num_classes)
            out["combination"] = name
            out["network"] = {"test_accuracy": alone["accuracy"], "test_macro_f1": alone["macro_f1"]}
    s = scores(y, pred, model.num_classes)
    out.update({"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"]})
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


def ensemble_metrics(members: list[tuple[SequenceClassifier, ClassifyBundle]]) -> dict[str, Any]:
    """Test accuracy and macro-F1 of the members' mean class probabilities (a tuned top-k ensemble,
    :mod:`rnnkit.tune`), with each member's own; members prepare the data their own way (tokeniser,
    normalisation), so each encodes the test split itself. Empty without a test split."""
    y, names = members[0][1].test[1], members[0][1].labels.names
    if not len(y):
        return {}
    probs = []
    for model, bundle in members:
        if bundle.labels.names != names or not np.array_equal(bundle.test[1], y):
            raise ConfigError("the ensemble's members read different test splits or label sets")
        model.eval()
        probs.append(torch.from_numpy(probabilities(model, bundle.test[0], bundle.raw.test_x, bundle.raw.kind,
                                                    bundle.cfg.eval_batch_size)))
    own = [scores(y, p.argmax(-1).numpy(), len(names))["accuracy"] for p in probs]
    s = scores(y, torch.stack(probs).mean(0).argmax(-1).numpy(), len(names))
    return {"test_accuracy": s["accuracy"], "test_macro_f1": s["macro_f1"], "member_test_accuracy": own}


def baseline_check(model: SequenceClassifier, bundle: ClassifyBundle, cfg: RunConfig) -> dict[str, Any] | None:
    """Validation accuracy beside majority and the kind's baselines fitted on the training part."""
    from rnnkit.apps.classify_baselines import validation_baselines

    if not cfg.data.baselines or not len(bundle.val[1]):
        return None
    base = validation_baselines(bundle)
    network = validate(model, bundle)["val_accuracy"]
    chosen = (model.artifacts or {}).get(COMBINE_FILE) or {}
    name = combination_of(model)[0]
    value = chosen["val_accuracy"][name] if name in chosen.get("val_accuracy", {}) else network
    v = verdict("val_accuracy", value, {k: v["val_accuracy"] for k, v in base.items()}, higher_is_better=True,
                n=len(bundle.val[1]))
    if v is not None and name != NETWORK:
        v.update(combination=name, network=network)
        if name == "baseline" and value >= v["baseline"]:
            v["behind"] = False  # the model *is* a baseline as good as the best, chosen as the network lost to it
        if v["behind"]:
            verb = "matches" if value == v["baseline"] else "beats"
            what = {"baseline": chosen.get("member_name"),
                    "mean": f"the mean of the network and {chosen.get('member_name')}"}.get(name, name)
            v["note"] = (f"this model predicts with {what} (model.combine={name}; the network alone scored "
                         f"val_accuracy {network:.4g}); the {v['best_baseline']} baseline {verb} it on validation: "
                         f"{v['baseline']:.4g} vs {value:.4g}")
    return v


def report(model: SequenceClassifier, bundle: ClassifyBundle, metrics: dict[str, Any], run_dir: Any) -> None:
    """Write confusion.png next to the run's metrics (called after training and `evaluate`)."""
    from pathlib import Path

    from rnnkit.evaluation.classification import plot_confusion

    if "confusion_matrix" in metrics:
        plot_confusion(metrics["confusion_matrix"], metrics["labels"], Path(run_dir) / "confusion.png",
                       title=f"{bundle.raw.source}: test accuracy {metrics['test_accuracy']:.3f}")


TASK = TaskSpec(
    name="classify", description="sequence classification: text, time series (UCR/UEA), images as rows",
    model_config_cls=ClassifierConfig, data_config_cls=ClassifyDataConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="classify",
    monitor="val_select", headline=("test_accuracy", "test_macro_f1", "test_accuracy_vs_best_baseline"),
    progress_fields={"accuracy": "acc"}, report=report, estimator="rnnkit.estimators.classifier:SequenceClassifier",
    cli_options={"--text-column": ("data.text_column", "column holding the text (or series)"),
                 "--label-column": ("data.label_column", "column holding the class label"),
                 "--test-data": ("data.test_source", "a separate test file")},
    baseline_check=baseline_check, post_fit=choose_combination, load_raw=read_source,
    summarise=lambda cfg, raw: summarise_sequences("classify", raw), ensemble=ensemble_metrics,
)

__all__ = ["TASK", "ClassifyBundle", "ClassifyDataConfig", "input_encoder", "predict_logits",
           "prepare_data", "report", "with_test"]
