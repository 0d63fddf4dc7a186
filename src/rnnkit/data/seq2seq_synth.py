"""Synthetic sequence-to-sequence tasks (labelled *synthetic* everywhere they are reported).

* ``dates``    -- a real calendar date (1950-2049) written in one of many surface forms
  ("23 Nov 2026", "November 23, 2026", "11/23/26", "Monday, 23rd of November 2026", ...) -> ISO
  "2026-11-23". The split is by *date*: test dates never occur in training, in any form.
  Ambiguous forms are avoided: slashes are always US month/day, dots always day.month, and two-digit
  years map to 1950-2049 (the generated range), so every input has exactly one answer.
* ``addition`` -- "123+456" -> "579", operands 0..999; test operand pairs are unseen.
* ``reverse``  -- a random lowercase string of length 10-30 -> the same string reversed; test
  strings are unseen.

Every generator is deterministic given its seed; splits are disjoint by construction.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from rnnkit.data.seq2seq import Pair
from rnnkit.errors import DataError

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _date_forms(d: dt.date) -> list[str]:
    """Surface forms of one date (each unambiguous within 1950-2049)."""
    mon, day, wd = _MONTHS[d.month - 1], d.day, _DAYS[d.weekday()]
    m3, yy, y = mon[:3], f"{d.year % 100:02d}", d.year
    return [
        f"{day} {m3} {y}", f"{day:02d} {m3} {y}", f"{mon} {day}, {y}", f"{m3} {day}, {y}",
        f"{d.month:02d}/{day:02d}/{yy}", f"{d.month}/{day}/{y}", f"{d.month:02d}/{day:02d}/{y}",
        f"{day:02d}.{d.month:02d}.{y}", f"{day}.{d.month}.{yy}", f"{y}/{d.month:02d}/{day:02d}",
        f"{wd}, {mon} {day}, {y}", f"{wd[:3]} {day} {m3} {y}", f"{_ordinal(day)} {mon} {y}",
        f"the {_ordinal(day)} of {mon}, {y}", f"{m3.lower()} {day} {y}", f"{day} {mon.upper()} {y}",
        f"{day:02d}-{m3}-{yy}", f"{y}{d.month:02d}{day:02d}", f"{mon} {_ordinal(day)}, {y}",
        f"{day} {mon.lower()} {yy}",
    ]


def _split_ids(n_items: int, n_valid: int, n_test: int, rng: random.Random) -> tuple[list, list, list]:
    ids = list(range(n_items))
    rng.shuffle(ids)
    return ids[n_test + n_valid:], ids[n_test:n_test + n_valid], ids[:n_test]


def dates(n_train: int = 30000, n_valid: int = 1000, n_test: int = 2000, seed: int = 0
          ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Date normalisation; valid/test use dates never seen in training (one random form each)."""
    start = dt.date(1950, 1, 1)
    n_days = (dt.date(2049, 12, 31) - start).days + 1
    rng = random.Random(seed)
    train_ids, valid_ids, test_ids = _split_ids(n_days, n_valid, n_test, rng)

    def pair(i: int) -> Pair:
        d = start + dt.timedelta(days=i)
        return list(rng.choice(_date_forms(d))), list(d.isoformat())

    train = [pair(rng.choice(train_ids)) for _ in range(n_train)]
    return train, [pair(i) for i in valid_ids], [pair(i) for i in test_ids]


def addition(n_train: int = 40000, n_valid: int = 1000, n_test: int = 2000, seed: int = 0
             ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Three-digit addition as text; the three splits use disjoint operand pairs."""
    rng = random.Random(seed)
    chosen = rng.sample(range(1000 * 1000), n_train + n_valid + n_test)

    def pair(k: int) -> Pair:
        a, b = divmod(k, 1000)
        return list(f"{a}+{b}"), list(str(a + b))

    pairs = [pair(k) for k in chosen]
    return pairs[n_valid + n_test:], pairs[n_test:n_test + n_valid], pairs[:n_test]


def reverse(n_train: int = 30000, n_valid: int = 1000, n_test: int = 2000, seed: int = 0,
            min_len: int = 10, max_len: int = 30) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """String reversal over a-z, lengths uniform in [min_len, max_len]; splits are disjoint strings."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pairs: list[Pair] = []
    while len(pairs) < n_train + n_valid + n_test:
        s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(min_len, max_len)))
        if s not in seen:
            seen.add(s)
            pairs.append((list(s), list(s[::-1])))
    return pairs[n_valid + n_test:], pairs[n_test:n_test + n_valid], pairs[:n_test]


#: name -> generator(n_train=..., seed=...) -> (train, valid, test)
SYNTHETIC: dict[str, Callable[..., tuple[list[Pair], list[Pair], list[Pair]]]] = {
    "dates": dates, "addition": addition, "reverse": reverse,
}


def synthetic_pairs(name: str, n_train: int | None = None, seed: int = 0
                    ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Generate a bundled synthetic task by name; unknown names list the valid ones."""
    if name not in SYNTHETIC:
        raise DataError(f"unknown synthetic seq2seq task {name!r}; valid: {', '.join(SYNTHETIC)}")
    kw = {"seed": seed} if n_train is None else {"seed": seed, "n_train": n_train}
    return SYNTHETIC[name](**kw)


__all__ = ["SYNTHETIC", "addition", "dates", "reverse", "synthetic_pairs"]
