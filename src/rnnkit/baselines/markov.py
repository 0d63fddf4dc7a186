"""Order-k Markov chain (n-gram) next-symbol predictor: the count-based baseline for next-element tasks.

``MarkovChain(order=k).fit(train)`` counts ``c(context, next)`` for every context of exactly ``k``
previous symbols. Prediction backs off to the longest context seen in training (down to order 0,
the unigram), predicts the most frequent next symbol (ties: the smallest symbol), and scores the
true symbol with add-``alpha`` smoothing over the alphabet at that order. Pure Python dicts: the
next-element streams are small (10^5 symbols), and clarity wins.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


class MarkovChain:
    """Counts of next symbols after each context of length ``0..order``; backs off when unseen."""

    def __init__(self, order: int, alpha: float = 0.1) -> None:
        if order < 0:
            raise ValueError(f"order must be >= 0, got {order}")
        self.order, self.alpha = order, alpha
        self.counts: list[dict[tuple, Counter]] = []
        self.alphabet: list = []

    def fit(self, seq: Sequence) -> MarkovChain:
        self.alphabet = sorted(set(seq))
        self.counts = [defaultdict(Counter) for _ in range(self.order + 1)]
        for t in range(len(seq)):
            for k in range(min(self.order, t) + 1):
                self.counts[k][tuple(seq[t - k:t])][seq[t]] += 1
        return self

    def _counter(self, history: Sequence) -> Counter:
        for k in range(min(self.order, len(history)), -1, -1):
            c = self.counts[k].get(tuple(history[len(history) - k:]))
            if c:
                return c
        return Counter()

    def predict(self, history: Sequence):
        """Most frequent next symbol after ``history`` (ties: smallest symbol)."""
        c = self._counter(history)
        return min(c, key=lambda s: (-c[s], s)) if c else self.alphabet[0]

    def logprob(self, history: Sequence, symbol) -> float:
        c = self._counter(history)
        V = max(len(self.alphabet), 1)
        return math.log((c.get(symbol, 0) + self.alpha) / (sum(c.values()) + self.alpha * V))

    def score(self, seq: Sequence) -> dict[str, float]:
        """Accuracy and mean nll (nats) of predicting ``seq[t+1]`` from ``seq[:t+1]`` for every t."""
        hits, nll, n = 0, 0.0, len(seq) - 1
        for t in range(1, len(seq)):
            hist = seq[max(0, t - self.order):t]
            hits += self.predict(hist) == seq[t]
            nll -= self.logprob(hist, seq[t])
        return {"accuracy": hits / max(n, 1), "nll": nll / max(n, 1)}


def markov_baselines(train: Sequence, test: Sequence, orders: Sequence[int] = (0, 1, 2, 3, 5, 8)
                     ) -> dict[str, dict[str, float]]:
    """Test accuracy / nll of Markov chains of several orders fitted on ``train``."""
    return {f"markov-{k}": MarkovChain(k).fit(train).score(test) for k in orders}


__all__ = ["MarkovChain", "markov_baselines"]
