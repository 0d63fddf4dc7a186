"""Token files: a corpus tokenised in one streaming pass, read through a memory map.

Claims: the file holds exactly the ids of the whole text (chunk boundaries change nothing) in the
smallest dtype for the vocabulary; its streams are `StreamBatches`' windows, and the ranks' shards
are contiguous streams that together make the global batch; tokenising a corpus and training windows
from it takes the same peak memory for a 4 MB and a 40 MB corpus (the corpus is never in memory).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.charlm import CharTokenizer, StreamBatches
from rnnkit.data.tokenfile import (
    TokenStreams,
    fit_char_tokenizer,
    open_token_file,
    read_chunks,
    token_dtype,
    write_token_file,
)
from rnnkit.errors import DataError

TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 30


def test_dtype_by_vocabulary() -> None:
    assert [token_dtype(v).name for v in (2, 256, 257, 65536, 65537)] == ["uint8", "uint8", "uint16", "uint16",
                                                                           "uint32"]


def test_round_trip_across_chunk_boundaries(tmp_path: Path) -> None:
    src = tmp_path / "corpus.txt"
    src.write_text(TEXT, encoding="utf-8")
    tok = fit_char_tokenizer(read_chunks(src, chunk_chars=7))
    assert tok.chars == CharTokenizer.fit(TEXT).chars
    path = write_token_file(read_chunks(src, chunk_chars=7), tok, tmp_path / "corpus.tokens")
    ids = open_token_file(path)
    assert ids.dtype == np.uint8 and not (tmp_path / "corpus.tokens.tmp").exists()
    assert np.array_equal(np.asarray(ids), tok.encode(TEXT).numpy())
    (tmp_path / "corpus.tokens.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not a token file"):
        open_token_file(path)


def test_streams_equal_stream_batches_and_shard_by_rank(tmp_path: Path) -> None:
    tok = CharTokenizer.fit(TEXT)
    path = write_token_file([TEXT], tok, tmp_path / "t.bin")
    ref = list(StreamBatches(tok.encode(TEXT), 6, 40).epoch(0))
    one = list(TokenStreams(path, 6, 40, rank=0, world=1).epoch(0))
    assert len(one) == len(ref) == len(TokenStreams(path, 6, 40, rank=0, world=1))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(one, ref))
    shards = [list(TokenStreams(path, 6, 40, rank=r, world=2).epoch(0, start=2)) for r in (0, 1)]
    for k, (x, y) in enumerate(ref[2:]):
        assert torch.equal(torch.cat([shards[0][k][0], shards[1][k][0]]), x)
        assert torch.equal(torch.cat([shards[0][k][1], shards[1][k][1]]), y)
    with pytest.raises(DataError, match="cannot be split"):
        TokenStreams(path, 1, 40, rank=0, world=2)


_PEAK = """
import resource, sys
from rnnkit.data.tokenfile import TokenStreams, fit_char_tokenizer, read_chunks, write_token_file
src, out = sys.argv[1], sys.argv[2]
tok = fit_char_tokenizer(read_chunks(src))
write_token_file(read_chunks(src), tok, out)
data = TokenStreams(out, 32, 100)
for k, (x, y) in enumerate(data.epoch(0)):
    if k == 50:
        break
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, len(data))
"""


def _corpus(path: Path, megabytes: int) -> None:
    g = np.random.default_rng(0)
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz ,.\n", dtype=np.uint8)
    with open(path, "wb") as f:
        for _ in range(megabytes):
            f.write(alphabet[g.integers(0, len(alphabet), 1 << 20)].tobytes())


def test_peak_memory_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    peaks = {}
    for mb in (4, 40):
        src = tmp_path / f"c{mb}.txt"
        _corpus(src, mb)
        p = subprocess.run([sys.executable, "-c", _PEAK, str(src), str(tmp_path / f"c{mb}.tokens")],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        peaks[mb] = int(p.stdout.split()[0])
        src.unlink()
    print(f"peak RSS: 4 MB corpus {peaks[4]} MiB, 40 MB corpus {peaks[40]} MiB")
    assert peaks[40] - peaks[4] < 12, peaks  # read whole, 36 MB more text would add 36 MB + 288 MB of int64 ids
