"""The search spaces of ``rnnkit tune`` (docs/tune.md): task -> (Optuna trial, prepared data) -> config overrides.

Each space draws from the parameters that moved validation results on the development sets: the
encoder, its regularisation and the optimiser for classify / regress (a convolutional front end and the
normalisation for numeric series, the tokeniser for text); for forecasting the skip connection, context
and scaling, shrunk to what the series can hold (a seasonal skip needs the seasons in the context, and the
context must leave two training windows). Trial 0 of every search is the data-aware default itself
(:mod:`rnnkit.tune`), so a space need not contain it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _sequence_space(trial: Any, bundle: Any) -> list[str]:
    """classify / regress: the encoder, its regularisation and the optimiser."""
    kind = bundle.raw.kind
    out = [f"model.cell={trial.suggest_categorical('cell', ['gru', 'lstm'])}",
           f"model.hidden_size={trial.suggest_categorical('hidden_size', [32, 64, 128, 256])}",
           f"model.num_layers={trial.suggest_int('num_layers', 1, 2)}",
           f"model.bidirectional={trial.suggest_categorical('bidirectional', [False, True])}",
           f"model.pooling={trial.suggest_categorical('pooling', ['last', 'mean', 'max', 'attention'])}",
           f"model.input_dropout={trial.suggest_float('input_dropout', 0.0, 0.5)}",
           f"model.head_dropout={trial.suggest_float('head_dropout', 0.0, 0.5)}",
           f"train.lr={trial.suggest_float('lr', 3e-4, 1e-2, log=True)}",
           f"train.weight_decay={trial.suggest_float('weight_decay', 1e-6, 1e-2, log=True)}",
           f"train.batch_size={trial.suggest_categorical('batch_size', [16, 32, 64])}",
           "train.optimizer=adamw"]
    if kind in ("text", "tokens"):
        out.append(f"model.embed_dim={trial.suggest_categorical('embed_dim', [32, 64, 128])}")
    if kind == "text":
        out.append(f"data.tokenizer={trial.suggest_categorical('tokenizer', ['word', 'char'])}")
    if kind in ("series", "image"):
        out.append(f"data.normalize={trial.suggest_categorical('normalize', ['none', 'per_series', 'global'])}")
        if trial.suggest_categorical("frontend", ["none", "conv"]) == "conv":
            out += ["model.frontend=conv",
                    f"model.conv_channels={trial.suggest_categorical('conv_channels', [32, 64, 128])}",
                    f"model.conv_kernel={trial.suggest_categorical('conv_kernel', [3, 5, 8])}"]
    return out


def _forecast_space(trial: Any, bundle: Any) -> list[str]:
    period = max(1, bundle.frame.period)
    positive = bool((bundle.frame.targets > 0).all())
    room = max(1, int(bundle.train_origins[-1]) - 1)  # the longest context leaving two training windows
    skips = ["none", "last", "seasonal", "seasonal_trend"] if period > 1 else ["none", "last"]
    skip = trial.suggest_categorical("skip", skips)
    context = min(max(4, period * trial.suggest_int("context_periods", 1, 3)), room)
    if skip == "seasonal_trend":  # it reads two seasons back: two seasons of context, or the last value
        context = min(max(context, 2 * period), room)
    if skip.startswith("seasonal") and context < (2 if skip == "seasonal_trend" else 1) * period:
        skip = "last"  # the series cannot hold the context a seasonal skip needs
    return [f"model.cell={trial.suggest_categorical('cell', ['gru', 'lstm'])}",
            f"model.hidden_size={trial.suggest_categorical('hidden_size', [16, 32, 64])}",
            f"model.skip={skip}",
            f"model.ensemble={trial.suggest_categorical('ensemble', [1, 3])}",
            f"model.input_dropout={trial.suggest_float('input_dropout', 0.0, 0.3)}",
            f"data.context={context}",
            f"data.scaler={trial.suggest_categorical('scaler', ['standard', 'log1p'] if positive else ['standard'])}",
            f"train.lr={trial.suggest_float('lr', 3e-4, 1e-2, log=True)}"]


def _charlm_space(trial: Any, bundle: Any) -> list[str]:
    return [f"model.cell={trial.suggest_categorical('cell', ['lstm', 'gru'])}",
            f"model.hidden_size={trial.suggest_categorical('hidden_size', [128, 256, 512])}",
            f"model.num_layers={trial.suggest_int('num_layers', 1, 2)}",
            f"model.dropout={trial.suggest_float('dropout', 0.0, 0.3)}",
            f"train.seq_len={trial.suggest_categorical('seq_len', [50, 100])}",
            f"train.lr={trial.suggest_float('lr', 1e-3, 1e-2, log=True)}"]


def _seq2seq_space(trial: Any, bundle: Any) -> list[str]:
    return [f"model.cell={trial.suggest_categorical('cell', ['lstm', 'gru'])}",
            f"model.hidden_size={trial.suggest_categorical('hidden_size', [64, 128, 256])}",
            f"model.attention={trial.suggest_categorical('attention', ['additive', 'dot', 'general'])}",
            f"model.dropout={trial.suggest_float('dropout', 0.0, 0.3)}",
            f"train.lr={trial.suggest_float('lr', 1e-3, 1e-2, log=True)}"]


#: task -> the search space: (optuna trial, prepared data) -> config overrides
SPACES: dict[str, Callable[[Any, Any], list[str]]] = {
    "classify": _sequence_space, "regress": _sequence_space, "forecast": _forecast_space,
    "charlm": _charlm_space, "seq2seq": _seq2seq_space,
}


__all__ = ["SPACES"]
