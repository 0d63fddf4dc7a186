"""Character-level language-model data: corpus loading, `CharTokenizer`, TBPTT streams.

Truncated BPTT over a contiguous stream (as in Zaremba et al. 2014 and char-rnn): the encoded
text is cut into `B` equal parallel streams (row b holds characters b*n .. (b+1)*n-1), and the
batches are consecutive windows of `T` steps, so window k+1 of row b continues exactly where
window k of row b stopped and the recurrent state can be carried across windows (detached).
AWD-LSTM's randomised window length (Merity et al. 2017: T with p=0.95 else T/2, then
N(., 5)) varies where the windows are cut, from a generator seeded by (seed, epoch).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.tables import json_artifact, read_text
from rnnkit.errors import DataError

log = logging.getLogger(__name__)

UNK = "<unk>"


class CharTokenizer:
    """Characters <-> ids. Id 0 is `<unk>`: characters not seen in the training text map to it on
    encode, and it decodes to U+FFFD (the replacement character)."""

    def __init__(self, chars: list[str]) -> None:
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise DataError("CharTokenizer needs distinct single characters")
        self.chars = list(chars)
        self.itos = [UNK, *self.chars]
        self.stoi = {c: i + 1 for i, c in enumerate(self.chars)}
        self._codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._order = np.argsort(self._codes)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """The vocabulary of `text` (the training split only), sorted by code point."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> torch.Tensor:
        """Ids of `text` as a 1-D int64 tensor (vectorised: fast on megabytes)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        sorted_codes = self._codes[self._order]
        pos = np.searchsorted(sorted_codes, codes).clip(0, max(len(sorted_codes) - 1, 0))
        if len(sorted_codes) == 0:
            return torch.zeros(len(codes), dtype=torch.long)
        found = sorted_codes[pos] == codes
        ids = np.where(found, self._order[pos] + 1, 0)
        unknown = int((~found).sum())
        if unknown:
            log.info("%d characters not in the vocabulary were mapped to %s", unknown, UNK)
        return torch.from_numpy(ids)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join("\ufffd" if i == 0 else self.itos[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "version": 1, "unk": UNK, "chars": self.chars}

    def decode_piece(self, i: int, previous: int | None = None) -> str:
        """The text of one generated id (characters need no spacing)."""
        return self.decode([i])

    @classmethod
    @json_artifact("tokenizer.json")
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        if d.get("type") != "char":
            raise DataError(f"not a character tokenizer: type={d.get('type')!r}")
        return cls(list(d["chars"]))


_WORDS = re.compile(r"\n|\w+(?:'\w+)*|[^\w\s]", re.UNICODE)
_NO_SPACE_BEFORE = set(".,;:!?)]}'\n")


class WordTokenizer:
    """Words <-> ids for a word-level language model: ``\\w+`` runs (with inner apostrophes), single
    punctuation marks and line breaks are tokens; id 0 is ``<unk>`` (rare or unseen words). Decoding
    puts a space before a word unless it follows a line break or is punctuation."""

    def __init__(self, words: list[str]) -> None:
        if len(set(words)) != len(words):
            raise DataError("WordTokenizer needs distinct words")
        self.words = list(words)
        self.itos = [UNK, *self.words]
        self.stoi = {w: i + 1 for i, w in enumerate(self.words)}

    @classmethod
    def fit(cls, text: str, min_freq: int = 1, max_vocab: int = 30000) -> WordTokenizer:
        """The ``max_vocab - 1`` most frequent words of `text` (the training split) seen >= min_freq times."""
        from collections import Counter

        counts = Counter(_WORDS.findall(text))
        kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(kept[: max(0, max_vocab - 1)])

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> torch.Tensor:
        ids = [self.stoi.get(w, 0) for w in _WORDS.findall(text)]
        unknown = ids.count(0)
        if unknown:
            log.info("%d words not in the vocabulary were mapped to %s", unknown, UNK)
        return torch.tensor(ids, dtype=torch.long)

    def decode_piece(self, i: int, previous: int | None = None) -> str:
        word = self.itos[i]
        glued = previous is None or self.itos[previous] == "\n" or word in _NO_SPACE_BEFORE
        return word if glued else " " + word

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return "".join(self.decode_piece(i, ids[k - 1] if k else None) for k, i in enumerate(ids))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "word", "version": 1, "unk": UNK, "words": self.words}

    @classmethod
    @json_artifact("tokenizer.json")
    def from_dict(cls, d: dict[str, Any]) -> WordTokenizer:
        return cls(list(d["words"]))


#: ``data.level`` -> tokenizer class (``tokenizer.json`` records its ``type``)
LM_TOKENIZERS = {"char": CharTokenizer, "word": WordTokenizer}


@json_artifact("tokenizer.json")
def tokenizer_from_dict(d: dict[str, Any]) -> CharTokenizer | WordTokenizer:
    """The tokenizer saved in a model directory's tokenizer.json, by its ``type``."""
    kind = d.get("type")
    if kind not in LM_TOKENIZERS:
        raise DataError(f"tokenizer.json: unknown type {kind!r}; valid: {', '.join(LM_TOKENIZERS)}")
    return LM_TOKENIZERS[kind].from_dict(d)


# --------------------------------------------------------------------------- corpus

@dataclass(frozen=True)
class Corpus:
    train: str
    valid: str
    test: str
    source: str


def split_text(text: str, valid: float = 0.05, test: float = 0.05) -> tuple[str, str, str]:
    """Deterministic positional split: first (1-valid-test) train, then valid, then test."""
    n = len(text)
    a, b = int(n * (1 - valid - test)), int(n * (1 - test))
    return text[:a], text[a:b], text[b:]


def load_corpus(source: str, valid: float = 0.05, test: float = 0.05) -> Corpus:
    """A text file, a folder of text files (sorted, concatenated; hidden ones skipped) or a bundled
    data set name; files are read by `rnnkit.data.tables.read_text` (encoding detected)."""
    path = Path(source).expanduser()
    if path.is_file():
        return Corpus(*split_text(read_text(path), valid, test), source=str(path))
    if path.is_dir():
        # hidden files and folders (.git/, .DS_Store) are not corpus text
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise DataError(f"{path}: the folder holds no files")
        text = "\n".join(read_text(p) for p in files)
        return Corpus(*split_text(text, valid, test), source=str(path))
    if "/" in source or source.endswith(".txt"):
        raise DataError(f"{source}: no such file or folder")
    try:
        from rnnkit.data.registry import load_dataset
    except ImportError as e:  # the registry is optional for file-based corpora
        raise DataError(f"{source!r} is not a file and the data set registry is unavailable ({e})") from None
    try:
        ds = load_dataset(source)
    except (KeyError, ValueError) as e:
        raise DataError(f"--data {source!r}: not a file or folder, and not a bundled data set: "
                        f"{e.args[0] if e.args else e}") from None
    if not all(isinstance(getattr(ds, k, None), str) for k in ("train", "valid", "test")):
        raise DataError(f"data set {source!r} is not a text corpus (it is for another task)")
    return Corpus(ds.train, ds.valid, ds.test, source=source)


# --------------------------------------------------------------------------- batching

def to_streams(ids: torch.Tensor, batch_size: int, what: str = "text") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-character targets as B parallel streams: x, y of shape (B, n)."""
    n = (len(ids) - 1) // batch_size
    if n < 2:
        raise DataError(f"{what} has {len(ids)} characters: too short for {batch_size} streams "
                        f"(needs at least {2 * batch_size + 1}); lower train.batch_size or add text")
    x = ids[: batch_size * n].view(batch_size, n)
    y = ids[1: batch_size * n + 1].view(batch_size, n)
    return x, y


class StreamBatches:
    """Training windows for truncated BPTT; satisfies `rnnkit.train.fit.TrainData`."""

    carries_state = True

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int, random_len: bool = False,
                 seed: int = 0, what: str = "training text") -> None:
        self.x, self.y = to_streams(ids, batch_size, what)
        if self.x.shape[1] < seq_len:
            raise DataError(f"{what} has {len(ids)} characters: shorter than one training window "
                            f"({batch_size} streams x {seq_len} steps); lower train.seq_len or "
                            "train.batch_size, or add text")
        self.seq_len, self.random_len, self.seed = seq_len, random_len, seed

    def windows(self, epoch: int) -> list[tuple[int, int]]:
        """(start, length) of every window of `epoch`; lengths vary only with random_len."""
        n, T = self.x.shape[1], self.seq_len
        if not self.random_len:
            return [(s, min(T, n - s)) for s in range(0, n, T)]
        g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        out, s = [], 0
        while s < n:
            base = T if float(torch.rand((), generator=g)) < 0.95 else T / 2
            length = max(5, int(base + 5 * float(torch.randn((), generator=g))))
            length = min(length, n - s, 2 * T)
            out.append((s, length))
            s += length
        return out

    def __len__(self) -> int:
        return len(self.windows(0))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for s, length in self.windows(epoch)[start:]:
            yield self.x[:, s:s + length], self.y[:, s:s + length]

    @property
    def tokens_per_epoch(self) -> int:
        return self.x.numel()
