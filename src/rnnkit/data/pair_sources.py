"""Real source -> target pair sets for sequence-to-sequence, read out of package archives.

Both are split like ``cmudict`` (:func:`rnnkit.data.text_sources.split_by_source`): one pair per
distinct source with its first target, sources shuffled with a fixed seed, 90/5/5; held-out
sources with several accepted targets keep all of them in ``references``.

* ``en-past-tense``: English verb lemma -> simple past, characters -> characters (the past-tense
  task of Rumelhart & McClelland 1986 and Kirov & Cotterell 2018). From lemminflect 0.2.3
  (MIT) ``lemminflect/resources/infl_lu.csv.gz``, rows ``lemma,verb,VBD,VBN,VBG,VBZ`` whose forms
  come from Kevin Atkinson's AGID inflection database; alternatives are ``/``-separated (``bend``
  -> ``bent/bended``) and the first is the target. 6,747 verbs (``beware``, without a past form,
  is dropped); about 290 are irregular (past not ending in -ed).
* ``pinyin``: Chinese word (Hanzi characters) -> Hanyu Pinyin syllables with tone marks, one
  syllable per character, characters -> words (``一丝不挂`` -> ``yī sī bù guà``). From pypinyin
  0.55.0 (MIT) ``pypinyin/phrases_dict.json`` (data of the phrase-pinyin-data project, MIT):
  47,111 words of 2-10 characters. The task is reading polyphonic characters in context (620 of
  the 5,195 characters have several readings) and tone sandhi (``一`` is yī / yí / yì). Two
  entries list two readings for one character (朝阳, 那些): the first is the target, every
  combination a reference.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
from pathlib import Path

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import PairsData
from rnnkit.data.text_sources import split_by_source

LEMMINFLECT = "lemminflect/resources/infl_lu.csv.gz"
PINYIN = "pypinyin/phrases_dict.json"


def read_past_tense(text: str, source: str = "infl_lu.csv") -> dict[str, list[list[str]]]:
    """``lemma -> [past form as characters, ...]`` from lemminflect's ``infl_lu.csv`` rows of POS verb."""
    out: dict[str, list[list[str]]] = {}
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) < 2 or row[1] != "verb":
            continue
        if len(row) != 6:
            raise DatasetError(f"{source}:{lineno}: a verb row needs 6 fields (lemma,verb,VBD,VBN,VBG,VBZ), "
                               f"got {len(row)}")
        lemma, past = row[0].strip(), row[2].strip()
        if not lemma:
            raise DatasetError(f"{source}:{lineno}: empty lemma")
        if lemma in out:
            raise DatasetError(f"{source}:{lineno}: verb {lemma!r} listed twice")
        forms = [f.strip() for f in past.split("/") if f.strip()]
        if forms:  # "beware" has no past form
            out[lemma] = [list(f) for f in forms]
    return out


def parse_past_tense(archive: Path, member: str = LEMMINFLECT) -> PairsData:
    """English verb lemma -> past tense (characters), fixed-seed 90/5/5 split by lemma."""
    text = gzip.decompress(read_member(archive, member)).decode("utf-8")
    return split_by_source(read_past_tense(text, member), f"{archive.name}:{member}")


def read_pinyin(data: bytes, source: str = "phrases_dict.json") -> dict[str, list[list[str]]]:
    """``word -> [syllables, ...]`` from pypinyin's ``{"词": [["cí"]], ...}`` (every reading combination)."""
    try:
        text = data.decode("utf-8")
        table = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        line = getattr(e, "lineno", "?")
        raise DatasetError(f"{source}:{line}: not valid JSON ({e})") from None
    if not isinstance(table, dict):
        raise DatasetError(f"{source}:1: expected an object word -> readings")
    out: dict[str, list[list[str]]] = {}
    for word, readings in table.items():
        ok = (isinstance(readings, list) and len(readings) == len(word) and all(
            isinstance(r, list) and r and all(isinstance(s, str) and s.strip() for s in r) for r in readings))
        if not ok:
            line = text.count("\n", 0, max(text.find(json.dumps(word, ensure_ascii=False)), 0)) + 1
            raise DatasetError(f"{source}:{line}: entry {word!r}: expected one non-empty list of syllables "
                               f"per character, got {readings!r}")
        out[word] = [list(c) for c in itertools.product(*readings)]
    return out


def parse_pinyin(archive: Path, member: str = PINYIN) -> PairsData:
    """Chinese word -> toned pinyin syllables, fixed-seed 90/5/5 split by word."""
    return split_by_source(read_pinyin(read_member(archive, member), member), f"{archive.name}:{member}")


__all__ = ["parse_past_tense", "parse_pinyin", "read_past_tense", "read_pinyin"]
