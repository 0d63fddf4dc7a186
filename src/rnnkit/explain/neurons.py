"""Gate traces over a text and Karpathy-style interpretable units of a character language model.

``gate_traces`` runs a text through a language model's Stack, unrolled with the cells' own
equations (``explain.trace``), and returns every layer's gates and states aligned with the
characters. ``interpretable_units`` correlates each unit's activation over a text with simple
features of the text (inside quotes, inside parentheses, position in the line, line start, after
punctuation, ...) and reports the units that track one best (Karpathy, Johnson & Fei-Fei 2015,
"Visualizing and Understanding Recurrent Networks": the quote cell, the line-length cell).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnkit.errors import ConfigError, DataError
from rnnkit.explain.trace import unroll


@dataclass
class GateTrace:
    """Activations over a text: ``values[(layer, name)]`` is ``(T, H)`` for name in the cell's gates
    and its state fields ("h", and "c" for the LSTM family), aligned with ``chars``."""

    chars: list[str]
    cell: str
    values: dict[tuple[int, str], np.ndarray]

    def names(self, layer: int = 0) -> list[str]:
        return [n for (lay, n) in self.values if lay == layer]


def _charlm(model: Any) -> Any:
    model = getattr(model, "model_", model)
    if not all(hasattr(model, a) for a in ("embed", "rnn", "head")) or getattr(model, "tokenizer", None) is None:
        raise ConfigError(f"gate traces and neurons read a language model with its tokenizer (a charlm run); got "
                          f"{type(model).__name__}")
    return model


def encode_text(model: Any, text: str) -> tuple[list[str], torch.Tensor]:
    """(tokens, ids (T,)) of ``text``; a character the model never saw is an error naming it."""
    tok = _charlm(model).tokenizer
    if not text:
        raise DataError("the text is empty")
    if hasattr(tok, "stoi") and hasattr(tok, "chars"):  # character level
        unseen = sorted({c for c in text if c not in tok.stoi})
        if unseen:
            shown = ", ".join(repr(c) for c in unseen[:10])
            raise DataError(f"the text has {len(unseen)} character(s) the model never saw in training: {shown}")
        return list(text), tok.encode(text)
    ids = tok.encode(text)
    if bool((ids == 0).any()):
        raise DataError("the text has words outside the model's vocabulary (they would read as <unk>)")
    return [tok.itos[int(i)] for i in ids], ids


def gate_traces(model: Any, text: str) -> GateTrace:
    """Gates and states of every layer (direction 0) of a language model over ``text``."""
    model = _charlm(model)
    chars, ids = encode_text(model, text)
    dev = model.head.weight.device
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, traces = unroll(model.rnn, model.embed(ids.view(1, -1).to(dev)), gates=True)
    finally:
        model.train(was)
    values: dict[tuple[int, str], np.ndarray] = {}
    for tr in traces:
        if tr.direction:
            continue
        for name, v in tr.gates.items():
            values[(tr.layer, name)] = v[0].float().cpu().numpy()
        for f in type(tr.states[0])._fields:
            values[(tr.layer, f)] = tr.field(f)[0].float().cpu().numpy()
    return GateTrace(chars, model.rnn.cell_name, values)


# --------------------------------------------------------------------------- text features

def text_features(chars: list[str]) -> dict[str, np.ndarray]:
    """Per-character features (T,) of a text, each vectorised over the characters."""
    c = np.array(chars, dtype=object)
    is_ = lambda s: np.array([ch in s for ch in chars], dtype=bool)  # noqa: E731
    newline = is_("\n")
    line = np.cumsum(newline) - newline  # line number of each character (the newline ends its line)
    starts = np.r_[0, np.flatnonzero(newline) + 1]
    pos = np.arange(len(c)) - starts[line]  # position in the line
    q = is_('"')
    quote = ((np.cumsum(q) - q) % 2 == 1) & ~q  # strictly inside double quotes (the marks excluded)
    depth = np.cumsum(is_("(")) - np.cumsum(is_(")")) + is_(")")  # inside ( ... ), parentheses included
    prev = np.r_[False, is_(".,;:!?")[:-1]]
    alpha = np.array([ch.isalpha() for ch in chars], dtype=bool)
    idx = np.arange(len(c))
    last_gap = np.maximum.accumulate(np.where(alpha, -1, idx))  # last non-letter at or before each index
    word_pos = np.where(alpha, idx - last_gap, 0)  # 1, 2, ... inside a word, 0 between words
    return {
        "inside quotes": quote.astype(float), "inside parentheses": (depth > 0).astype(float),
        "position in line": pos.astype(float), "line start": (pos == 0).astype(float),
        "after punctuation": prev.astype(float), "whitespace": np.array([ch.isspace() for ch in chars], float),
        "uppercase": np.array([ch.isupper() for ch in chars], float), "position in word": word_pos,
        "vowel": is_("aeiouAEIOU").astype(float),
    }


def correlate(acts: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Pearson correlation (U, K) of activations (T, U) with features (T, K); constant columns give 0."""
    a = acts - acts.mean(0)
    f = feats - feats.mean(0)
    sa, sf = np.sqrt((a ** 2).sum(0)), np.sqrt((f ** 2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a.T @ f) / np.outer(sa, sf)
    return np.nan_to_num(r)


@dataclass
class Unit:
    """One interpretable unit: where it lives, the feature it tracks and the correlation r."""

    layer: int
    field: str  # "h" or "c"
    index: int
    feature: str
    r: float

    @property
    def name(self) -> str:
        return f"layer {self.layer} {self.field}[{self.index}]"


def interpretable_units(model: Any, text: str, top: int = 8) -> tuple[list[Unit], GateTrace, dict[str, np.ndarray]]:
    """The ``top`` units (h, and c for the LSTM family) whose activation correlates most with one
    feature of ``text`` (|Pearson r|), each unit reported once with its best feature."""
    trace = gate_traces(model, text)
    feats = text_features(trace.chars)
    names = list(feats)
    F = np.stack([feats[n] for n in names], 1)  # (T, K)
    units: list[Unit] = []
    for (layer, field), v in trace.values.items():
        if field not in ("h", "c"):
            continue
        r = correlate(v, F)  # (H, K)
        best = np.abs(r).argmax(1)
        units += [Unit(layer, field, int(u), names[k], float(r[u, k])) for u, k in enumerate(best)]
    units.sort(key=lambda u: -abs(u.r))
    return units[:top], trace, feats


__all__ = ["GateTrace", "Unit", "correlate", "encode_text", "gate_traces", "interpretable_units", "text_features"]
