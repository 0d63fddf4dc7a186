"""`rnnkit predict RUN ...`: classify new raw inputs with a trained model directory.

Inputs are raw texts (encoded with the run's own ``tokenizer.json``) or numeric series
(normalised with the run's ``scaler.json``): given on the command line (a text, or a series as
``"0.1,0.5,0.3"``; ``;`` separates time steps of a multivariate series: ``"1,2;3,4"``), or read
from a file (CSV/TSV/JSONL text column, ``.npz`` X / X_test, ``.ts``). The attention weights of
the first input can be drawn as a PNG heat map when the model uses attention pooling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.apps.classify import input_encoder
from rnnkit.apps.classify_combine import probabilities
from rnnkit.data.classify import check_series, pad_batch
from rnnkit.data.classify_sources import wide_series
from rnnkit.data.tables import TABLE_SUFFIXES, column, read_rows
from rnnkit.errors import DataError


def parse_series(text: str, where: str = "input") -> np.ndarray:
    """``"1,2,3"`` -> (3, 1); ``"1,2;3,4"`` -> (2, 2) (``;`` separates steps)."""
    try:
        if ";" in text:
            rows = [[float(v) for v in step.split(",")] for step in text.strip().strip(";").split(";")]
        else:
            rows = [float(v) for v in text.replace(" ", ",").split(",") if v]
    except ValueError:
        raise DataError(f"{where}: cannot read {text[:40]!r} as numbers (e.g. \"0.1,0.5,0.3\")") from None
    return check_series(rows, where)


def read_inputs(path: str | Path, kind: str, text_column: str, label_column: str = "label"
                ) -> tuple[list[Any], list[str]]:
    """Raw inputs (texts or series) and row descriptions from a file; for a series model, a CSV without the
    text column whose other columns (all but the label, if there is one) hold numbers is one series per row."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"input file not found: {path}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            key = "X" if "X" in z.files else "X_test" if "X_test" in z.files else None
            if key is None:
                raise DataError(f"{path}: expected an array X (or X_test); found {', '.join(z.files)}")
            xs = list(z[key])
        return xs, [f"{path}:{key}[{i}]" for i in range(len(xs))]
    if path.suffix == ".ts":
        from rnnkit.data.ucr import read_ts

        xs, _, _ = read_ts(path, allow_missing=True)
        return xs, [f"{path}[{i}]" for i in range(len(xs))]
    if path.suffix not in TABLE_SUFFIXES:
        raise DataError(f"{path}: unsupported input type {path.suffix!r}; use .csv, .tsv, .jsonl, .npz or .ts")
    rows = read_rows(path)
    if not rows:
        raise DataError(f"{path}: no data rows")
    wide = wide_series(rows, text_column, label_column) if kind == "series" else None
    values = wide if wide is not None else column(rows, text_column, "the run's data.text_column")
    where = [w for _, w in rows]
    return [parse_series(v, w) if kind not in ("text", "tokens") and isinstance(v, str) else v
            for v, w in zip(values, where)], where


def _encoder_and_inputs(model: Any, inputs: list[Any], where: list[str]) -> tuple[Any, list[Any]]:
    """The run's own input encoder and the raw inputs encoded with it (series given as text parsed)."""
    enc = input_encoder(model.run_config, model.artifacts)
    if enc.kind not in ("text", "tokens"):
        inputs = [parse_series(x, w) if isinstance(x, str) else x for x, w in zip(inputs, where)]
    return enc, enc.encode(inputs, where)


def _probabilities(model: Any, inputs: list[Any], where: list[str]) -> np.ndarray:
    """One model's class probabilities, combined with its baseline member when it has one."""
    enc, seqs = _encoder_and_inputs(model, inputs, where)
    return probabilities(model, seqs, inputs, enc.kind)


def predict_raw(model: Any, inputs: list[Any], where: list[str] | None = None,
                members: tuple | list = ()) -> list[dict[str, Any]]:
    """Predicted label, its probability and all class probabilities for each raw input (with ``members``,
    the other models of a tuned top-k ensemble: the mean of every model's probabilities)."""
    names = model.artifacts["labels.json"]["names"]
    where = where or [f"input {i}" for i in range(len(inputs))]
    probs = np.mean([_probabilities(m, inputs, where) for m in (model, *members)], axis=0)
    return [{"label": names[int(p.argmax())], "probability": float(p.max()),
             "probabilities": {n: float(v) for n, v in zip(names, p)}} for p in probs]


def attention_map(model: Any, raw: Any, path: str | Path, label: str | None = None) -> Path:
    """Draw the attention weights of one raw input over its tokens or its series as a PNG, titled with
    ``label`` (the model's prediction, which a combination with its baseline may make; default: the network's)."""
    from rnnkit.evaluation.classification import plot_attention

    if model.config.pooling != "attention":
        raise DataError(f"this model pools with {model.config.pooling!r}; attention maps need "
                        "model.pooling=attention")
    enc, (seq,) = _encoder_and_inputs(model, [raw], ["input 0"])
    b = pad_batch([seq], [0])
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(b.x.to(device), b.lengths.to(device))
    w = out.attention[0, : int(out.lengths[0])].cpu().numpy()
    label = label or model.artifacts["labels.json"]["names"][int(out.logits.argmax())]
    if enc.kind == "text":
        tokens = enc.vocab.tokens(raw)[: len(seq)]
        return plot_attention(w, path, tokens=tokens, title=f"attention (predicted: {label})")
    if enc.kind == "tokens":
        return plot_attention(w, path, tokens=[str(t) for t in seq], title=f"attention (predicted: {label})")
    return plot_attention(w, path, series=np.asarray(seq), title=f"attention (predicted: {label})")


def predict_run(run_dir: str | Path, inputs: list[str] | None = None, input_path: str | Path | None = None,
                attention_png: str | Path | None = None) -> list[dict[str, Any]]:
    """Load a classify run and predict ``inputs`` (command-line strings) and/or ``input_path``."""
    from rnnkit.tasks import load_run

    model = load_run(run_dir)
    if model.run_config.task != "classify":
        raise DataError(f"{run_dir} holds a {model.run_config.task!r} model; predict needs a classify run")
    raw, where = list(inputs or []), [f"argument {i + 1}" for i in range(len(inputs or []))]
    if input_path is not None:
        more, w = read_inputs(input_path, model.artifacts["labels.json"]["kind"], model.run_config.data.text_column,
                              model.run_config.data.label_column)
        raw, where = raw + more, where + w
    if not raw:
        raise DataError("nothing to predict: give inputs as arguments or --input FILE")
    from rnnkit.tune import ensemble_members

    members = [load_run(d) for d in ensemble_members(run_dir)[1]]  # a tuned top-k ensemble: every member votes
    results = predict_raw(model, raw, where, members)
    if attention_png is not None:
        attention_map(model, raw[0], attention_png, label=results[0]["label"])
    for r, w in zip(results, where):
        r["input"] = w
    return results


__all__ = ["attention_map", "parse_series", "predict_raw", "predict_run", "read_inputs"]
