"""Bundled next-element prediction tasks whose best achievable accuracy is known exactly.

* ``reber``  -- the *embedded Reber grammar* (Reber 1967; Hochreiter & Schmidhuber 1997, exp. 1):
  ``B {T|P} <Reber string> {T|P} E`` where the symbol before the final ``E`` repeats the second
  one, a dependency across the whole inner string that no short n-gram sees. Strings are
  concatenated into one stream (``...E`` is always followed by ``B``). Two-way branches take the
  first option with probability ``p`` (0.5 in the classic grammar). Synthetic.
* ``iid``    -- uniform i.i.d. digits 0-9: nothing to learn; the optimum is chance (10%). A
  sanity check only, reported as such.

The generating process is an automaton whose state is known from the prefix, so
``optimum(source, text)`` gives the exact next-symbol distribution at every position: its mean
maximum probability (the Bayes-optimal expected accuracy), the accuracy the Bayes predictor
actually reaches on this text, and its cross-entropy (the process's entropy rate on this text).
"""

from __future__ import annotations

import math
import random

from rnnkit.errors import DataError

SOURCES = ("reber", "iid")
_DIGITS = "0123456789"
_REBER = {  # inner Reber graph: state -> [(symbol, next state)]; the first option has probability p
    0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", 7)],
}


def _reber_automaton(p: float) -> dict[str, list[tuple[str, float, str]]]:
    """Embedded Reber grammar as state -> [(symbol, probability, next state)] (deterministic in symbols)."""
    def probs(opts):
        return [1.0] if len(opts) == 1 else [p, 1.0 - p]

    auto: dict[str, list[tuple[str, float, str]]] = {
        "start": [("B", 1.0, "branch")],
        "branch": [("T", p, "T0"), ("P", 1.0 - p, "P0")],
        "last": [("E", 1.0, "start")],
    }
    for b in "TP":
        for s, opts in _REBER.items():
            auto[f"{b}{s}"] = [(sym, pr, f"{b}{nxt}") for (sym, nxt), pr in zip(opts, probs(opts))]
        auto[f"{b}7"] = [(b, 1.0, "last")]
    return auto


def generate(source: str, n_symbols: int, seed: int = 0, p: float = 0.5) -> str:
    """A stream of at least ``n_symbols`` symbols (whole grammar strings for ``reber``)."""
    rng = random.Random(seed)
    if source == "iid":
        return "".join(rng.choice(_DIGITS) for _ in range(n_symbols))
    if source != "reber":
        raise DataError(f"unknown next-element source {source!r}; valid: {', '.join(SOURCES)}")
    if not 0.0 < p < 1.0:
        raise DataError(f"branch probability p must lie in (0, 1), got {p}")
    auto, out, state = _reber_automaton(p), [], "start"
    while len(out) < n_symbols or state != "start":
        opts = auto[state]
        r, acc = rng.random(), 0.0
        for sym, pr, nxt in opts:
            acc += pr
            if r < acc or nxt == opts[-1][2]:
                out.append(sym)
                state = nxt
                break
    return "".join(out)


def next_distributions(source: str, text: str, p: float = 0.5) -> list[dict[str, float]]:
    """True p(x_{t+1} | x_1..x_t) for t = 1..len(text)-1 (one dict per predicted position)."""
    if source == "iid":
        return [dict.fromkeys(_DIGITS, 0.1)] * (len(text) - 1)
    auto, state, out = _reber_automaton(p), "start", []
    for i, sym in enumerate(text):
        step = {s: (pr, nxt) for s, pr, nxt in auto[state]}
        if sym not in step:
            raise DataError(f"symbol {sym!r} at position {i} is impossible in the {source} grammar")
        state = step[sym][1]
        if i < len(text) - 1:
            out.append({s: pr for s, pr, _ in auto[state]})
    return out


def optimum(source: str, text: str, p: float = 0.5) -> dict[str, float]:
    """What the generating process itself achieves on ``text``: expected and realised accuracy, nll."""
    dists = next_distributions(source, text, p)
    exp_acc = sum(max(d.values()) for d in dists) / len(dists)
    hits = sum(max(d, key=d.get) == text[i + 1] for i, d in enumerate(dists))
    nll = -sum(math.log(d[text[i + 1]]) for i, d in enumerate(dists)) / len(dists)
    return {"expected_accuracy": exp_acc, "accuracy": hits / len(dists), "nll": nll}


__all__ = ["SOURCES", "generate", "next_distributions", "optimum"]
