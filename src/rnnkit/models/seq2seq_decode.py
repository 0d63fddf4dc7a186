"""Batched decoding for :class:`~rnnkit.models.seq2seq.Seq2Seq`: greedy and beam search.

Beam search keeps ``K`` live hypotheses per example, flattened to ``B*K`` rows so every decoder
step is one batched call. Hypotheses that emit ``<eos>`` leave the beam for a per-example finished
pool (as in OpenNMT), so a finished hypothesis never takes a live slot and is never lost. Finished
hypotheses are ranked by ``log p / ((5 + |y|) / 6) ** alpha``, the GNMT length penalty (Wu et al.
2016); ``alpha = 0`` ranks by raw log-probability. Neither decoder emits ``<pad>`` or ``<bos>``.
With ``K = 1`` beam search reduces to greedy argmax, which the tests check token for token, and
with a beam as wide as the search space it returns the exact most probable output (also tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnkit.data.seq2seq import BOS, EOS, PAD


def _trim(row: list[int]) -> list[int]:
    """Ids up to (excluding) the first ``<eos>``, padding removed."""
    out = []
    for i in row:
        if i == EOS:
            break
        if i != PAD:
            out.append(i)
    return out


@torch.no_grad()
def greedy(model, src: Tensor, src_len: Tensor, max_len: int) -> tuple[list[list[int]], Tensor | None]:
    """Argmax decoding. Returns (ids per example, attention weights (B, T, S) or None)."""
    memory, states, feed = model.encode(src, src_len)
    runner = model.decoder_runner()  # the no-grad single-step path of the decoder cells
    B = src.shape[0]
    y = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    out, attn = [], []
    for _ in range(max_len):
        logits, states, feed, w = model.step(y, states, feed, memory, runner)
        y = _forbid_specials(logits).argmax(-1).masked_fill(done, PAD)
        out.append(y)
        if w is not None:
            attn.append(w)
        done |= y == EOS
        if bool(done.all()):
            break
    tokens = torch.stack(out, 1).tolist()
    return [_trim(r) for r in tokens], (torch.stack(attn, 1) if attn else None)


def _reorder(x, index: Tensor):
    """Select rows ``index`` of a tensor or of every field of a state NamedTuple."""
    if isinstance(x, tuple):
        return type(x)(*(f.index_select(0, index) for f in x))
    return x.index_select(0, index)


@torch.no_grad()
def beam_search(model, src: Tensor, src_len: Tensor, beam_size: int, length_penalty: float = 0.0,
                max_len: int = 100) -> list[list[int]]:
    """Batched beam search; returns the best hypothesis per example (ids without ``<eos>``).

    Each step takes the top ``2K`` extensions of the ``K`` live beams: those ending in ``<eos>``
    within the top ``K`` go to the example's finished pool (kept if their length-normalised score
    beats the pool's best), the best ``K`` others stay live. An example is done when no live beam
    can still beat its best finished one; at ``max_len`` the live beams compete unfinished.
    """
    memory, states, feed = model.encode(src, src_len)
    runner = model.decoder_runner()
    B, K, dev = src.shape[0], beam_size, src.device
    memory = type(memory)(*(None if m is None else m.repeat_interleave(K, 0) for m in memory))
    states = [type(s)(*(f.repeat_interleave(K, 0) for f in s)) for s in states]
    feed = feed.repeat_interleave(K, 0)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: only the first one may expand
    y = torch.full((B * K,), BOS, dtype=torch.long, device=dev)
    history = torch.zeros(B * K, 0, dtype=torch.long, device=dev)
    best_score = torch.full((B,), float("-inf"), device=dev)
    best_seq = torch.full((B, max_len), PAD, dtype=torch.long, device=dev)
    base = torch.arange(B, device=dev)[:, None] * K
    lp = _penalty(torch.arange(max_len + 2, device=dev).float(), length_penalty)  # lp[length]
    for t in range(max_len):
        logits, states, feed, _ = model.step(y, states, feed, memory, runner)
        logp = torch.log_softmax(_forbid_specials(logits).float(), -1)  # (B*K, V)
        V = logp.shape[1]
        top, idx = (scores.view(-1, 1) + logp).view(B, K * V).topk(min(2 * K, K * V), dim=1)  # (B, 2K)
        tok, beam = idx % V, torch.div(idx, V, rounding_mode="floor")
        is_eos = (tok == EOS) & (torch.arange(top.shape[1], device=dev) < K)[None, :]
        done_norm = torch.where(is_eos, top / lp[t + 1], torch.full_like(top, float("-inf")))
        cand, which = done_norm.max(1)  # best newly finished hypothesis per example
        better = cand > best_score
        if bool(better.any()):
            rows = (base[:, 0] + beam.gather(1, which[:, None])[:, 0])
            new_seq = torch.full_like(best_seq, PAD)
            new_seq[:, :t] = history.index_select(0, rows)
            new_seq[:, t] = EOS
            best_seq = torch.where(better[:, None], new_seq, best_seq)
            best_score = torch.where(better, cand, best_score)
        live_top, order = torch.where(tok == EOS, torch.full_like(top, float("-inf")), top).topk(K, dim=1)
        rows = (base + beam.gather(1, order)).view(-1)
        tok = tok.gather(1, order).view(-1)
        states = [_reorder(s, rows) for s in states]
        feed = feed.index_select(0, rows)
        history = torch.cat([history.index_select(0, rows), tok[:, None]], 1)
        scores, y = live_top, tok
        # scores only fall; the penalty can raise a normalised score at most to score / lp[max_len]
        if bool((best_score >= scores.max(1).values / lp[max_len]).all()):
            break
    else:  # out of length: unfinished live beams compete as they are
        norm = scores / lp[max_len]
        cand, which = norm.max(1)
        better = cand > best_score
        rows = base[:, 0] + which
        best_seq = torch.where(better[:, None], history.index_select(0, rows), best_seq)
    return [_trim(r) for r in best_seq.tolist()]


def _penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``; all ones for ``alpha = 0``."""
    return ((5.0 + length) / 6.0) ** alpha if alpha else torch.ones_like(length)


def _forbid_specials(logits: Tensor) -> Tensor:
    """Decoders never emit ``<pad>`` or ``<bos>``."""
    logits = logits.clone()
    logits[:, PAD] = float("-inf")
    logits[:, BOS] = float("-inf")
    return logits


__all__ = ["beam_search", "greedy"]
