"""Source -> target pairs for sequence-to-sequence: reading, tokenising, padded batches.

A pair is ``(src_tokens, tgt_tokens)``, two lists of strings. Each side is tokenised at its own
level: ``char`` (every character a token) or ``word`` (whitespace-split), so grapheme-to-phoneme
is char -> word (``"cat" -> ["K", "AE1", "T"]``) and date normalisation is char -> char.

Pairs files are TSV (``.tsv``/``.txt``: ``source<TAB>target`` per line) or CSV (``.csv``, first two
columns). Lines starting with ``#`` and blank lines are skipped; an empty side or an input longer
than ``max_len`` is a :class:`~rnnkit.errors.DataError` naming the file and line, because a silent
drop or truncation would change what the model is evaluated on.

Batches (:class:`PairBatch`) hold token ids padded with ``PAD = 0``; the target is given as
decoder input ``<bos> y_1 .. y_n`` and output ``y_1 .. y_n <eos>`` with their common length.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from torch import Tensor

from rnnkit.data.padding import pad, pool_sorted_batches
from rnnkit.data.tables import json_artifact, json_choice, read_text
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = 0, 1, 2, 3
LEVELS = ("char", "word")

Pair = tuple[list[str], list[str]]


def tokenize(text: str, level: str) -> list[str]:
    """Split ``text`` into tokens: characters (``char``) or whitespace-separated words (``word``)."""
    if level == "char":
        return list(text)
    if level == "word":
        return text.split()
    raise DataError(f"unknown tokenisation level {level!r}; valid: {', '.join(LEVELS)}")


def detokenize(tokens: Sequence[str], level: str) -> str:
    """Inverse of :func:`tokenize` (words are joined with single spaces)."""
    return ("" if level == "char" else " ").join(tokens)


@dataclass(frozen=True)
class Vocab:
    """Token <-> id table with the four specials first (``<pad>`` = 0)."""

    tokens: tuple[str, ...]
    level: str

    @classmethod
    def build(cls, sequences: Sequence[Sequence[str]], level: str) -> Vocab:
        """Vocabulary of every token in ``sequences`` (the training side), sorted for determinism."""
        seen = sorted({t for seq in sequences for t in seq} - set(SPECIALS))
        return cls(SPECIALS + tuple(seen), level)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``; unseen tokens map to ``<unk>``."""
        return [self._index.get(t, UNK) for t in tokens]  # type: ignore[attr-defined]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens of ``ids`` up to the first ``<eos>``, skipping ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.tokens[i])
        return out

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "level": self.level}

    @classmethod
    @json_artifact("tokenizer.json")
    def from_dict(cls, d: dict) -> Vocab:
        tokens = d["tokens"]
        if not isinstance(tokens, list) or tuple(tokens[:len(SPECIALS)]) != SPECIALS \
                or not all(isinstance(t, str) for t in tokens) or len(set(tokens)) != len(tokens):
            raise DataError(f"tokenizer.json tokens: expected distinct strings starting with {', '.join(SPECIALS)}")
        return cls(tuple(tokens), json_choice(d["level"], "tokenizer.json level", LEVELS))


def check_pair(src: Sequence[str], tgt: Sequence[str], where: str, max_len: int | None) -> None:
    """Raise a DataError naming ``where`` for an empty side or an over-long source/target."""
    if not src or not tgt:
        side = "source" if not src else "target"
        raise DataError(f"{where}: empty {side} in pair (source={detokenize(src, 'word')!r}, "
                        f"target={detokenize(tgt, 'word')!r}); every pair needs both sides")
    if max_len is not None:
        for side, seq in (("source", src), ("target", tgt)):
            if len(seq) > max_len:
                raise DataError(f"{where}: {side} has {len(seq)} tokens, more than max_len={max_len}; "
                                "shorten the line or raise data.max_len")


def read_pairs(path: str | Path, src_level: str = "char", tgt_level: str = "char",
               max_len: int | None = 200) -> list[Pair]:
    """Read a TSV (``src<TAB>tgt``) or CSV (first two columns) file into tokenised pairs."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"pairs file not found: {path}")
    text = read_text(path)
    if path.suffix.lower() == ".csv":
        rows = enumerate(csv.reader(text.splitlines()), 1)
    else:
        rows = ((i, line.split("\t")) for i, line in enumerate(text.splitlines(), 1))
    pairs = []
    for lineno, cols in rows:
        if not cols or (len(cols) == 1 and not cols[0].strip()) or cols[0].startswith("#"):
            continue
        where = f"{path}:{lineno}"
        if len(cols) < 2:
            raise DataError(f"{where}: expected 'source<TAB>target' (or two CSV columns), got {cols[0]!r}")
        src, tgt = tokenize(cols[0].strip(), src_level), tokenize(cols[1].strip(), tgt_level)
        check_pair(src, tgt, where, max_len)
        pairs.append((src, tgt))
    if not pairs:
        raise DataError(f"{path}: no pairs found")
    return pairs


def split_pairs(pairs: Sequence[Pair], valid: float, test: float, seed: int
                ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Fixed-seed split by distinct source (a source never appears in two splits)."""
    sources = sorted({tuple(s) for s, _ in pairs})
    random.Random(seed).shuffle(sources)
    n_test, n_valid = round(len(sources) * test), round(len(sources) * valid)
    test_s, valid_s = set(sources[:n_test]), set(sources[n_test:n_test + n_valid])
    out: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for p in pairs:
        key = tuple(p[0])
        out[2 if key in test_s else 1 if key in valid_s else 0].append(p)
    return out


class PairBatch(NamedTuple):
    """Padded ids: ``src (B, S)``, ``src_len (B,)``, ``tgt_in``/``tgt_out (B, T)``, ``tgt_len (B,)``."""

    src: Tensor
    src_len: Tensor
    tgt_in: Tensor
    tgt_out: Tensor
    tgt_len: Tensor


def make_batch(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab) -> PairBatch:
    """Encode and pad a list of pairs into one :class:`PairBatch`."""
    src, src_len = pad([src_vocab.encode(s) for s, _ in pairs])
    tgt = [tgt_vocab.encode(t) for _, t in pairs]
    tgt_in, tgt_len = pad([[BOS, *t] for t in tgt])
    tgt_out, _ = pad([[*t, EOS] for t in tgt])
    return PairBatch(src, src_len, tgt_in, tgt_out, tgt_len)


class PairBatches:
    """Training batches over pairs for ``fit()``: shuffled per epoch, bucketed by source length.

    Pairs are shuffled with a generator seeded by ``(seed, epoch)``, grouped into pools of
    ``50 * batch_size``, sorted by length inside a pool (so padding stays small) and cut into
    batches whose order is shuffled again.
    """

    carries_state = False

    def __init__(self, pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int,
                 seed: int = 0) -> None:
        if not pairs:
            raise DataError("no training pairs")
        self.pairs, self.src_vocab, self.tgt_vocab = list(pairs), src_vocab, tgt_vocab
        self.batch_size, self.seed = batch_size, seed

    def __len__(self) -> int:
        return (len(self.pairs) + self.batch_size - 1) // self.batch_size

    def epoch(self, epoch: int, start: int = 0) -> Iterator[PairBatch]:
        rng = random.Random(self.seed * 1_000_003 + epoch)
        order = list(range(len(self.pairs)))
        rng.shuffle(order)
        chunks = pool_sorted_batches(order, [len(s) for s, _ in self.pairs], self.batch_size, rng.shuffle)
        for idx in chunks[start:]:
            yield make_batch([self.pairs[i] for i in idx], self.src_vocab, self.tgt_vocab)


def iterate_batches(pairs: Sequence[Pair], src_vocab: Vocab, tgt_vocab: Vocab,
                    batch_size: int) -> Iterator[tuple[list[Pair], PairBatch]]:
    """Evaluation batches in a fixed order (sorted by length for speed), with their pairs."""
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))
    for i in range(0, len(order), batch_size):
        chunk = [pairs[j] for j in order[i:i + batch_size]]
        yield chunk, make_batch(chunk, src_vocab, tgt_vocab)


__all__ = ["BOS", "EOS", "LEVELS", "PAD", "SPECIALS", "UNK", "Pair", "PairBatch", "PairBatches", "Vocab",
           "check_pair", "detokenize", "iterate_batches", "make_batch", "pad", "read_pairs", "split_pairs",
           "tokenize"]
