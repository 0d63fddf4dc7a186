"""ONNX export: onnxruntime reproduces torch at batch sizes and lengths other than the export example
(1e-5), custom cells keep the time axis dynamic, int8 stays within its documented tolerance, and a
graph frozen to the example's length is caught by the checker."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from rnnkit.export.core import (  # noqa: E402
    CHECKS,
    EXAMPLE,
    INT8_TOLERANCE,
    ExportError,
    export_graph,
    frozen_axes,
    int8_drift,
    quantize,
    verify,
)
from rnnkit.export.graphs import GraphSpec  # noqa: E402
from rnnkit.export.models import GRAPHS  # noqa: E402
from rnnkit.layers import Stack  # noqa: E402
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier  # noqa: E402
from rnnkit.models.forecaster import Forecaster, ForecasterConfig  # noqa: E402
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig  # noqa: E402


def _export_and_verify(task: str, model: torch.nn.Module, tmp_path) -> dict[str, dict]:
    model.eval()
    out = {}
    for spec in GRAPHS[task](model):
        path = tmp_path / f"{spec.name}.onnx"
        export_graph(spec, path)
        assert frozen_axes(path, spec.axes) == []
        out[spec.name] = {"spec": spec, "path": path, **verify(spec, path)}  # raises beyond 1e-5
        assert all(c[0] != EXAMPLE[0] and c[1] != EXAMPLE[1] for c in out[spec.name]["checked"])
    return out


def test_custom_cell_classifier_with_lengths_keeps_time_dynamic(tmp_path):
    """Layer-norm LSTM (no fused kernel), bidirectional, padded batch: a Scan over the cell's step,
    correct at every batch / length and with each sequence stopped at its own length."""
    model = SequenceClassifier(ClassifierConfig(cell="layernorm_lstm", hidden_size=8, bidirectional=True,
                                                embed_dim=6, pooling="mean"), 3, vocab_size=20)
    res = _export_and_verify("classify", model, tmp_path)["model"]
    assert res["max_abs_err"] < 1e-5
    # padding must not change a prediction: a sequence alone == the same sequence in a padded batch
    from rnnkit.export.core import session

    sess = session(res["path"])
    x = torch.randint(1, 20, (2, 11))
    x[1, 6:] = 0
    both = sess.run(["logits"], {"x": x.numpy(), "lengths": np.array([11, 6])})[0]
    alone = sess.run(["logits"], {"x": x[1:, :6].numpy(), "lengths": np.array([6])})[0]
    np.testing.assert_allclose(both[1], alone[0], atol=1e-5)


def test_seq2seq_encoder_and_decoder_step(tmp_path):
    model = Seq2Seq(Seq2SeqConfig(hidden_size=8, embed_size=8, cell="gru"), 15, 12)
    res = _export_and_verify("seq2seq", model, tmp_path)
    assert set(res) == {"encoder", "decoder_step"}
    assert max(r["max_abs_err"] for r in res.values()) < 1e-5


def test_forecaster_context_length_dynamic(tmp_path):
    model = Forecaster(ForecasterConfig(hidden_size=8, cell="mingru"), 1, 0, 1, 4, 12, 4)
    res = _export_and_verify("forecast", model, tmp_path)["model"]
    assert res["max_abs_err"] < 1e-5


def test_int8_within_documented_tolerance(tmp_path):
    """Dynamic int8 quantisation of a fused-LSTM classifier: relative drift and top-1 agreement."""
    torch.manual_seed(1)
    model = SequenceClassifier(ClassifierConfig(cell="lstm", hidden_size=32, embed_dim=16), 5, vocab_size=40)
    with torch.no_grad():  # spread the logits so top-1 is a meaningful comparison
        model.head[1].weight.mul_(20)
    res = _export_and_verify("classify", model, tmp_path)["model"]
    q = tmp_path / "model.int8.onnx"
    quantize(res["path"], q)
    drift = int8_drift(res["spec"], q, CHECKS + ((16, 23),))
    assert drift["max_rel_err"] <= INT8_TOLERANCE["max_rel_err"]
    assert drift["top1_agreement"] >= INT8_TOLERANCE["top1_agreement"]
    assert q.stat().st_size < 0.8 * res["path"].stat().st_size  # tiny model: graph overhead dominates


class _Loop(torch.nn.Module):
    """A plain Python time loop (impl="explicit"), exported without rnnkit's export mode."""

    def __init__(self) -> None:
        super().__init__()
        self.stack = Stack("peephole_lstm", 3, 5, impl="explicit")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.stack(x)[0],)


def test_frozen_time_axis_is_caught(tmp_path):
    """Exported naively (dynamic batch only, as a first attempt would), the loop is unrolled to the
    example's 7 steps; the checker refuses the graph instead of serving wrong shapes."""
    module = _Loop().eval()
    path = tmp_path / "naive.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = torch.onnx.export(module, (torch.randn(*EXAMPLE, 3),), input_names=["x"], output_names=["y"],
                                 dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    prog.save(str(path))
    spec = GraphSpec("naive", module, ["x"], ["y"], {"x": {0: "batch", 1: "time"}},
                     lambda B, T: (torch.randn(B, T, 3),))
    assert frozen_axes(path, spec.axes) == [f"x[1] (time) = {EXAMPLE[1]}"]
    with pytest.raises(ExportError, match="frozen"):
        verify(spec, path)
    # and without the declared-axes check, running it at another length fails too
    spec.axes = {"x": {0: "batch"}}
    with pytest.raises(ExportError, match="frozen"):
        verify(spec, path)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_second_export_in_one_process_keeps_time_dynamic(tmp_path, cell):
    """torch.onnx swaps in a while-loop RNN decomposition without clearing the op's dispatch cache: once
    the op had run, a second export unrolled the loop at the example's length (frozen time axis)."""
    model = Forecaster(ForecasterConfig(hidden_size=4, cell=cell, skip="last"), 1, 0, 1, 6, 12, 12)
    model.eval()
    for attempt in ("first", "second"):
        spec = GRAPHS["forecast"](model)[0]
        model.predict({k: v for k, v in zip(["x", "xf", "sid"], spec.example(3, 20))})  # the op runs eagerly
        path = tmp_path / f"{attempt}.onnx"
        export_graph(spec, path)
        assert frozen_axes(path, spec.axes) == [], attempt
