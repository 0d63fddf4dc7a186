"""The regress task as a `TaskSpec`: numeric targets from series, texts or token ids.

data source -> examples + numeric targets -> validation split carved from *training* data -> input
encoder and target scaler fitted on the remaining training part -> SequenceRegressor (one value per
sequence, or one per step) trained by `fit()` -> test RMSE / MAE / R² beside the training mean and
a ridge regression on the same split.

Bundled regression sets are the Monash/UEA extrinsic-regression series shipped with sktime
(``ucr:Covid3Month``, ``ucr:Tecator``); files are ``.npz`` (X, y floats), ``.ts`` with
``@targetLabel``, or a CSV/TSV/JSONL table with a text column and a numeric target column.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from rnnkit.baselines import regress as B
from rnnkit.baselines.classify import token_words
from rnnkit.config import RunConfig
from rnnkit.data.classify import ClassBatches, pad_batch
from rnnkit.data.classify_sources import RawClassData, handle_missing_labels, load_raw
from rnnkit.data.regress import TargetScaler, as_target_arrays, collate_targets
from rnnkit.data.sequences import InputDataConfig, InputEncoder
from rnnkit.defaults import summarise_sequences
from rnnkit.evaluation.regression import regression_scores
from rnnkit.limits import check_encoder_batch
from rnnkit.models.regressor import LOSSES, RegressorConfig, SequenceRegressor
from rnnkit.tasks import TaskSpec
from rnnkit.verdicts import verdict, warn_without_validation

log = logging.getLogger(__name__)
TARGETS = "targets.json"


@dataclass(frozen=True)
class RegressDataConfig(InputDataConfig):
    source: str = "ucr:Tecator"  # bundled regression set (ucr:Tecator, ucr:Covid3Month) or a path
    target_column: str = "target"  # tables: the numeric target
    per_step: bool | None = None  # one target per input step; None: decided from the data


@dataclass
class RegressBundle:
    raw: RawClassData
    cfg: RegressDataConfig
    encoder: InputEncoder
    scaler: TargetScaler
    per_step: bool
    train: ClassBatches
    n_fit: int
    val_idx: np.ndarray  # training examples held out for validation (empty with explicit val data)
    val: tuple[list, list[np.ndarray]]  # encoded inputs, targets in original units
    test: tuple[list, list[np.ndarray]]
    train_targets: list[np.ndarray]  # every training example's targets (fit + val part), original units


def encode(encoder: InputEncoder, items: list[Any], targets: list[Any], where: list[str], per_step: bool | None
           ) -> tuple[list[Any], list[np.ndarray], bool]:
    """Encoded inputs and float targets; per-step targets follow their input's padding strip and truncation."""
    ys, per_step = as_target_arrays(targets, items, where, per_step)
    seqs = encoder.encode(items, where)
    if per_step and encoder.kind == "tokens":  # the 0-padding stripped from the ids goes from the targets too
        first = [int(np.argmax(np.asarray(x) != 0)) for x in items]
        ys = [y[f:][: len(s)] for y, f, s in zip(ys, first, seqs)]
    elif per_step:
        ys = [y[: len(s)] for y, s in zip(ys, seqs)]
    return seqs, ys, per_step


def prepare_data(cfg: RunConfig, raw: RawClassData | None = None) -> RegressBundle:
    d = cfg.data
    raw = handle_missing_labels(read_source(cfg) if raw is None else raw, d.missing_labels)
    n = len(raw.train_x)
    if raw.val_x is None:
        order = np.random.default_rng(d.split_seed if d.val_seed is None else d.val_seed).permutation(n)
        k = int(round(d.val_fraction * n)) if n > 1 else 0
        fit_idx, val_idx = np.sort(order[k:]), np.sort(order[:k])
    else:
        fit_idx, val_idx = np.arange(n), np.zeros(0, np.int64)
    pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
    encoder = InputEncoder.fit(raw.kind, pick(raw.train_x, fit_idx), pick(raw.train_where, fit_idx), d)
    seqs, ys, per_step = encode(encoder, raw.train_x, raw.train_y, raw.train_where, d.per_step)
    scaler = TargetScaler.fit(pick(ys, fit_idx))
    test = encode(encoder, raw.test_x, raw.test_y, raw.test_where, per_step)[:2] if raw.test_x else ([], [])
    val = (encode(encoder, raw.val_x, raw.val_y, raw.val_where, per_step)[:2] if raw.val_x is not None
           else (pick(seqs, val_idx), pick(ys, val_idx)))
    warn_without_validation(cfg, len(val[0]))
    check_encoder_batch(cfg, [len(s) for s in seqs])
    train = ClassBatches(pick(seqs, fit_idx), [scaler.transform(y) for y in pick(ys, fit_idx)], cfg.train.batch_size,
                         cfg.train.seed, collate=collate_targets(per_step), bucket=d.bucket)
    log.info("%s (%s, %s): %d train / %d val / %d test, %d output(s)", raw.source, raw.kind,
             "one target per step" if per_step else "one target per sequence", len(fit_idx), len(val[0]),
             len(test[0]), ys[0].shape[-1])
    return RegressBundle(raw, d, encoder, scaler, per_step, train, len(fit_idx), val_idx, val, test, ys)


def read_source(cfg: RunConfig) -> RawClassData:
    """The raw examples and numeric targets of ``cfg.data.source``, with their test split."""
    d = cfg.data
    return load_raw(d.source, test_source=d.test_source, text_column=d.text_column, label_column=d.target_column,
                    test_fraction=d.test_fraction, split_seed=d.split_seed, numeric=True)


def artifacts(bundle: RegressBundle) -> dict[str, dict]:
    files, meta = bundle.encoder.artifacts()
    return {TARGETS: {**meta, "per_step": bundle.per_step, "n_outputs": int(bundle.train_targets[0].shape[-1]),
                      **bundle.scaler.to_dict()}, **files}


def input_encoder(cfg: RunConfig, arts: dict[str, dict]) -> InputEncoder:
    return InputEncoder.from_artifacts(arts, arts[TARGETS], cfg.data.max_len)


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> SequenceRegressor:
    t = arts[TARGETS]
    model = SequenceRegressor(cfg.model, t["n_outputs"], per_step=t["per_step"], **input_encoder(cfg, arts).model_input)
    log.info("%s", model.stack.explain_backend())
    return model


@torch.no_grad()
def predict_scaled(model: SequenceRegressor, seqs: list[Any], batch_size: int = 256) -> list[np.ndarray]:
    """Standardised predictions per example: ``(K,)``, or ``(T_i, K)`` for a per-step model."""
    device = next(model.parameters()).device
    out: list[np.ndarray] = []
    for s in range(0, len(seqs), batch_size):
        b = pad_batch(seqs[s:s + batch_size], torch.zeros(0))
        pred = model(b.x.to(device), b.lengths.to(device)).pred.float().cpu().numpy()
        out += [p[: int(n)] for p, n in zip(pred, b.lengths)] if model.per_step else list(pred)
    return out


def _scores(model: SequenceRegressor, bundle: RegressBundle, seqs: list, ys: list[np.ndarray]) -> dict[str, float]:
    pred = [bundle.scaler.inverse(p) for p in predict_scaled(model, seqs, bundle.cfg.eval_batch_size)]
    return regression_scores(np.concatenate([y.reshape(-1) for y in ys]), np.concatenate([p.reshape(-1) for p in pred]))


def validate(model: SequenceRegressor, bundle: RegressBundle) -> dict[str, float]:
    seqs, ys = bundle.val if len(bundle.val[0]) else (bundle.train.seqs, [bundle.scaler.inverse(y)
                                                                           for y in bundle.train.labels])
    z = [bundle.scaler.transform(y) for y in ys]
    pred = predict_scaled(model, seqs, bundle.cfg.eval_batch_size)
    loss = float(np.mean(np.concatenate([LOSSES[model.config.loss](torch.from_numpy(p), torch.from_numpy(t)).numpy()
                                         .reshape(-1) for p, t in zip(pred, z)])))
    s = _scores(model, bundle, seqs, ys)
    return {"val_loss": loss, "val_rmse": s["rmse"], "val_mae": s["mae"], "val_r2": s["r2"]}


def _baseline_inputs(bundle: RegressBundle, xs: list[Any], where: list[str]) -> list[Any]:
    if bundle.encoder.kind == "text":
        return list(xs)
    if bundle.encoder.kind == "tokens":  # ids read as words, as for text
        return token_words(xs)
    return bundle.encoder.encode(xs, where)  # the model's own normalisation


def score_baselines(bundle: RegressBundle, train: tuple[list, list[str], list[np.ndarray]],
                    test: tuple[list, list[str], list[np.ndarray]], prefix: str) -> dict[str, dict[str, float]]:
    """{name: {<prefix>rmse, <prefix>mae, <prefix>r2}} of the training mean and ridge regression fitted
    on ``train`` and scored on ``test`` (each ``(raw examples, row descriptions, targets)``)."""
    truth = np.concatenate([y.reshape(-1) for y in test[2]])
    preds = {"mean": B.mean(train[2], test[2])}
    kind = "text" if bundle.encoder.kind in ("text", "tokens") else "series"
    ridge = B.ridge(kind, _baseline_inputs(bundle, train[0], train[1]), train[2],
                    _baseline_inputs(bundle, test[0], test[1]), bundle.per_step)
    if ridge is not None:
        preds["ridge"] = ridge
    return {name: {f"{prefix}{k}": v for k, v in regression_scores(truth, np.concatenate(
        [np.asarray(p).reshape(-1) for p in pred])).items()} for name, pred in preds.items()}


def run_baselines(bundle: RegressBundle) -> dict[str, dict[str, float]]:
    """Baselines fitted on every training example and scored on the test split."""
    raw = bundle.raw
    return score_baselines(bundle, (raw.train_x, raw.train_where, bundle.train_targets),
                           (raw.test_x, raw.test_where, bundle.test[1]), "test_")


def baseline_check(model: SequenceRegressor, bundle: RegressBundle, cfg: RunConfig) -> dict[str, Any] | None:
    """Validation RMSE beside the mean and ridge fitted on the training part."""
    raw = bundle.raw
    if not cfg.data.baselines or not len(bundle.val[0]):
        return None
    if raw.val_x is not None:
        train, val = (raw.train_x, raw.train_where, bundle.train_targets), (raw.val_x, raw.val_where, bundle.val[1])
    else:
        fit = [i for i in range(len(raw.train_x)) if i not in set(bundle.val_idx.tolist())]
        pick = lambda seq, idx: [seq[i] for i in idx]  # noqa: E731
        train = (pick(raw.train_x, fit), pick(raw.train_where, fit), pick(bundle.train_targets, fit))
        val = (pick(raw.train_x, bundle.val_idx), pick(raw.train_where, bundle.val_idx), bundle.val[1])
    base = score_baselines(bundle, train, val, "val_")
    return verdict("val_rmse", validate(model, bundle)["val_rmse"], {k: v["val_rmse"] for k, v in base.items()},
                   higher_is_better=False, n=len(bundle.val[1]))


def evaluate(model: SequenceRegressor, bundle: RegressBundle, cfg: RunConfig) -> dict[str, Any]:
    """Test RMSE / MAE / R² beside the baselines; ``below_mean`` flags a model no better than the mean."""
    seqs, ys = bundle.test
    out: dict[str, Any] = {f"test_{k}": v for k, v in _scores(model, bundle, seqs, ys).items()}
    out.update(validate(model, bundle))
    base = run_baselines(bundle) if bundle.cfg.baselines else {}
    out["baselines"] = base
    if "mean" in base:
        out["below_mean"] = bool(out["test_rmse"] >= base["mean"]["test_rmse"])
        if out["below_mean"]:
            log.warning("test RMSE %.4g is no better than predicting the training mean (%.4g)",
                        out["test_rmse"], base["mean"]["test_rmse"])
        best = min(base, key=lambda k: base[k]["test_rmse"])
        out["best_baseline"] = best
        out["test_rmse_vs_best_baseline"] = (out["test_rmse"] - base[best]["test_rmse"]) / base[best]["test_rmse"]
    out.update({"per_step": bundle.per_step, "n_train": bundle.n_fit, "n_val": len(bundle.val[0]),
                "n_test": len(seqs), "source": bundle.raw.source, "kind": bundle.raw.kind})
    return out


def with_test(bundle: RegressBundle, items: list[Any], targets: list[Any], where: list[str]) -> RegressBundle:
    """The bundle with another test set (an estimator's ``evaluate(X, y)``), encoded as training was."""
    raw = replace(bundle.raw, test_x=items, test_y=targets, test_where=where)
    return replace(bundle, raw=raw, test=encode(bundle.encoder, items, targets, where, bundle.per_step)[:2])


TASK = TaskSpec(
    name="regress", description="sequence regression: one value per sequence or per step (series, text, ids)",
    model_config_cls=RegressorConfig, data_config_cls=RegressDataConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="regress",
    monitor="val_loss", headline=("test_rmse", "test_r2", "test_rmse_vs_best_baseline"),
    progress_fields={"sq_err": "mse"}, estimator="rnnkit.estimators.regressor:SequenceRegressor",
    baseline_check=baseline_check, load_raw=read_source,
    summarise=lambda cfg, raw: summarise_sequences("regress", raw),
    cli_options={"--text-column": ("data.text_column", "column holding the text (or series)"),
                 "--target-column": ("data.target_column", "column holding the numeric target"),
                 "--test-data": ("data.test_source", "a separate test file")},
)

__all__ = ["TASK", "RegressBundle", "RegressDataConfig", "input_encoder", "predict_scaled", "prepare_data",
           "with_test"]
