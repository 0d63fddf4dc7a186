"""The Keras importer against Keras itself: every model is built in Keras (torch backend, CPU),
trained a little so no weight is at its initial value, saved, imported, and must predict what
``keras.Model.predict`` predicts on fresh inputs to 1e-5 — masks, pre-padding and padding included."""

from __future__ import annotations

import io
import os
import zipfile

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported

import numpy as np
import pytest
import torch

keras = pytest.importorskip("keras")
pytest.importorskip("h5py")
from keras import layers as L  # noqa: E402

from rnnkit.errors import ModelImportError  # noqa: E402
from rnnkit.interop.keras import import_keras, load_keras  # noqa: E402
from rnnkit.models.sequential_layers import ACTIVATIONS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes from inside keras

RNNS = {  # variant -> layer factory
    "simple_tanh": lambda **kw: L.SimpleRNN(4, **kw),
    "simple_relu": lambda **kw: L.SimpleRNN(4, activation="relu", **kw),
    "lstm": lambda **kw: L.LSTM(4, **kw),
    "gru": lambda **kw: L.GRU(4, **kw),
    "gru_reset_before": lambda **kw: L.GRU(4, reset_after=False, **kw),
}
V = 12  # vocabulary of the token models (0 = padding)


def _train(model: keras.Model, x: np.ndarray) -> keras.Model:
    """Two Adam steps (lr 0.05) toward random targets: every weight, biases included, moves."""
    keras.utils.set_random_seed(0)
    out = model.predict(x, verbose=0)
    y = tuple(np.random.randn(*o.shape) for o in out) if isinstance(out, (list, tuple)) else np.random.randn(*out.shape)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, y, epochs=2, batch_size=len(x), verbose=0)
    return model


def _saved(model: keras.Model, tmp_path, name: str = "m.keras"):
    path = tmp_path / name
    model.save(path)
    return load_keras(path)


def _imported(model: keras.Model, tmp_path, x_train: np.ndarray, name: str = "m.keras"):
    return _saved(_train(model, x_train), tmp_path, name)


def _same(model: keras.Model, net, *inputs: np.ndarray, atol: float = 1e-5) -> None:
    for x in inputs:
        want, got = model.predict(x, verbose=0), net.predict(x)
        want, got = (want, got) if isinstance(want, (list, tuple)) else ([want], [got])
        assert len(want) == len(got)
        for w, g in zip(want, got):
            assert w.shape == g.shape
            assert np.abs(w - g).max() < atol, np.abs(w - g).max()


def _floats(B: int = 5, T: int = 6, F: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(B, T, F)).astype("float32")


def _ids(seed: int = 0) -> dict[str, np.ndarray]:
    """Batches of token ids with different lengths: post-padded, pre-padded (Keras's pad_sequences
    default), holes in the middle, and one row that is all padding."""
    rng, T = np.random.default_rng(seed), 7
    lengths = [7, 5, 3, 1, 6, 2]
    post, pre = np.zeros((6, T), "int64"), np.zeros((6, T), "int64")
    for b, n in enumerate(lengths):
        post[b, :n] = rng.integers(1, V, n)
        pre[b, T - n:] = post[b, :n]
    holes = rng.integers(1, V, (6, T)) * (rng.random((6, T)) > 0.4)
    holes[:, 0] = rng.integers(1, V, 6)  # at least one real step per row
    empty = post.copy()
    empty[3] = 0
    return {"post": post, "pre": pre, "holes": holes, "empty": empty}


def _token_model(*layers: L.Layer) -> keras.Model:
    return keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(V, 3, mask_zero=True), *layers])


# ----------------------------------------------------------------------------- recurrent layers

@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("variant", list(RNNS))
def test_recurrent_layer_matches_keras(tmp_path, variant, return_sequences, go_backwards) -> None:
    model = keras.Sequential([keras.Input((None, 3)),
                              RNNS[variant](return_sequences=return_sequences, go_backwards=go_backwards),
                              L.Dense(2)])
    net = _imported(model, tmp_path, _floats(8, 5))
    _same(model, net, _floats(4, 7, seed=1), _floats(3, 2, seed=2))
    if variant == "gru_reset_before":  # the new cell, on the explicit loop (no fused kernel computes it)
        assert "gru_reset_before" in net.describe() and "explicit" in net.explain_backend()


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("variant", list(RNNS))
def test_masked_recurrent_layer_matches_keras_for_pre_and_post_padding(tmp_path, variant, return_sequences,
                                                                        go_backwards) -> None:
    """The raw RNN output (masked steps, final output of padded rows) is Keras's, wherever the padding is."""
    model = _token_model(RNNS[variant](return_sequences=return_sequences, go_backwards=go_backwards))
    ids = _ids()
    net = _imported(model, tmp_path, ids["post"])
    _same(model, net, *ids.values())


@pytest.mark.parametrize("return_sequences", [False, True])
def test_zero_output_for_mask_is_honoured(tmp_path, return_sequences) -> None:
    """Keras's quirk included: with zero_output_for_mask=True the last output of a post-padded row is 0."""
    model = _token_model(L.LSTM(4, return_sequences=return_sequences, zero_output_for_mask=True))
    ids = _ids()
    net = _imported(model, tmp_path, ids["post"])
    _same(model, net, *ids.values())


def test_stacked_recurrent_layers(tmp_path) -> None:
    model = _token_model(L.LSTM(4, return_sequences=True), L.GRU(3, reset_after=False, return_sequences=True),
                         L.SimpleRNN(3, activation="relu", go_backwards=True), L.Dense(2, activation="tanh"))
    ids = _ids()
    net = _imported(model, tmp_path, ids["pre"])
    _same(model, net, *ids.values())


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge", ["concat", "sum", "mul", "ave"])
def test_bidirectional_merges_with_masks(tmp_path, merge, return_sequences) -> None:
    model = _token_model(L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode=merge),
                         L.Bidirectional(L.GRU(3, return_sequences=return_sequences), merge_mode=merge))
    ids = _ids()
    net = _imported(model, tmp_path, ids["pre"])
    _same(model, net, *ids.values())


@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_without_merge_returns_both_directions_as_keras(tmp_path, return_sequences) -> None:
    model = _token_model(L.Bidirectional(L.GRU(3, reset_after=False, return_sequences=return_sequences),
                                         merge_mode=None))
    ids = _ids()
    net = _imported(model, tmp_path, ids["post"])
    assert isinstance(net(torch.as_tensor(ids["post"])), tuple)
    _same(model, net, *ids.values())


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_global_pooling_after_masked_bidirectional(tmp_path, pool) -> None:
    """GlobalAveragePooling1D averages real steps only; GlobalMaxPooling1D ignores the mask (as Keras)."""
    g = L.GlobalAveragePooling1D() if pool == "avg" else L.GlobalMaxPooling1D()
    model = _token_model(L.Bidirectional(L.LSTM(4, return_sequences=True)), L.Dense(4, activation="relu"), g,
                         L.Dense(3, activation="softmax"))
    ids = {k: v for k, v in _ids().items() if k != "empty"}  # an all-padding row averages 0/0 in Keras
    net = _imported(model, tmp_path, ids["pre"])
    _same(model, net, *ids.values())


# ----------------------------------------------------------------------------- conv, pooling, dense

@pytest.mark.parametrize(("padding", "stride", "kernel", "dilation"), [
    ("same", 1, 3, 1), ("same", 1, 4, 1), ("same", 2, 3, 1), ("same", 3, 4, 1), ("same", 1, 3, 2),
    ("valid", 1, 3, 1), ("valid", 2, 4, 1), ("valid", 3, 3, 1), ("causal", 1, 3, 1), ("causal", 2, 3, 1),
    ("causal", 1, 2, 3)])
def test_conv1d_then_pooling_on_odd_and_even_lengths(tmp_path, padding, stride, kernel, dilation) -> None:
    model = keras.Sequential([keras.Input((None, 3)), L.Conv1D(4, kernel, strides=stride, padding=padding,
                                                                dilation_rate=dilation, activation="relu"),
                              L.MaxPooling1D(2, padding="same"), L.LSTM(3)])
    net = _imported(model, tmp_path, _floats(6, 12))
    _same(model, net, _floats(3, 13, seed=1), _floats(3, 14, seed=2), _floats(2, 17, seed=3))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(("pool", "stride"), [(2, None), (3, 2), (3, 1), (2, 3), (4, 3)])
@pytest.mark.parametrize("cls", [L.MaxPooling1D, L.AveragePooling1D])
def test_pooling_on_odd_and_even_lengths(tmp_path, cls, pool, stride, padding) -> None:
    """Keras's torch backend pads "same" pooling by edge replication when the two sides differ."""
    model = keras.Sequential([keras.Input((None, 2)), cls(pool, strides=stride, padding=padding)])
    net = _saved(model, tmp_path)
    _same(model, net, _floats(2, 9, 2), _floats(2, 10, 2, seed=1), _floats(2, 11, 2, seed=2))


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softmax"])
def test_dense_heads_and_time_distributed(tmp_path, activation) -> None:
    model = keras.Sequential([keras.Input((None, 3)), L.GRU(4, return_sequences=True),
                              L.TimeDistributed(L.Dense(5, activation="relu")), L.Dense(4, activation=activation),
                              L.Dropout(0.5), L.GRU(4), L.Dense(3, activation=activation)])
    net = _imported(model, tmp_path, _floats(8, 5))
    _same(model, net, _floats(4, 6, seed=1))


def test_activation_table_is_keras() -> None:
    x = np.linspace(-4, 4, 24, dtype="float32").reshape(3, 8)
    for name, fn in ACTIVATIONS.items():
        want = keras.ops.convert_to_numpy(keras.activations.get(name)(keras.ops.convert_to_tensor(x)))
        np.testing.assert_allclose(fn(torch.as_tensor(x)).numpy(), want, atol=1e-6, err_msg=name)


def test_functional_chain_with_masking_and_regularisation_layers(tmp_path) -> None:
    inp = keras.Input((None, 3))
    h = L.Masking(0.0)(inp)
    h = L.LSTM(4, return_sequences=True)(h)
    h = L.SpatialDropout1D(0.3)(L.Dropout(0.2)(h))
    h = L.Activation("tanh")(L.Dense(4)(h))
    h = L.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, L.Dense(2, activation="softmax")(h))
    x = _floats(6, 7)
    x[0, :3] = 0.0  # pre-padded
    x[1, 5:] = 0.0  # post-padded
    x[2, 2] = 0.0  # a hole
    net = _imported(model, tmp_path, x)
    assert [s["keras_class"] for s in net.spec["layers"]][:2] == ["Masking", "LSTM"]
    _same(model, net, x, _floats(3, 4, seed=1))


def test_legacy_h5_file(tmp_path) -> None:
    model = _token_model(L.Bidirectional(L.GRU(3, return_sequences=True), merge_mode="sum"),
                         L.Conv1D(4, 3, padding="same"), L.GlobalAveragePooling1D(), L.Dense(2, activation="sigmoid"))
    ids = _ids()
    net = _imported(model, tmp_path, ids["post"], name="m.h5")
    _same(model, net, ids["post"], ids["pre"])


def test_keras_defaults_the_importer_relies_on() -> None:
    assert L.LSTM(2).get_config()["recurrent_activation"] == "sigmoid"
    assert L.GRU(2).get_config()["recurrent_activation"] == "sigmoid"
    assert L.GRU(2).get_config()["reset_after"] is True


# ----------------------------------------------------------------------------- model directory, CLI, training

def _classifier() -> keras.Model:
    return _token_model(L.GRU(8, reset_after=False), L.Dense(3, activation="softmax"))


def test_cli_import_writes_a_model_directory_load_run_reads(tmp_path) -> None:
    from typer.testing import CliRunner

    from rnnkit.cli import app
    from rnnkit.tasks import load_run

    model, ids = _classifier(), _ids()
    _train(model, ids["post"])
    model.save(tmp_path / "clf.keras")
    out = tmp_path / "imported"
    r = CliRunner().invoke(app, ["import-keras", str(tmp_path / "clf.keras"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "GRU" in r.output and "gru_reset_before" in r.output and str(out) in r.output.replace("\n", "")
    assert {"config.json", "layers.json", "model.safetensors"} <= {p.name for p in out.iterdir()}
    loaded = load_run(out)
    assert loaded.run_config.task == "keras" and loaded.run_config.data.source.endswith("clf.keras")
    for x in ids.values():
        np.testing.assert_array_equal(loaded.predict(x), load_keras(tmp_path / "clf.keras").predict(x))
    _same(model, loaded, *ids.values())
    # the Python API: rnnkit.from_keras and rnnkit.load give estimators with the same predictions
    import rnnkit

    est, again = rnnkit.from_keras(tmp_path / "clf.keras"), rnnkit.load(out)
    for x in ids.values():
        np.testing.assert_array_equal(est.predict(x), loaded.predict(x))
        np.testing.assert_array_equal(again.predict(x), loaded.predict(x))


def test_from_keras_estimator_fine_tunes_and_saves(tmp_path) -> None:
    import rnnkit

    model, ids = _classifier(), _ids()
    x = np.concatenate([ids["post"], ids["pre"], ids["holes"]] * 4)
    y = x.max(1) % 3
    model.save(tmp_path / "clf.keras")
    est = rnnkit.from_keras(tmp_path / "clf.keras")
    before = float(est.model_.loss((torch.as_tensor(x), torch.as_tensor(y)))[0].detach())
    est.set_params(lr=0.02).fit(x, y, epochs=15, batch_size=24, verbose=0)
    assert est.fit_result_.stop_reason == "epochs" and len(est.history_.history["val_loss"]) == 15
    after = float(est.model_.loss((torch.as_tensor(x), torch.as_tensor(y)))[0].detach())
    assert after < 0.8 * before, (before, after)
    est.save(tmp_path / "tuned")
    np.testing.assert_array_equal(rnnkit.load(tmp_path / "tuned").predict(x), est.predict(x))


def test_loss_is_keras_cross_entropy_and_fit_fine_tunes(tmp_path) -> None:
    from rnnkit.config import TrainConfig
    from rnnkit.train.fit import fit

    model, ids = _classifier(), _ids()
    x = np.concatenate([ids["post"], ids["pre"], ids["holes"]] * 4)  # (72, 7)
    y = x.max(1) % 3  # a rule the GRU can learn: the largest token id, mod 3
    net = _imported(model, tmp_path, x)
    p = model.predict(x, verbose=0)
    want = -np.log(p[np.arange(len(y)), y]).mean()  # sparse categorical cross-entropy of Keras's output
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    before, _, metrics = net.loss((xt, yt))
    before = float(before.detach())
    assert abs(before - want) < 1e-5
    assert float(metrics["count"]) == len(y)
    assert float(metrics["accuracy_sum"]) == (p.argmax(1) == y).sum()

    class Batches:
        carries_state = False

        def epoch(self, epoch: int, start: int = 0):
            order = torch.randperm(len(xt), generator=torch.Generator().manual_seed(epoch))
            for i in range(start * 24, len(xt), 24):
                yield xt[order[i:i + 24]], yt[order[i:i + 24]]

    net.train()
    fit(net, Batches(), TrainConfig(batch_size=24, max_steps=40, lr=0.02, schedule="none", eval_every=1000,
                                    log_every=1000, device="cpu"))
    after = float(net.loss((xt, yt))[0].detach())
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("head", ["softmax_per_step", "sigmoid", "linear"])
def test_loss_follows_the_head_activation(tmp_path, head) -> None:
    """Cross-entropy over real steps only (as Keras weights padded steps out), binary cross-entropy, MSE:
    each equal to the loss computed from Keras's own predictions."""
    x, rng = _ids()["pre"], np.random.default_rng(1)
    if head == "softmax_per_step":
        model = _token_model(L.LSTM(4, return_sequences=True), L.Dense(3, activation="softmax"))
        y = rng.integers(0, 3, x.shape)
    else:
        model = _token_model(L.GRU(4), L.Dense(2, activation="sigmoid" if head == "sigmoid" else "linear"))
        y = rng.integers(0, 2, (len(x), 2)).astype("float32") if head == "sigmoid" else rng.normal(size=(len(x), 2))
    net = _imported(model, tmp_path, x)
    p = model.predict(x, verbose=0).astype("float64")
    if head == "softmax_per_step":
        nll = -np.log(np.take_along_axis(p, y[..., None], -1)[..., 0])
        want = nll[x != 0].mean()
    elif head == "sigmoid":
        want = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    else:
        want = ((p - y) ** 2).mean()
    got, _, metrics = net.loss((torch.as_tensor(x), torch.as_tensor(y)))
    assert abs(float(got.detach()) - want) < 1e-5
    assert float(metrics["count"]) == ((x != 0).sum() if head == "softmax_per_step" else len(x))


# ----------------------------------------------------------------------------- clear errors

def _import_error(model: keras.Model, tmp_path, match: str) -> None:
    model.save(tmp_path / "bad.keras")
    with pytest.raises(ModelImportError, match=match):
        load_keras(tmp_path / "bad.keras")


def test_unsupported_layers_are_named_with_the_supported_list(tmp_path) -> None:
    q = keras.Input((None, 3))
    v = L.Dense(3)(q)
    _import_error(keras.Model(q, L.Attention(name="attn")([q, v])), tmp_path,
                  r"layer 'attn' \(Attention\) is not supported; supported layers: .*Bidirectional.*LSTM")
    _import_error(keras.Sequential([keras.Input((None, 3)), L.LayerNormalization(name="ln"), L.LSTM(2)]), tmp_path,
                  r"layer 'ln' \(LayerNormalization\) is not supported")


def test_graphs_that_are_not_a_chain_are_refused(tmp_path) -> None:
    a, b = keras.Input((None, 3)), keras.Input((None, 3))
    _import_error(keras.Model([a, b], L.LSTM(2)(a)), tmp_path, "2 inputs and 1 outputs")
    shared = L.Dense(3, name="shared")
    _import_error(keras.Model(a, shared(shared(a))), tmp_path, r"layer 'shared' \(Dense\) is called 2 time")


@pytest.mark.parametrize(("layer", "match"), [
    (L.LSTM(2, recurrent_activation="hard_sigmoid", name="l"),
     r"layer 'l' \(LSTM\): recurrent_activation='hard_sigmoid' is not supported; supported: 'sigmoid'"),
    (L.GRU(2, activation="relu", name="g"),
     r"layer 'g' \(GRU\): activation='relu' is not supported; supported: 'tanh'"),
    (L.SimpleRNN(2, activation="sigmoid", name="s"),
     r"activation='sigmoid' is not supported; supported: 'tanh', 'relu'"),
    (L.LSTM(2, return_state=True, name="rs"), r"layer 'rs' \(LSTM\): return_state=True is not supported"),
    (L.Dense(2, activation="hard_silu", name="d"), r"layer 'd' \(Dense\): activation='hard_silu' is not supported"),
])
def test_unsupported_options_are_named(tmp_path, layer, match) -> None:
    inp = keras.Input((None, 3))
    out = layer(inp)
    _import_error(keras.Model(inp, out[0] if isinstance(out, (list, tuple)) else out), tmp_path, match)


def test_stateful_and_inner_merge_none_are_refused(tmp_path) -> None:
    from rnnkit.interop.keras_layers import CONVERTERS, KerasLayer

    _import_error(keras.Sequential([keras.Input(batch_shape=(2, None, 3)), L.LSTM(2, stateful=True, name="st")]),
                  tmp_path, r"layer 'st' \(LSTM\): stateful=True is not supported; supported: False")
    # Keras cannot even build a layer after merge_mode=None (a list), so convert one as if it were inner
    bi = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None, name="bi")
    bi.build((None, None, 3))
    layer = KerasLayer("bi", "Bidirectional", bi.get_config(), bi.get_weights(), is_last=False, file="m.keras")
    with pytest.raises(ModelImportError, match=r"layer 'bi' \(Bidirectional\): merge_mode=None .* last layer"):
        CONVERTERS["Bidirectional"].convert(layer)


def test_files_that_are_not_keras_models_give_clear_errors(tmp_path, monkeypatch) -> None:
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"definitely not a model" * 10)
    with pytest.raises(ModelImportError, match="junk.keras: not a Keras model file"):
        load_keras(junk)
    with pytest.raises(ModelImportError, match="missing.keras: file not found"):
        load_keras(tmp_path / "missing.keras")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ModelImportError, match="not a Keras 3 model archive"):
        load_keras(tmp_path / "other.keras")
    import h5py

    empty = io.BytesIO()
    h5py.File(empty, "w").close()
    with zipfile.ZipFile(tmp_path / "odd.keras", "w") as z:  # a well-formed archive with a config Keras never writes
        z.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": [{"config": {}}]}}')
        z.writestr("model.weights.h5", empty.getvalue())
    with pytest.raises(ModelImportError, match="odd.keras: unexpected model config"):
        load_keras(tmp_path / "odd.keras")
    model = _classifier()
    model.save(tmp_path / "ok.keras")
    data = (tmp_path / "ok.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelImportError, match="cut.keras"):
        load_keras(tmp_path / "cut.keras")
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(ModelImportError, match="without a model config"):
        load_keras(tmp_path / "only.weights.h5")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text('{"task": "classify"}')
    with pytest.raises(ModelImportError, match="already holds a 'classify' run"):
        import_keras(tmp_path / "ok.keras", tmp_path / "run")
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)
    with pytest.raises(ModelImportError, match=r"pip install rnnkit\[keras\]"):
        load_keras(tmp_path / "ok.keras")


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path) -> None:
    from typer.testing import CliRunner

    from rnnkit.cli import app

    (tmp_path / "x.keras").write_text("nope")
    r = CliRunner().invoke(app, ["import-keras", str(tmp_path / "x.keras"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "error:" in r.output and "Traceback" not in r.output and "not a Keras model file" in r.output
    assert not (tmp_path / "o").exists()
