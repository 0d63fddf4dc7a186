"""Char-LM data errors (naming the file) and the n-gram baselines against hand computation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from rnnkit.baselines.ngram import KneserNey, unigram_bpc
from rnnkit.data.charlm import StreamBatches, load_corpus
from rnnkit.errors import DataError


def test_file_and_folder_corpora(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("x" * 100, encoding="utf-8")
    c = load_corpus(str(tmp_path / "a.txt"), valid=0.1, test=0.2)
    assert (len(c.train), len(c.valid), len(c.test)) == (70, 10, 20)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "2.txt").write_text("bb", encoding="utf-8")
    (tmp_path / "d" / "1.txt").write_text("aa", encoding="utf-8")
    c = load_corpus(str(tmp_path / "d"), valid=0.0, test=0.0)
    assert c.train == "aa\nbb"


@pytest.mark.parametrize("content,needle", [
    (b"\x00" * 64, r"a binary file, not text \(NUL byte at offset 0\)"),
    (b"", "the file is empty"),
    (b"  \n", "the file is empty"),
])
def test_bad_files_are_named(tmp_path, content: bytes, needle: str) -> None:
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(DataError, match=rf"bad.txt: {needle}"):
        load_corpus(str(p))


def test_missing_path_and_unknown_name() -> None:
    with pytest.raises(DataError, match="nope/x.txt: no such file or folder"):
        load_corpus("nope/x.txt")
    with pytest.raises(DataError, match="not a file or folder, and not a bundled data set"):
        load_corpus("no-such-corpus-name")


def test_text_shorter_than_one_window() -> None:
    with pytest.raises(DataError, match="tiny.txt has 50 characters: shorter than one training window"):
        StreamBatches(torch.arange(50), batch_size=4, seq_len=20, what="tiny.txt")
    with pytest.raises(DataError, match="too short for 8 streams"):
        StreamBatches(torch.arange(10), batch_size=8, seq_len=2)


def test_unigram_matches_hand_computation() -> None:
    train, test = np.array([0, 1, 1, 2, 2, 2]), np.array([2, 1, 3])
    counts = Counter(train.tolist())
    want = -np.mean([math.log2((counts[c] + 1) / (6 + 4)) for c in test.tolist()])
    assert math.isclose(unigram_bpc(train, test, 4), want)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_kneser_ney_distributions_sum_to_one(order: int) -> None:
    rng = np.random.default_rng(0)
    V = 6
    train = rng.integers(0, V - 1, 3000) * (rng.random(3000) < 0.7)  # symbol V-1 never seen
    kn = KneserNey(order, V).fit(train)
    for hist in ([], [1], [0, 2], [3, 3, 1, 0], [4, 4, 4, 4], [5, 5]):  # incl. unseen contexts
        h = list(hist)[-(order - 1):] if order > 1 else []
        probs = [2 ** kn.log2prob(np.array(h + [w]))[-1] for w in range(V)]
        assert math.isclose(sum(probs), 1.0, rel_tol=1e-9), (hist, probs)
        assert min(probs) > 0


def test_kneser_ney_learns_a_deterministic_sequence() -> None:
    seq = np.tile(np.arange(7), 500)
    kn = KneserNey(3, 7).fit(seq)
    assert kn.bpc(np.tile(np.arange(7), 20)) < 0.1
    assert unigram_bpc(seq, seq, 7) > 2.7  # log2(7) = 2.81: no context, no help


def _reference_kneser_ney(train: list[int], order: int, V: int):
    """Interpolated Kneser-Ney written from Chen & Goodman (1998, eq. 17/20) with dicts and loops,
    independently of the vectorised implementation: raw counts at the top order, continuation
    counts (distinct left extensions) below, one discount n1 / (n1 + 2 n2) per order, a context
    never seen falling through to the next lower order, uniform at the bottom."""
    from collections import Counter

    def grams(k: int) -> list[tuple[int, ...]]:
        return [tuple(train[i - k + 1:i + 1]) for i in range(k - 1, len(train))]

    counts = {order: Counter(grams(order))}
    for k in range(1, order):
        counts[k] = Counter(g[1:] for g in set(grams(k + 1)))
    discount = {}
    for k, c in counts.items():
        n1, n2 = sum(v == 1 for v in c.values()), sum(v == 2 for v in c.values())
        discount[k] = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5

    def prob(history: tuple[int, ...], w: int) -> float:
        p = 1.0 / V
        for k in range(1, min(order, len(history) + 1) + 1):
            h = history[len(history) - (k - 1):] if k > 1 else ()
            same = {g: v for g, v in counts[k].items() if g[:-1] == h}
            total = sum(same.values())
            if total == 0:
                continue
            d = discount[k]
            p = max(same.get(h + (w,), 0) - d, 0) / total + d * len(same) / total * p
        return p

    return prob


def test_kneser_ney_matches_an_independent_reference() -> None:
    rng = np.random.default_rng(3)
    V, order = 4, 3
    train = (rng.integers(0, V, 300) * (rng.random(300) < 0.7)).tolist()  # skewed towards id 0
    test = rng.integers(0, V, 60).tolist()
    kn = KneserNey(order, V).fit(np.asarray(train))
    ref = _reference_kneser_ney(train, order, V)
    got = kn.log2prob(np.asarray(test))
    want = [np.log2(ref(tuple(test[max(0, i - order + 1):i]), test[i])) for i in range(len(test))]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
