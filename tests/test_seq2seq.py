"""Seq2seq model: masking, teacher-forced loss by hand, beam = greedy at K=1, learning reversal."""

from __future__ import annotations

import math
import random

import pytest
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.seq2seq import EOS, PairBatches, Vocab, make_batch
from rnnkit.evaluation.sequences import exact_match
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.models.seq2seq_decode import beam_search, greedy
from rnnkit.train.fit import fit


def _vocabs(pairs):
    return Vocab.build([s for s, _ in pairs], "char"), Vocab.build([t for _, t in pairs], "char")


def _model(attention="additive", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = Seq2SeqConfig(embed_size=8, hidden_size=12, attention=attention, **kw)
    return Seq2Seq(cfg, 10, 9).eval()


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_padding_never_changes_outputs_and_gets_zero_attention(attention):
    """A short source padded inside a batch (with garbage at the padded positions) gives the same
    logits as the same source alone, and its attention weight on padding is exactly 0."""
    model = _model(attention, bidirectional=(attention == "additive"))
    src = torch.tensor([[4, 5, 6, 7, 8], [4, 6, 0, 0, 0]])
    src_len = torch.tensor([5, 2])
    garbage = src.clone()
    garbage[1, 2:] = torch.tensor([9, 8, 7])  # must be ignored: lengths say 2
    alone = torch.tensor([[4, 6]])
    tgt = torch.tensor([[1, 4, 5], [1, 6, 4]])
    with torch.no_grad():
        ref = _logits(model, alone, torch.tensor([2]), tgt[1:])
        for s in (src, garbage):
            got = _logits(model, s, src_len, tgt)
            torch.testing.assert_close(got[1], ref[0], rtol=1e-5, atol=1e-6)
        _, w = greedy(model, garbage, src_len, max_len=4)
    assert torch.all(w[1, :, 2:] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones_like(w.sum(-1)))


def _logits(model, src, src_len, tgt_in):
    memory, states, feed = model.encode(src, src_len)
    out = []
    for t in range(tgt_in.shape[1]):
        lg, states, feed, _ = model.step(tgt_in[:, t], states, feed, memory)
        out.append(lg)
    return torch.stack(out, 1)


def test_teacher_forced_loss_equals_hand_computed_value():
    """With every weight zero except the output bias b (b[<eos>] = ln 3), every step predicts
    p(<eos>) = 3/7 and 1/7 for each other token, whatever the input. Targets "a" and "aaa" have
    4 real 'a' and 2 <eos> (padding excluded): loss = (4 ln 7 + 2 ln(7/3)) / 6."""
    pairs = [(list("ab"), list("a")), (list("b"), list("aaa"))]
    sv, tv = _vocabs(pairs)
    assert len(tv) == 5
    model = Seq2Seq(Seq2SeqConfig(embed_size=3, hidden_size=2), len(sv), len(tv))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.out.bias[EOS] = math.log(3.0)
    loss, _, m = model.loss(make_batch(pairs, sv, tv))
    expected = (4 * math.log(7.0) + 2 * math.log(7.0 / 3.0)) / 6
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert int(m["count"]) == 6
    assert m["nll_sum"].item() == pytest.approx(6 * expected, rel=1e-6)


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_beam_size_one_equals_greedy(attention):
    model = _model(attention, seed=3)
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, 10, (6, 7), generator=g)
    src_len = torch.tensor([7, 3, 5, 1, 7, 2])
    ids_g, _ = greedy(model, src, src_len, max_len=9)
    assert beam_search(model, src, src_len, beam_size=1, max_len=9) == ids_g


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_exact_best_output(alpha):
    """Reference: enumerate every output of a 3-symbol target vocabulary up to length 3 and score
    it by teacher forcing; a beam as wide as the search space must return the argmax."""
    import itertools
    torch.manual_seed(1)
    model = Seq2Seq(Seq2SeqConfig(embed_size=6, hidden_size=8), 8, 6).eval()  # tokens: eos, unk, 4, 5
    src, src_len = torch.tensor([[4, 5, 6, 7]]), torch.tensor([4])
    L = 3
    outs = [list(p) for n in range(L + 1) for p in itertools.product([3, 4, 5], repeat=n)]
    def score(ids):
        n = len(ids) + (1 if len(ids) < L else 0)
        return _logp(model, src, src_len, ids, L) / (((5 + n) / 6) ** alpha)
    with torch.no_grad():
        best = max(outs, key=score)
        assert beam_search(model, src, src_len, beam_size=16, length_penalty=alpha, max_len=L)[0] == best


def _logp(model, src, src_len, ids, max_len):
    """log p of ids (+ <eos> when it ended before max_len) under the model, by teacher forcing."""
    seq = ids + ([EOS] if len(ids) < max_len else [])
    tgt_in = torch.tensor([[1, *seq[:-1]]])
    logp = torch.log_softmax(_logits(model, src, src_len, tgt_in), -1)[0]
    return float(sum(logp[t, y] for t, y in enumerate(seq)).detach())


def test_scheduled_teacher_forcing_ratio_decays_linearly():
    model = _model(teacher_forcing=1.0, teacher_forcing_min=0.5, teacher_forcing_decay_steps=10)
    assert model.teacher_forcing_ratio() == 1.0
    model.train_steps.fill_(5)
    assert model.teacher_forcing_ratio() == pytest.approx(0.75)
    model.train_steps.fill_(50)
    assert model.teacher_forcing_ratio() == pytest.approx(0.5)


def test_attention_model_learns_reversal_on_a_tiny_budget():
    """Reversing 3-6 letter strings: after 150 steps the attention model reverses unseen strings
    (>= 90% exact), far above copying the input (the trivial baseline)."""
    rng = random.Random(0)
    strings = sorted({"".join(rng.choice("abcdef") for _ in range(rng.randint(3, 6))) for _ in range(3000)})
    rng.shuffle(strings)
    pairs = [(list(s), list(s[::-1])) for s in strings]
    train, test = pairs[200:], pairs[:200]
    sv, tv = _vocabs(train)
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(embed_size=16, hidden_size=32, attention="additive"), len(sv), len(tv))
    cfg = TrainConfig(batch_size=64, lr=1e-2, max_steps=150, eval_every=150, log_every=50, schedule="none",
                      device="cpu", warmup_steps=0)
    fit(model, PairBatches(train, sv, tv, 64), cfg)
    model.eval()
    b = make_batch(test, sv, tv)
    hyps = [tv.decode(x) for x in model.generate(b.src, b.src_len)]
    acc = exact_match(hyps, [t for _, t in test])
    copy = exact_match([s for s, _ in test], [t for _, t in test])
    assert acc >= 0.9 and acc > copy + 0.5, (acc, copy)


def test_shared_embeddings_need_one_vocabulary():
    from rnnkit.errors import ConfigError
    with pytest.raises(ConfigError, match="share_embeddings"):
        Seq2Seq(Seq2SeqConfig(share_embeddings=True), 10, 9)
    m = Seq2Seq(Seq2SeqConfig(share_embeddings=True), 10, 10)
    assert m.src_embed is m.tgt_embed


def test_unknown_attention_lists_valid_names():
    from rnnkit.errors import ConfigError
    with pytest.raises(ConfigError, match="additive"):
        Seq2SeqConfig(attention="bahdanau")


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "layernorm_gru"])
def test_decoding_through_the_step_path_equals_calling_each_cell(cell, monkeypatch):
    """greedy / beam search step the decoder cells through StepRunner; the same decoder step
    through each cell's own forward (the path with gradients, and the ONNX step graph) agrees."""
    torch.manual_seed(2)
    model = Seq2Seq(Seq2SeqConfig(cell=cell, embed_size=8, hidden_size=12, decoder_layers=2), 10, 9).eval()
    with torch.no_grad():  # sharper output distributions than the init's, so decoding is not a coin toss
        model.out.weight.mul_(6.0)
    g = torch.Generator().manual_seed(0)
    src, src_len = torch.randint(4, 10, (5, 6), generator=g), torch.tensor([6, 3, 5, 1, 6])
    with torch.no_grad():
        memory, states, feed = model.encode(src, src_len)
        runner = model.decoder_runner()
        assert runner is not None
        y = torch.full((5,), 1, dtype=torch.long)
        for _ in range(4):
            a = model.step(y, states, feed, memory, runner)
            b = model.step(y, states, feed, memory)
            torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)
            for sa, sb in zip(a[1], b[1]):
                for fa, fb in zip(sa, sb):
                    torch.testing.assert_close(fa, fb, atol=1e-6, rtol=0)
            y, states, feed = a[0].argmax(-1), a[1], a[2]
    fast = (greedy(model, src, src_len, 8)[0], beam_search(model, src, src_len, 3, 0.5, 8))
    monkeypatch.setattr(model, "decoder_runner", lambda: None)
    assert fast == (greedy(model, src, src_len, 8)[0], beam_search(model, src, src_len, 3, 0.5, 8))


def test_the_decoder_step_path_is_used_only_for_inference():
    model = Seq2Seq(Seq2SeqConfig(embed_size=8, hidden_size=12, decoder_layers=2, dropout=0.2), 10, 9)
    assert model.eval().decoder_runner() is None  # gradients on: each cell's forward, with autograd
    with torch.no_grad():
        assert model.eval().decoder_runner() is not None
        assert model.train().decoder_runner() is None  # dropout between the cells is live in training
