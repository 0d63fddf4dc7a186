"""Char-LM: tokenizer, TBPTT stream layout, bpc arithmetic, learning, sampling, save/load."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from rnnkit.apps.charlm import stream_nll
from rnnkit.checkpoint import load_weights, save_model_dir
from rnnkit.config import TrainConfig
from rnnkit.data.charlm import CharTokenizer, StreamBatches
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.train import fit

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40




def _model(tok: CharTokenizer, **kw) -> CharLM:
    torch.manual_seed(0)
    cfg = CharLMConfig(**{"hidden_size": 32, "num_layers": 1, "embed_dim": 16, "dropout": 0.0, **kw})
    return CharLM(cfg, tok.vocab_size, tokenizer=tok)


def test_tokenizer_round_trip_and_unknown_characters() -> None:
    tok = CharTokenizer.fit("hello wörld\n")
    assert tok.decode(tok.encode("hello wörld\n")) == "hello wörld\n"
    ids = tok.encode("hex!")  # 'x' and '!' never seen in training
    assert ids.tolist() == [tok.stoi["h"], tok.stoi["e"], 0, 0]
    assert tok.decode(ids) == "he\ufffd\ufffd"
    back = CharTokenizer.from_dict(tok.to_dict())
    assert back.itos == tok.itos and torch.equal(back.encode("world"), tok.encode("world"))
    # the vectorised encoder agrees with a plain dict lookup
    text = TEXT + "Zürich ∑"
    assert tok.encode(text).tolist() == [tok.stoi.get(c, 0) for c in text]


def test_streams_are_contiguous_across_windows() -> None:
    ids = torch.arange(1000)
    data = StreamBatches(ids, batch_size=4, seq_len=7)
    xs, ys = zip(*data.epoch(0))
    x, y = torch.cat(xs, 1), torch.cat(ys, 1)
    n = 999 // 4
    for b in range(4):  # row b is one contiguous slice of the text, windows continue each other
        assert torch.equal(x[b], ids[b * n:(b + 1) * n])
        assert torch.equal(y[b], ids[b * n + 1:(b + 1) * n + 1])
    assert all(w.shape[1] == 7 for w in xs[:-1])


def test_random_window_lengths_cover_the_stream_and_are_deterministic() -> None:
    data = StreamBatches(torch.arange(5000), batch_size=2, seq_len=20, random_len=True, seed=1)
    w0, w1 = data.windows(0), data.windows(1)
    assert w0 == data.windows(0) and w0 != w1
    assert len({length for _, length in w0}) > 3
    for w in (w0, w1):
        assert w[0][0] == 0 and all(a + la == b for (a, la), (b, _) in zip(w, w[1:]))
        assert w[-1][0] + w[-1][1] == data.x.shape[1]
    resumed = list(data.epoch(1, start=5))
    full = list(data.epoch(1))[5:]
    assert all(torch.equal(a[0], b[0]) for a, b in zip(resumed, full)) and len(resumed) == len(full)


def test_bpc_is_cross_entropy_over_ln2() -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok)
    x = tok.encode(TEXT[:201])
    batch = (x[:-1].view(4, 50), x[1:].view(4, 50))
    loss, _, m = model.loss(batch)
    logits, _ = model(batch[0])
    ce = F.cross_entropy(logits.reshape(-1, tok.vocab_size), batch[1].reshape(-1))
    assert torch.allclose(loss, ce)
    assert math.isclose(float(m["bits_sum"] / m["count"]), float(ce.detach()) / math.log(2), rel_tol=1e-5)


def test_stream_evaluation_carries_state_like_one_long_sequence() -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok).eval()
    ids = tok.encode(TEXT[:301])
    windowed = stream_nll(model, ids, batch_size=1, seq_len=37)
    with torch.no_grad():
        logits, _ = model(ids[:-1].view(1, -1))
        whole = float(F.cross_entropy(logits[0], ids[1:]))
    assert math.isclose(windowed, whole, rel_tol=1e-5)


def test_loss_decreases_on_a_tiny_corpus() -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok)
    ids = tok.encode(TEXT)
    before = stream_nll(model, ids, 4, 50)
    data = StreamBatches(ids, batch_size=8, seq_len=25)
    fit(model, data, TrainConfig(batch_size=8, seq_len=25, lr=1e-2, max_steps=80, eval_every=1000,
                                 log_every=20, device="cpu", schedule="none"))
    after = stream_nll(model, ids, 4, 50)
    assert after < 0.5 * before, (before, after)


def test_low_temperature_sampling_equals_greedy_and_filters_reduce_to_greedy() -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok)
    greedy = "".join(model.generate("the ", 60, greedy=True))
    assert len(greedy) == 60
    assert "".join(model.generate("the ", 60, temperature=1e-4, seed=1)) == greedy
    assert "".join(model.generate("the ", 60, temperature=0)) == greedy
    assert "".join(model.generate("the ", 60, top_k=1, seed=3)) == greedy
    assert "".join(model.generate("the ", 60, top_p=1e-9, seed=3)) == greedy
    a = "".join(model.generate("the ", 60, temperature=1.5, seed=7))
    assert a == "".join(model.generate("the ", 60, temperature=1.5, seed=7)) and a != greedy


def test_generation_steps_the_state_instead_of_rerunning_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    from rnnkit.layers.step import StepRunner

    tok = CharTokenizer.fit(TEXT)
    model = _model(tok)
    lengths, steps = [], []
    orig, orig_step = model.rnn.forward, StepRunner.__call__

    def spy(x, state=None, lengths_=None):
        lengths.append(x.shape[1])
        return orig(x, state)

    def spy_step(self, x, state=None):
        steps.append(tuple(x.shape))
        return orig_step(self, x, state)

    model.rnn.forward = spy
    monkeypatch.setattr(StepRunner, "__call__", spy_step)
    list(model.generate("the cat", 10, seed=0))
    assert lengths == [7]  # the prompt as one sequence
    assert steps == [(1, model.config.embed_dim)] * 10  # then one input per step, the state carried


def _generate_by_forward(model: CharLM, prompt: str, length: int, **kw) -> str:
    """The generation loop as it was before the single-step path: every new character is a T=1
    call of the model's forward (Stack.forward with the carried state)."""
    from rnnkit.models.charlm import _pick

    model.eval()
    gen = torch.Generator().manual_seed(kw.get("seed", 0))
    out, ids = [], model.tokenizer.encode(prompt)
    with torch.no_grad():
        logits, state = model(ids.view(1, -1))
        logits, previous = logits[0, -1], int(ids[-1])
        for _ in range(length):
            nxt = _pick(logits, kw.get("temperature", 1.0), kw.get("top_k"), kw.get("top_p"), kw.get("greedy", False),
                        gen)
            out.append(model.tokenizer.decode_piece(nxt, previous))
            logits, state = model(torch.tensor([[nxt]]), state)
            logits, previous = logits[0, -1], nxt
    return "".join(out)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "layernorm_lstm", "mingru"])
def test_generation_through_the_step_path_equals_stepping_the_forward(cell: str) -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok, cell=cell, num_layers=2)
    with torch.no_grad():  # a sharper, less uniform distribution than the init's, so samples differ by seed
        model.head.weight.mul_(8.0)
    for kw in ({"seed": 0}, {"seed": 1, "temperature": 0.8, "top_k": 5}, {"seed": 2, "top_p": 0.9},
               {"greedy": True}):
        fast = "".join(model.generate("the c", 120, **kw))
        assert fast == _generate_by_forward(model, "the c", 120, **kw), kw
    assert len({"".join(model.generate("the c", 60, seed=s)) for s in range(3)}) == 3


def test_generation_after_loading_equals_before_saving(tmp_path) -> None:
    tok = CharTokenizer.fit(TEXT)
    model = _model(tok, tie_weights=False)
    before = "".join(model.generate("the", 80, temperature=0.9, top_k=5, seed=11))
    save_model_dir(tmp_path, model, {"task": "charlm"}, {"tokenizer.json": tok.to_dict()})
    tok2 = CharTokenizer.from_dict(tok.to_dict())
    loaded = CharLM(model.config, tok2.vocab_size, tokenizer=tok2)
    load_weights(loaded, tmp_path / "model.safetensors")
    assert "".join(loaded.generate("the", 80, temperature=0.9, top_k=5, seed=11)) == before


def test_bad_model_options_are_named() -> None:
    tok = CharTokenizer.fit(TEXT)
    from rnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="tie_weights needs model.embed_dim == hidden_size"):
        _model(tok, tie_weights=True)
    with pytest.raises(ConfigError, match="unknown cell 'lstmm'; valid: .*lstm"):
        _model(tok, cell="lstmm")
    tied = _model(tok, tie_weights=True, embed_dim=32)
    assert tied.head.weight is tied.embed.weight
