"""Metrics for predicted token sequences against references (seq2seq evaluation).

* exact match      fraction of outputs equal to their reference token for token
* token accuracy   position-wise matches / sum of max(|hyp|, |ref|) (a length error costs the tail)
* CER              character edit distance / reference characters (on the detokenised strings)
* PER (G2P)        token (phoneme) edit distance / reference tokens -- a token error rate
* WER (G2P)        fraction of words whose pronunciation has any error, i.e. ``1 - exact match``
                   (the G2P literature's "word error rate")
* BLEU             sacrebleu corpus BLEU over the *tokens* (joined by spaces, ``tokenize="none"``),
                   so character-level outputs are scored on character n-grams; n-gram orders
                   longer than every output are left out (effective order), so a corpus of
                   3-token outputs (e.g. "579") scores 100 when right instead of 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insertions, deletions, substitutions cost 1)."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _check(hyps: Sequence, refs: Sequence) -> None:
    if len(hyps) != len(refs):
        raise ValueError(f"got {len(hyps)} hypotheses for {len(refs)} references")
    if not refs:
        raise ValueError("no references to score")


def exact_match(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    _check(hyps, refs)
    return sum(list(h) == list(r) for h, r in zip(hyps, refs)) / len(refs)


def token_accuracy(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    _check(hyps, refs)
    hits = sum(sum(x == y for x, y in zip(h, r)) for h, r in zip(hyps, refs))
    return hits / max(1, sum(max(len(h), len(r)) for h, r in zip(hyps, refs)))


def token_error_rate(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Sum of token edit distances / sum of reference lengths (PER for phonemes)."""
    _check(hyps, refs)
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / max(1, sum(len(r) for r in refs))


def multi_reference_errors(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[Sequence[str]]]
                           ) -> tuple[float, float]:
    """(word error rate, token error rate) when each hypothesis has several accepted references.

    The usual G2P scoring for dictionaries with alternate pronunciations (CMUdict): a word is right
    when it equals ANY of its references; token errors are counted against the closest reference
    (fewest edits, the first on ties) and divided by the summed lengths of those references."""
    _check(hyps, refs)
    wrong = edits = length = 0
    for h, rs in zip(hyps, refs):
        if not rs:
            raise ValueError("every hypothesis needs at least one reference")
        dists = [edit_distance(h, r) for r in rs]
        k = dists.index(min(dists))
        wrong += dists[k] > 0
        edits += dists[k]
        length += len(rs[k])
    return wrong / len(refs), edits / max(1, length)


def char_error_rate(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Character edit distance / reference characters, on strings."""
    return token_error_rate([list(h) for h in hyps], [list(r) for r in refs])


def bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU (0-100) over tokens; identical outputs score 100."""
    _check(hyps, refs)
    h = [" ".join(x) for x in hyps]
    r = [" ".join(x) for x in refs]
    scorer = sacrebleu.BLEU(tokenize="none", effective_order=True)
    return float(scorer.corpus_score(h, [r]).score)


def sequence_metrics(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], tgt_level: str,
                     prefix: str = "test_") -> dict[str, float]:
    """All of the above; ``tgt_level`` says how tokens join into strings for CER."""
    sep = "" if tgt_level == "char" else " "
    em = exact_match(hyps, refs)
    return {
        f"{prefix}exact_match": em,
        f"{prefix}token_accuracy": token_accuracy(hyps, refs),
        f"{prefix}cer": char_error_rate([sep.join(h) for h in hyps], [sep.join(r) for r in refs]),
        f"{prefix}token_error_rate": token_error_rate(hyps, refs),
        f"{prefix}wer": 1.0 - em,
        f"{prefix}bleu": bleu(hyps, refs),
    }


__all__ = ["bleu", "char_error_rate", "edit_distance", "exact_match", "multi_reference_errors", "sequence_metrics",
           "token_accuracy", "token_error_rate"]
