"""Inputs of sequence classifiers and regressors: raw examples -> encoded sequences, one encoder per kind.

An example is one of four kinds, told apart once when the data is read (:func:`kind_of`):

* ``text``: a string, tokenised by words or characters with a :class:`~rnnkit.data.classify.Vocab`
  fitted on the training part only;
* ``series`` / ``image``: numbers ``(T,)`` or ``(T, F)``, normalised by a
  :class:`~rnnkit.data.classify.Scaler` fitted on the training part only (images are read row by row);
* ``tokens``: integer ids the user already encoded (e.g. with Keras's ``Tokenizer`` and
  ``pad_sequences``): 0 is padding and is stripped from both ends, so pre- and post-padded batches
  give the same sequences; the vocabulary size comes from the training part.

:class:`InputEncoder` holds what turns raw examples of one kind into model input and travels in the
model directory (``tokenizer.json`` / ``scaler.json`` plus ``kind`` / ``input_size`` in ``labels.json``),
so ``predict`` reads new raw input exactly as training did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rnnkit.data.classify import NORMALIZATIONS, TOKENIZERS, Scaler, Vocab, check_series, check_texts
from rnnkit.data.tables import json_artifact, json_choice
from rnnkit.errors import ConfigError, DataError

MISSING_POLICIES = ("error", "drop")  # data.missing_labels (rnnkit.data.classify_sources.handle_missing_labels)

log = logging.getLogger(__name__)

KINDS = ("text", "series", "image", "tokens")
#: the model-directory files each input kind is rebuilt from (beside labels.json / targets.json)
ARTIFACTS_NEEDED = {"text": ("tokenizer.json",), "series": ("scaler.json",), "image": ("scaler.json",),
                    "tokens": ("tokenizer.json",)}


@dataclass(frozen=True)
class InputDataConfig:
    """``[data]`` settings shared by the tasks that read one sequence per example (classify, regress)."""

    source: str = ""  # bundled name (rnnkit datasets) or a path (.csv/.tsv/.jsonl, .npz, .ts)
    test_source: str | None = None  # separate test file (else a fixed-seed split of `source`)
    text_column: str = "text"
    tokenizer: str = "word"  # word | char
    lowercase: bool = True
    min_freq: int = 1
    max_vocab: int = 30000
    max_len: int = 0  # > 0: truncate longer inputs (counted and logged); 0: never truncate
    normalize: str = "none"  # none | per_series | global (numeric inputs)
    val_fraction: float = 0.1  # carved from the training split
    test_fraction: float = 0.2  # only for sources without a test split
    split_seed: int = 0  # the test split of sources without one, and the validation split
    val_seed: int | None = None  # another validation split of the same training data (None: split_seed)
    eval_batch_size: int = 256
    bucket: bool = False  # training batches grouped by length (less padding for texts of mixed lengths)
    baselines: bool = True
    missing_labels: str = "error"  # error | drop: a row whose label/target is empty, NaN, NA, null, ...

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "min_freq": "[1, inf)", "max_vocab": "[3, inf)",  # <pad>, <unk> and at least one token
        "max_len": "[0, inf)", "val_fraction": "[0, 1)", "test_fraction": "[0, 1)",
        "split_seed": "[0, 4294967295]", "val_seed": "[0, 4294967295]", "eval_batch_size": "[1, inf)",
    }

    def __post_init__(self) -> None:
        for name, value, valid in (("tokenizer", self.tokenizer, TOKENIZERS),
                                   ("normalize", self.normalize, NORMALIZATIONS),
                                   ("missing_labels", self.missing_labels, MISSING_POLICIES)):
            if value not in valid:
                raise ConfigError(f"data.{name}={value!r} is not valid; choose one of: {', '.join(valid)}")


def kind_of(values: list[Any]) -> str:
    """``text`` when every example is a string, ``tokens`` when every example is a 1-D integer array,
    else ``series``."""
    if all(isinstance(v, str) or v is None for v in values):
        return "text"
    if values and all(isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "iu" for v in values):
        return "tokens"
    return "series"


def strip_padding(ids: Any, where: str) -> np.ndarray:
    """Token ids without the 0-padding at either end; an all-padding row (an empty text) keeps one
    padding token, so the model reads it as an empty sequence (Keras's fully masked row)."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise DataError(f"{where}: token ids must be a 1-D integer sequence, got {arr.dtype} of shape {arr.shape}")
    nz = np.flatnonzero(arr)
    if not len(nz):
        log.warning("%s: the sequence is all padding (token id 0): read as one padding step", where)
        return np.zeros(1, np.int64)
    return arr[nz[0]: nz[-1] + 1].astype(np.int64)


@dataclass
class InputEncoder:
    """Raw examples of one ``kind`` -> encoded sequences (token id lists or float ``(T, F)`` arrays)."""

    kind: str
    vocab: Vocab | None = None
    scaler: Scaler | None = None
    vocab_size: int | None = None  # tokens: ids lie in [0, vocab_size)
    input_size: int | None = None  # series / image: features per step
    max_len: int = 0  # > 0: longer inputs are truncated (counted and logged)

    @classmethod
    def fit(cls, kind: str, items: list[Any], where: list[str], d: Any) -> InputEncoder:
        """Fit on the training part ``items``; ``d`` is the task's data config (tokenizer, lowercase,
        min_freq, max_vocab, normalize, max_len)."""
        if kind not in KINDS:
            raise DataError(f"unknown input kind {kind!r}; valid: {', '.join(KINDS)}")
        if kind == "text":
            check_texts(items, where)
            return cls(kind, vocab=Vocab.build(items, d.tokenizer, d.lowercase, d.min_freq, d.max_vocab),
                       max_len=d.max_len)
        if kind == "tokens":
            top = max(int(strip_padding(x, w).max()) for x, w in zip(items, where))
            return cls(kind, vocab_size=max(top, 1) + 1, max_len=d.max_len)
        series = [check_series(x, w) for x, w in zip(items, where)]
        return cls(kind, scaler=Scaler.fit(d.normalize, series), input_size=int(series[0].shape[1]),
                   max_len=d.max_len)

    def encode(self, items: list[Any], where: list[str]) -> list[Any]:
        """Encode raw examples; every error names the example (``where``)."""
        if self.kind == "text":
            check_texts(items, where)
            seqs: list[Any] = [self.vocab.encode(t) for t in items]
            for s, w in zip(seqs, where):
                if not s:
                    raise DataError(f"{w}: text has no tokens after tokenisation")
        elif self.kind == "tokens":
            seqs = [strip_padding(x, w) for x, w in zip(items, where)]
            for s, w in zip(seqs, where):
                if int(s.max()) >= self.vocab_size or int(s.min()) < 0:
                    raise DataError(f"{w}: token id {int(s.max()) if s.max() >= self.vocab_size else int(s.min())} "
                                    f"outside the training vocabulary [0, {self.vocab_size})")
            seqs = [s.tolist() for s in seqs]
        else:
            seqs = [check_series(x, w) for x, w in zip(items, where)]
            for s, w in zip(seqs, where):
                if s.shape[1] != self.input_size:
                    raise DataError(f"{w}: {s.shape[1]} features per step, expected {self.input_size} "
                                    "(as the training data)")
            seqs = [self.scaler.transform(s) for s in seqs]
        return self._truncate(seqs)

    def _truncate(self, seqs: list[Any]) -> list[Any]:
        if self.max_len > 0:
            cut = sum(len(s) > self.max_len for s in seqs)
            if cut:
                log.warning("data.max_len=%d truncates %d of %d inputs", self.max_len, cut, len(seqs))
            seqs = [s[: self.max_len] for s in seqs]
        return seqs

    @property
    def model_input(self) -> dict[str, int]:
        """``vocab_size=`` for token input or ``input_size=`` for numeric input (the model's keyword)."""
        if self.kind == "text":
            return {"vocab_size": len(self.vocab)}
        if self.kind == "tokens":
            return {"vocab_size": self.vocab_size}
        return {"input_size": self.input_size}

    def artifacts(self) -> tuple[dict[str, dict], dict[str, Any]]:
        """(files for the model directory, fields for labels.json / targets.json)."""
        files: dict[str, dict] = {}
        if self.vocab is not None:
            files["tokenizer.json"] = self.vocab.to_dict()
        if self.kind == "tokens":
            files["tokenizer.json"] = {"type": "ids", "vocab_size": self.vocab_size}
        if self.scaler is not None:
            files["scaler.json"] = self.scaler.to_dict()
        return files, {"kind": self.kind, "input_size": self.input_size}

    @classmethod
    @json_artifact("tokenizer.json / scaler.json / labels.json")
    def from_artifacts(cls, arts: dict[str, dict], meta: dict[str, Any], max_len: int = 0) -> InputEncoder:
        """Rebuild from a model directory's artifacts (``meta`` is labels.json / targets.json)."""
        tok = arts.get("tokenizer.json")
        if tok is not None and tok.get("type") == "ids":
            return cls("tokens", vocab_size=int(tok["vocab_size"]), max_len=max_len)
        kind = json_choice(meta["kind"], "labels.json kind", KINDS)
        needs = ARTIFACTS_NEEDED[kind]
        missing = [name for name in needs if name not in arts]
        if missing:
            raise DataError(f"{', '.join(missing)}: missing, needed for {kind} input")
        vocab = Vocab.from_dict(tok) if "tokenizer.json" in needs else None
        scaler = Scaler.from_dict(arts["scaler.json"]) if "scaler.json" in needs else None
        size = meta.get("input_size")
        if scaler is not None and (not isinstance(size, int) or size < 1
                                   or (scaler.mean is not None and len(scaler.mean) != size)):
            raise DataError(f"labels.json input_size: {size!r} does not match scaler.json (a whole number of "
                            "features, as many as the scaler's statistics)")
        return cls(kind, vocab=vocab, scaler=scaler, input_size=size, max_len=max_len)


__all__ = ["KINDS", "InputDataConfig", "InputEncoder", "kind_of", "strip_padding"]
