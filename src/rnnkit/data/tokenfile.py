"""Corpora larger than memory: a token file written in one streaming pass, read through a memory map.

``write_token_file`` reads a text corpus in chunks (never whole), encodes each chunk with a fitted
tokenizer and appends the ids to a flat binary file of the smallest unsigned type that holds the
vocabulary (uint8 up to 256 ids, uint16 up to 65,536, else uint32), beside a JSON header
(``<file>.json``: dtype, token count, vocabulary size). ``fit_char_tokenizer`` finds a character
vocabulary in the same streaming way (a first pass).

``TokenStreams`` are the TBPTT streams of `rnnkit.data.charlm.StreamBatches` over that file: the
``B`` streams are ``B`` contiguous spans of the file, and a window is read from the memory map only when
it is yielded. Under ``torchrun`` each rank reads only its own contiguous streams (rows
``B*r/world .. B*(r+1)/world``), so no process ever holds the corpus; the data is ``rank_aware``
and `fit()` does not shard it again. With one process the windows equal ``StreamBatches``'.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.data.charlm import CharTokenizer
from rnnkit.errors import DataError

CHUNK_CHARS = 1 << 20


def read_chunks(path: str | Path, chunk_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """The text of a UTF-8 file, ``chunk_chars`` characters at a time."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        while chunk := f.read(chunk_chars):
            yield chunk


def fit_char_tokenizer(chunks: Iterable[str]) -> CharTokenizer:
    """`CharTokenizer.fit` over a stream of text chunks (the same vocabulary as on their concatenation)."""
    seen: set[str] = set()
    for chunk in chunks:
        seen.update(chunk)
    return CharTokenizer(sorted(seen))


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. vocab_size - 1``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if vocab_size <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    raise DataError(f"a vocabulary of {vocab_size} tokens does not fit a uint32 token file")


def write_token_file(chunks: Iterable[str], tokenizer: Any, path: str | Path) -> Path:
    """Encode ``chunks`` with ``tokenizer`` into ``path`` (+ ``path.json``), streaming."""
    return write_token_ids((tokenizer.encode(chunk).numpy() for chunk in chunks), tokenizer.vocab_size, path)


def write_token_ids(arrays: Iterable[np.ndarray], vocab_size: int, path: str | Path) -> Path:
    """Append id arrays to the token file ``path`` (+ ``path.json``); written to a temporary name and
    renamed, so a killed run never leaves a half-written token file."""
    path = Path(path)
    dtype = token_dtype(vocab_size)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "wb") as f:
        for ids in arrays:
            f.write(np.asarray(ids).astype(dtype).tobytes())
            count += len(ids)
    os.replace(tmp, path)
    header = {"format": "rnnkit-tokens", "version": 1, "dtype": dtype.name, "count": count, "vocab_size": vocab_size}
    path.with_name(path.name + ".json").write_text(json.dumps(header))
    return path


def open_token_file(path: str | Path) -> np.memmap:
    """The token ids of a token file, memory-mapped read-only (1-D, the header's dtype)."""
    path = Path(path)
    try:
        header = json.loads(path.with_name(path.name + ".json").read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a token file (its .json header is unreadable: {e})") from None
    if header.get("format") != "rnnkit-tokens":
        raise DataError(f"{path}: not a token file (header format {header.get('format')!r})")
    mm = np.memmap(path, dtype=np.dtype(header["dtype"]), mode="r")
    if len(mm) != header["count"]:
        raise DataError(f"{path}: {len(mm)} tokens, its header says {header['count']} (truncated?)")
    return mm


class TokenStreams:
    """TBPTT windows over a token file (``rnnkit.train.fit.TrainData``), this rank's streams only.

    The file's first ``B * n + 1`` tokens make ``B`` streams of ``n`` inputs (as `to_streams`); rank
    ``r`` of ``world`` keeps streams ``B*r//world .. B*(r+1)//world`` and reads their windows lazily."""

    carries_state = True
    rank_aware = True  # fit() under torchrun takes the batches as they are (already this rank's)

    def __init__(self, path: str | Path, batch_size: int, seq_len: int, rank: int | None = None,
                 world: int | None = None) -> None:
        if rank is None or world is None:
            from rnnkit.train.distributed import dist_env

            env = dist_env()
            rank, world = env.rank, env.world
        self.tokens = open_token_file(path)
        self.n = (len(self.tokens) - 1) // batch_size
        if self.n < max(2, seq_len):
            raise DataError(f"{path}: {len(self.tokens)} tokens, too few for {batch_size} streams x {seq_len} steps")
        self.rows = range(batch_size * rank // world, batch_size * (rank + 1) // world)
        if not len(self.rows):
            raise DataError(f"train.batch_size={batch_size} streams cannot be split over {world} processes")
        self.seq_len = seq_len

    def __len__(self) -> int:
        return -(-self.n // self.seq_len)

    def window(self, s: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and next-token targets of this rank's streams at steps ``s .. s+length-1``."""
        rows = [np.asarray(self.tokens[b * self.n + s: b * self.n + s + length + 1]) for b in self.rows]
        block = torch.from_numpy(np.stack(rows).astype(np.int64))  # (B_local, length + 1)
        return block[:, :-1], block[:, 1:]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for s in range(start * self.seq_len, self.n, self.seq_len):
            yield self.window(s, min(self.seq_len, self.n - s))

    @property
    def tokens_per_epoch(self) -> int:
        return len(self.rows) * self.n


__all__ = ["TokenStreams", "fit_char_tokenizer", "open_token_file", "read_chunks", "token_dtype",
           "write_token_file", "write_token_ids"]
