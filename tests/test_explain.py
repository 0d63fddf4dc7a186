"""rnnkit.explain: gate traces are the cells' own values, gradient flow equals a float64 reference,
integrated gradients are complete, the views write non-empty figures, bad input fails cleanly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.errors import ConfigError, DataError
from rnnkit.explain.gradflow import gradient_flow
from rnnkit.explain.neurons import correlate, text_features
from rnnkit.explain.saliency import classifier_saliency, forecaster_saliency
from rnnkit.explain.trace import unroll
from rnnkit.layers.stack import Stack
from rnnkit.models.charlm import CharLM, CharLMConfig

TEXT = 'The "quick" (brown) fox,\njumps; over "the" lazy dog.\nA (b) c\n' * 4


def _compose(cell: str, gates: dict, prev) -> tuple:
    """(h, c) rebuilt from the traced gates and the previous state by the cell's equations."""
    if cell in ("lstm", "peephole_lstm"):
        c = gates["forget"] * prev.c + gates["input"] * gates["candidate"]
        return gates["output"] * torch.tanh(c), c
    if cell in ("gru", "gru_reset_before"):
        return (1 - gates["update"]) * gates["candidate"] + gates["update"] * prev.h, None
    if cell == "mingru":
        return (1 - gates["update"]) * prev.h + gates["update"] * gates["candidate"], None
    if cell == "minlstm":
        return gates["forget"] * prev.h + gates["input"] * gates["candidate"], None
    return None, None


@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole_lstm", "gru_reset_before", "mingru", "minlstm", "rnn"])
def test_gate_traces_are_the_cells_own_values(cell):
    torch.manual_seed(0)
    explicit = Stack(cell, 3, 5, num_layers=2, impl="explicit").double().eval()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    y_ref, _ = explicit(x)
    y, traces = unroll(explicit, x, gates=True)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)  # h equals the Stack's own output
    fast = Stack(cell, 3, 5, num_layers=2).double().eval()
    fast.load_state_dict(explicit.state_dict())
    torch.testing.assert_close(y, fast(x)[0], rtol=0, atol=1e-9)  # and the fast path's
    for tr in traces:
        prev = [tr.initial, *tr.states[:-1]]
        for t, st in enumerate(tr.states):
            h, c = _compose(cell, {k: v[:, t] for k, v in tr.gates.items()}, prev[t])
            if h is not None:
                torch.testing.assert_close(h, st.h, rtol=0, atol=1e-12)
            if c is not None:
                torch.testing.assert_close(c, st.c, rtol=0, atol=1e-12)
    if cell == "lstm":  # the gates themselves, from the weights, independently of the trace code
        c0, tr = explicit.cells[0], traces[0]
        h_prev = torch.stack([s.h for s in [tr.initial, *tr.states[:-1]]], 1)
        pre = x @ c0.weight_ih.T + c0.bias_ih + h_prev @ c0.weight_hh.T + c0.bias_hh
        i, f, g, o = pre.chunk(4, -1)
        for name, ref in (("input", torch.sigmoid(i)), ("forget", torch.sigmoid(f)), ("candidate", torch.tanh(g)),
                          ("output", torch.sigmoid(o))):
            torch.testing.assert_close(tr.gates[name], ref, rtol=0, atol=1e-12)


def _reference_flow(model: CharLM, x: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """||dL_T/dh_t|| by restarting the forward at each t from a leaf h_t, with torch's own cells
    (minGRU by hand): an implementation that shares nothing with rnnkit.explain. (B, T), column k-1."""
    cell = model.rnn.cells[0]
    name = model.config.cell
    H = cell.hidden_size
    ref = None
    if name != "mingru":
        ref = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[name](cell.input_size, H).double()
        ref.load_state_dict({k: v for k, v in cell.state_dict().items()})

    def step(e, h, c):
        if name == "lstm":
            return ref(e, (h, c))
        if name == "mingru":
            kz, kh = (e @ cell.weight_ih.T + cell.bias_ih).chunk(2, -1)
            z = torch.sigmoid(kz)
            return (1 - z) * h + z * torch.where(kh >= 0, kh + 0.5, torch.sigmoid(kh)), None
        return ref(e, h), None

    e = model.embed(x).detach()
    B, T = x.shape
    hs, cs = [torch.zeros(B, H, dtype=torch.float64)], [torch.zeros(B, H, dtype=torch.float64)]
    with torch.no_grad():
        for t in range(T):
            h, c = step(e[:, t], hs[-1], cs[-1])
            hs.append(h)
            cs.append(c if c is not None else cs[-1])
    out = np.zeros((B, T))
    for t in range(T):  # h_t, t = 0..T-1, is k = T - t steps back
        h = hs[t].clone().requires_grad_(True)
        c, hh = cs[t], h
        for s in range(t, T):
            hh, c2 = step(e[:, s], hh, c)
            c = c2 if c2 is not None else c
        loss = nn.functional.cross_entropy(model.head(hh), target, reduction="sum")
        (g,) = torch.autograd.grad(loss, h)
        out[:, T - t - 1] = g.norm(dim=-1).detach().numpy()
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mingru"])
def test_gradient_flow_equals_a_float64_reference(cell):
    torch.manual_seed(1)
    model = CharLM(CharLMConfig(cell=cell, hidden_size=6, num_layers=1, embed_dim=4, dropout=0.0), 9).double()
    x = torch.randint(1, 9, (3, 12))
    target = torch.randint(1, 9, (3,))
    flow = gradient_flow(model, x, target)
    assert flow.norms.shape == (3, 12) and list(flow.k) == list(range(1, 13))
    np.testing.assert_allclose(flow.norms, _reference_flow(model, x, target), rtol=1e-10, atol=1e-14)


def test_text_features_and_correlation():
    f = text_features(list('a"b"c(d)\nxy'))
    assert f["inside quotes"].tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert f["inside parentheses"].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert f["position in line"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1]
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    b[:, 1] = 1.0  # constant feature: r = 0, not NaN
    r = correlate(a, b)
    np.testing.assert_allclose(r[:, 0], [np.corrcoef(a[:, u], b[:, 0])[0, 1] for u in range(3)], atol=1e-12)
    assert np.all(r[:, 1] == 0)


def _classifier(pooling="attention", vocab=True, ensemble=1):
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    cfg = ClassifierConfig(cell="gru", hidden_size=8, embed_dim=6, pooling=pooling, attn_size=5, ensemble=ensemble)
    kw = {"vocab_size": 20} if vocab else {"input_size": 2}
    return SequenceClassifier(cfg, 3, **kw).eval()


@pytest.mark.parametrize("vocab,ensemble", [(True, 1), (True, 2), (False, 1)])
def test_integrated_gradients_are_complete(vocab, ensemble):
    model = _classifier(vocab=vocab, ensemble=ensemble)
    x = torch.randint(1, 20, (15,)) if vocab else torch.randn(15, 2)
    attr = classifier_saliency(model, x, steps=16)
    assert attr.completeness_error < 0.01
    assert attr.per_step.shape == (15,) and attr.occlusion.shape == (15,)
    with torch.no_grad():  # f(x) is the target logit of the model itself; the baseline reads zeros
        assert abs(attr.output - float(model(x[None]).logits[0].max())) < 1e-5


def test_forecaster_saliency_is_complete():
    from rnnkit.models.forecaster import Forecaster, ForecasterConfig

    model = Forecaster(ForecasterConfig(hidden_size=8, skip="last"), 1, 0, 1, 4, 16, 1).eval()
    batch = {"x": torch.randn(1, 16, 1), "xf": torch.zeros(1, 4, 0), "sid": torch.zeros(1, dtype=torch.long)}
    attr = forecaster_saliency(model, batch, steps=16)
    assert attr.completeness_error < 0.01 and attr.per_step.shape == (16,)
    # skip="last" adds the last value to every step: the last step carries at least that share
    assert abs(attr.per_step[-1]) > 0


def test_attention_weights_and_errors():
    from rnnkit.explain.attention import classifier_attention

    w, labels, _ = classifier_attention(_classifier(), torch.randint(1, 20, (9,)))
    assert w.shape == (9,) and abs(w.sum() - 1) < 1e-6
    with pytest.raises(ConfigError, match="pools with 'last'"):
        classifier_attention(_classifier("last"), torch.randint(1, 20, (9,)))


# --------------------------------------------------------------------------- CLI views on run directories

@pytest.fixture(scope="module")
def charlm_run(tmp_path_factory):
    from rnnkit.tasks import make_run_config, train_run

    d = tmp_path_factory.mktemp("lm")
    (d / "text.txt").write_text(TEXT * 10)
    cfg = make_run_config("charlm", ["train.max_steps=3", "train.eval_every=3", "train.batch_size=4",
                                     "train.seq_len=20", "model.hidden_size=12", "model.embed_dim=6",
                                     "model.num_layers=1", "model.cell=lstm", "train.log_every=1"],
                          data=str(d / "text.txt"))
    train_run(cfg, d / "run")
    return d / "run"


def _png_ok(path):
    return path.is_file() and path.stat().st_size > 2000


def test_cli_gates_and_neurons(charlm_run, tmp_path):
    r = CliRunner().invoke(app, ["explain", "gates", str(charlm_run), "--text", 'The "quick" fox', "--out",
                                 str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert _png_ok(tmp_path / "gates-layer0.png")
    page = (tmp_path / "gates.html").read_text()
    assert "data:image/png;base64," in page and "http" not in page.replace("http-equiv", "")
    r = CliRunner().invoke(app, ["explain", "neurons", str(charlm_run), "--top", "4", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert _png_ok(tmp_path / "neurons.png") and " r=" in r.output


def test_cli_bad_input_is_one_line(charlm_run, tmp_path):
    r = CliRunner().invoke(app, ["explain", "gates", str(charlm_run), "--text", "snow ☃ man"])
    assert r.exit_code == 2 and "never saw" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["explain", "gates", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such model directory" in r.output
    r = CliRunner().invoke(app, ["explain", "attention", str(charlm_run), "--input", "abc"])
    assert r.exit_code == 2 and "attention views read" in r.output
    with pytest.raises(DataError, match="never saw"):
        from rnnkit.explain.neurons import gate_traces
        from rnnkit.tasks import load_run
        gate_traces(load_run(charlm_run), "☃")


def test_cli_gradients_small(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT * 30)
    r = CliRunner().invoke(app, ["explain", "gradients", "--data", str(tmp_path / "t.txt"), "--cells", "rnn,lstm",
                                 "--steps", "20", "--train-steps", "3", "--hidden", "8", "--out", str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    assert _png_ok(tmp_path / "g" / "gradients.png") and (tmp_path / "g" / "gradients.json").is_file()
    r = CliRunner().invoke(app, ["explain", "gradients", "--cells", "lstm,nope", "--out", str(tmp_path / "g")])
    assert r.exit_code == 2 and "unknown cell 'nope'" in r.output


def test_cli_attention_and_saliency_on_a_classifier(tmp_path):
    from rnnkit.tasks import make_run_config, train_run

    lines = ["text,label"] + [f"{'great fine' if i % 2 else 'awful dull'} film the {i % 3},{'pos' if i % 2 else 'neg'}"
                              for i in range(40)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    cfg = make_run_config("classify", ["train.max_steps=4", "train.eval_every=4", "train.batch_size=8",
                                       "model.hidden_size=8", "model.embed_dim=6", "model.pooling=attention",
                                       "data.baselines=false", "data.tokenizer=word"], data=str(tmp_path / "r.csv"))
    train_run(cfg, tmp_path / "run")
    r = CliRunner().invoke(app, ["explain", "attention", str(tmp_path / "run"), "--input", "great film the"])
    assert r.exit_code == 0, r.output
    assert _png_ok(tmp_path / "run" / "explain" / "attention.png")
    r = CliRunner().invoke(app, ["explain", "saliency", str(tmp_path / "run"), "--input", "great film the"])
    assert r.exit_code == 0, r.output
    assert "completeness error" in r.output and _png_ok(tmp_path / "run" / "explain" / "saliency.png")
    r = CliRunner().invoke(app, ["explain", "saliency", str(tmp_path / "run"), "--input", "great", "--target", "meh"])
    assert r.exit_code == 2 and "not a class" in r.output


def test_cli_saliency_on_a_forecaster(tmp_path):
    from rnnkit.tasks import make_run_config, train_run

    csv = tmp_path / "s.csv"
    csv.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 2):.4f}\n"
                                        for i in range(60)))
    cfg = make_run_config("forecast", ["train.max_steps=4", "train.eval_every=4", "train.batch_size=8",
                                       "model.hidden_size=8", "model.ensemble=1", "data.context=12",
                                       "data.horizon=6", "data.baselines=naive"], data=str(csv))
    train_run(cfg, tmp_path / "run")
    r = CliRunner().invoke(app, ["explain", "saliency", str(tmp_path / "run"), "--horizon-step", "2"])
    assert r.exit_code == 0, r.output
    assert "completeness error" in r.output and _png_ok(tmp_path / "run" / "explain" / "saliency.png")
    data = __import__("json").loads((tmp_path / "run" / "explain" / "saliency.json").read_text())
    assert len(data["per_step"]) == 12 and data["completeness_error"] < 0.01


def test_cli_attention_on_a_seq2seq_run_is_the_decoders_alignment(tmp_path):
    """`rnnkit explain attention` on a tiny seq2seq run with additive attention writes the PNG, HTML
    and JSON; the matrix is (output steps, source tokens) with rows summing to 1 and equals the
    weights the model's own greedy decoder returns. ``max_decode_len=3`` makes one input stop with
    <eos> and cut another off at the limit (no <eos> row then)."""
    import json

    import rnnkit
    from rnnkit.data.seq2seq import pad, tokenize
    from rnnkit.models.seq2seq_decode import greedy

    pairs = [(w, w[::-1]) for w in ("abc", "bca", "cab", "abca", "bbca", "acab", "cabb", "aacb", "bcab", "caab") * 3]
    s2s = rnnkit.Seq2Seq(attention="additive", hidden_size=16, embed_size=8, max_steps=40, lr=0.03, batch_size=8,
                         random_state=0, verbose=0, overrides=("model.max_decode_len=3",))
    s2s.fit(pairs, validation_data=pairs[:4]).save(tmp_path / "run")
    model = rnnkit.load(tmp_path / "run").model_
    cut_off = stopped = 0
    for i, text in enumerate(["a", "cabb", "bca"]):
        out = tmp_path / f"x{i}"
        r = CliRunner().invoke(app, ["explain", "attention", str(tmp_path / "run"), "--input", text, "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert _png_ok(out / "attention.png") and "data:image/png;base64," in (out / "attention.html").read_text()
        data = json.loads((out / "attention.json").read_text())
        w = np.array(data["weights"])
        assert data["source"] == list(text) and w.shape == (len(data["output"]), len(text))
        np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
        src, src_len = pad([model.src_vocab.encode(tokenize(text, "char"))])
        ids, ref = greedy(model, src, src_len, 3)  # the decoder itself, as translate runs it
        tokens = model.tgt_vocab.decode(ids[0])
        emitted_eos = ref.shape[1] > len(tokens)
        assert data["output"] == tokens + ["<eos>"] * emitted_eos
        assert "".join(tokens) == s2s.translate(text, beam=1)
        np.testing.assert_allclose(w, ref[0].double().numpy(), rtol=0, atol=1e-6)
        stopped, cut_off = stopped + emitted_eos, cut_off + (not emitted_eos)
        assert f"{len(w)} x {len(text)} alignment" in r.output
    assert stopped and cut_off  # both kinds of decode were checked
    r = CliRunner().invoke(app, ["explain", "attention", str(tmp_path / "run"), "--input", "  "])
    assert r.exit_code == 2 and "empty input" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["explain", "attention", str(tmp_path / "run"), "--input", "ab" * 150])
    assert r.exit_code == 2 and "more than the model's max_len" in r.output
