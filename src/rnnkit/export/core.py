"""Export a trained model to ONNX, prove the graphs run at other batch sizes and lengths, quantise.

    export_run("runs/shakespeare", int8=True)     # -> runs/shakespeare/onnx/{model,step}.onnx, export.json
    model.export("out/")                          # the estimator method, same function

Every graph is exported with the dynamo exporter (named dynamic axes), then *verified*: its declared
input axes must be symbolic, and onnxruntime must reproduce torch's outputs at batch sizes and
lengths different from the export example (1e-5) — a graph frozen to the example's length fails
here, loudly, instead of at serving time. ``int8=True`` adds onnxruntime's dynamic int8
quantisation of each graph (weights int8, activations quantised per call) and records its drift
from torch (``export.json``: ``int8.max_rel_err`` and, for logits, ``int8.top1_agreement``).
"""

from __future__ import annotations

import inspect
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.errors import RnnkitError
from rnnkit.evaluation.backtest import combination_of
from rnnkit.evaluation.combine import COMBINATIONS, NETWORK
from rnnkit.export.graphs import GraphSpec, export_mode
from rnnkit.export.models import GRAPHS

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
MANIFEST = "export.json"
EXAMPLE = (2, 7)  # (batch, time) of the traced example
CHECKS = ((1, 13), (3, 19))  # (batch, time) pairs verify runs, all different from EXAMPLE
ATOL = RTOL = 1e-5
INT8_TOLERANCE = {"max_rel_err": 0.05, "top1_agreement": 0.9}  # documented in docs/serving.md


class ExportError(RnnkitError, RuntimeError):
    """A model that cannot be exported, or an exported graph that does not reproduce torch."""


def session(path: str | Path, threads: int = 1) -> Any:
    """An onnxruntime CPU session that shares the machine politely: ``threads`` intra-op threads,
    no spinning worker threads (spinning starves torch and other requests in the same process)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def export_graph(spec: GraphSpec, path: Path, example: tuple[int, int] = EXAMPLE) -> None:
    """``spec`` -> one ONNX file with named inputs, outputs and dynamic axes (dynamo exporter)."""
    dims: dict[str, Any] = {}
    shapes = tuple({d: dims.setdefault(n, torch.export.Dim(n)) for d, n in spec.axes.get(name, {}).items()}
                   or None for name in spec.inputs)
    params = list(inspect.signature(spec.module.forward).parameters.values())
    if params and params[-1].kind is inspect.Parameter.VAR_POSITIONAL:  # torch.export: *args is one tuple
        k = len(params) - 1
        shapes = (*shapes[:k], tuple(shapes[k:]))
    args = spec.example(*example)
    _forget_rnn_dispatch()
    with torch.no_grad(), export_mode(spec.module), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(spec.module, args, input_names=spec.inputs, output_names=spec.outputs,
                                        dynamic_shapes=shapes, dynamo=True, verbose=False)
        except Exception as e:  # the exporter raises many types; one line for the user
            raise ExportError(f"{spec.name}: the ONNX exporter failed: {_summary(e)}") from e
    program.save(str(path), external_data=False)


def _forget_rnn_dispatch() -> None:
    """Clear the dispatch caches of aten's LSTM / GRU ops before an export.

    For a dynamic time axis torch.onnx swaps in a while-loop decomposition of ``aten.lstm`` / ``aten.gru``
    by writing the op's ``py_kernels`` directly (torch.export._patches, torch 2.13), which does not clear
    the op's dispatch cache. Once the op has run (any training or inference, or the previous export's
    check), the cache holds the default kernel, the swap is skipped, and the export unrolls the loop at
    the example's length: the second LSTM export of a process froze its time axis."""
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        op._dispatch_cache.clear()


def _summary(e: BaseException) -> str:
    """The exporter's own one-line reason (its messages start with generic advice)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if "## Exception summary" in lines:
        lines = lines[lines.index("## Exception summary") + 1:]
    return (lines[0] if lines else type(e).__name__)[:300]


def _feed(spec: GraphSpec, args: tuple[torch.Tensor, ...]) -> dict[str, np.ndarray]:
    return {n: a.numpy() for n, a in zip(spec.inputs, args)}


def frozen_axes(path: str | Path, axes: dict[str, dict[int, str]]) -> list[str]:
    """The declared input axes that should be dynamic but are fixed numbers in the graph."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    bad = []
    for inp in graph.input:
        dims = inp.type.tensor_type.shape.dim
        for d, name in axes.get(inp.name, {}).items():
            if d < len(dims) and dims[d].HasField("dim_value"):
                bad.append(f"{inp.name}[{d}] ({name}) = {dims[d].dim_value}")
    return bad


def verify(spec: GraphSpec, path: str | Path, checks: tuple[tuple[int, int], ...] = CHECKS,
           atol: float = ATOL, rtol: float = RTOL) -> dict[str, Any]:
    """Run the graph in onnxruntime at each (batch, time) of ``checks`` and compare with torch.

    Raises :class:`ExportError` when an axis is frozen or an output differs beyond
    ``atol + rtol * |torch|``; returns ``{"max_abs_err": ..., "checked": [[B, T], ...]}``."""
    frozen = frozen_axes(path, spec.axes)
    if frozen:
        raise ExportError(f"{Path(path).name}: frozen to the export example: {', '.join(frozen)}")
    sess, worst, shapes = session(path), 0.0, []
    for B, T in checks:
        args = spec.example(B, T)
        with torch.no_grad():
            ref = [r.numpy() for r in spec.module.eval()(*args)]
        try:
            got = sess.run(spec.outputs, _feed(spec, args))
        except Exception as e:  # onnxruntime's shape errors: the graph assumed the example's size
            raise ExportError(f"{Path(path).name}: onnxruntime failed at batch={B} time={T} "
                              f"(graph frozen to the example?): {str(e).splitlines()[0][:200]}") from e
        for name, r, g in zip(spec.outputs, ref, got):
            if r.shape != g.shape:
                raise ExportError(f"{Path(path).name}: output {name} has shape {g.shape} at batch={B} time={T}, "
                                  f"torch gives {r.shape} (graph frozen to the example)")
            err = np.abs(r.astype(np.float64) - g)
            if r.size and (err > atol + rtol * np.abs(r)).any():
                raise ExportError(f"{Path(path).name}: output {name} differs from torch by {err.max():.2e} "
                                  f"at batch={B} time={T} (tolerance {atol:g} + {rtol:g}*|x|)")
            worst = max(worst, float(err.max()) if r.size else 0.0)
        shapes.append([g.shape for g in got])
    _declare_output_shapes(path, spec, shapes, checks)
    return {"max_abs_err": worst, "checked": [list(c) for c in checks]}


def _declare_output_shapes(path: str | Path, spec: GraphSpec, shapes: list[list[tuple[int, ...]]],
                           checks: tuple[tuple[int, int], ...]) -> None:
    """Write the output shapes onnxruntime produced: axes that changed between checks are symbolic
    (the exporter sometimes records an output's time axis as the example's length)."""
    import onnx

    model = onnx.load(str(path))
    del model.graph.value_info[:]  # intermediate shapes are re-inferred by onnxruntime
    names = {n for ax in spec.axes.values() for n in ax.values()}
    for i, out in enumerate(model.graph.output):
        dims = out.type.tensor_type.shape.dim
        seen = [s[i] for s in shapes]
        for d, dim in enumerate(dims):
            values = [s[d] for s in seen]
            if len(set(values)) == 1:
                dim.dim_value = values[0]
            elif values == [c[0] for c in checks]:
                dim.dim_param = "batch"
            elif values == [c[1] for c in checks]:
                dim.dim_param = "source" if "source" in names else "time"
            else:
                dim.dim_param = f"{out.name}_{d}"
    onnx.save(model, str(path))


def quantize(src: Path, dst: Path) -> None:
    """onnxruntime's dynamic int8 quantisation (int8 weights, activations quantised per call). Constants
    are folded first: the exporter builds the LSTM/GRU weights with Concat/Slice at run time, which the
    quantiser would otherwise leave in float (measured: 4x smaller with folding, ~1.05x without)."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folded = dst.with_name(dst.name + ".folded.tmp")
    try:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath, so.log_severity_level = str(folded), 3
        ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])
        quantize_dynamic(str(folded), str(dst), weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True})
    except Exception as e:
        raise ExportError(f"{src.name}: int8 quantisation failed: {str(e).splitlines()[0][:200]}") from e
    finally:
        folded.unlink(missing_ok=True)


def int8_drift(spec: GraphSpec, path: str | Path, checks: tuple[tuple[int, int], ...] = CHECKS) -> dict[str, float]:
    """Max relative error of the int8 graph's first output vs torch (|diff| / max|torch|), and for
    logits the share of positions whose argmax agrees."""
    sess, rel, agree, total = session(path), 0.0, 0, 0
    for B, T in checks:
        args = spec.example(B, T)
        with torch.no_grad():
            ref = spec.module.eval()(*args)[0].numpy()
        got = sess.run(spec.outputs[:1], _feed(spec, args))[0]
        rel = max(rel, float(np.abs(ref - got).max() / max(np.abs(ref).max(), 1e-12)))
        if spec.outputs[0] in ("logits", "y", "y_forward") and ref.ndim >= 2:
            agree += int((ref.argmax(-1) == got.argmax(-1)).sum())
            total += ref.argmax(-1).size
    out = {"max_rel_err": rel}
    if total:
        out["top1_agreement"] = agree / total
    return out


def _forecast_combination(model: torch.nn.Module) -> tuple[dict[str, Any], str] | None:
    name = combination_of(model)
    if name == NETWORK:
        return None
    # the graph is the network; the statistical members are refitted on each history and cannot be a graph
    return {"combination": name, "members": list(COMBINATIONS[name]),
            "note": "the ONNX graph is the network alone; this model's forecasts (rnnkit forecast / serve) are the "
                    "combination in combine.json: rnnkit.evaluation.combine.combined_forecasts applies it to the "
                    "graph's output"}, (f"forecasts {name} (combine.json), whose statistical members are fitted on "
                                        "each history at forecast time")


def _classify_combination(model: torch.nn.Module) -> tuple[dict[str, Any], str] | None:
    from rnnkit.apps.classify_combine import combination_of as classify_combination

    name = classify_combination(model)[0]
    if name == NETWORK:
        return None
    return {"combination": name,
            "note": "the ONNX graph is the network alone; this model's predictions (rnnkit predict / serve) blend its "
                    "class probabilities with its baseline member in combine.json (TF-IDF + LR or 1-NN DTW) "
                    "(rnnkit.apps.classify_combine.probabilities)"}, (f"predicts with {name} (combine.json), whose "
                                                                     "baseline member is not a graph")


#: task -> the model's combination with members outside the graph: the manifest's "combine" entry and what the
#: export's warning says of it (None: the model is the network alone)
COMBINED: dict[str, Callable[[torch.nn.Module], tuple[dict[str, Any], str] | None]] = {
    "forecast": _forecast_combination, "classify": _classify_combination}


def export_model(model: torch.nn.Module, out: str | Path, int8: bool = False) -> dict[str, Any]:
    """Every graph of ``model`` (a loaded rnnkit model with ``run_config`` and ``artifacts``) into
    ``out``: ``<graph>.onnx`` (+ ``<graph>.int8.onnx``), the artifacts (tokenizer / scaler / labels
    JSON, config.json) and ``export.json`` describing inputs, outputs, axes and measured errors."""
    cfg = model.run_config
    if cfg.task not in GRAPHS:
        raise ExportError(f"no ONNX export for task {cfg.task!r}; exportable: {', '.join(GRAPHS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graphs: dict[str, Any] = {}
    for spec in GRAPHS[cfg.task](model):
        path = out / f"{spec.name}.onnx"
        export_graph(spec, path)
        entry = {"file": path.name, "inputs": spec.inputs, "outputs": spec.outputs,
                 "axes": {k: {str(d): n for d, n in v.items()} for k, v in spec.axes.items()},
                 "meta": spec.meta, **verify(spec, path)}
        log.info("%s: onnxruntime matches torch within %.1e at %s", path.name, entry["max_abs_err"], CHECKS)
        if int8:
            q = out / f"{spec.name}.int8.onnx"
            quantize(path, q)
            drift = int8_drift(spec, q)
            entry["int8"] = {"file": q.name, **drift, "tolerance": INT8_TOLERANCE}
            if drift["max_rel_err"] > INT8_TOLERANCE["max_rel_err"]:
                log.warning("%s: int8 drift %.3f exceeds %.2f", q.name, drift["max_rel_err"],
                            INT8_TOLERANCE["max_rel_err"])
        graphs[spec.name] = entry
    for name, data in (model.artifacts or {}).items():
        ckpt.atomic_write_json(out / name, data)
    ckpt.atomic_write_json(out / ckpt.CONFIG_FILE, cfg.to_dict())
    first = next(iter(graphs.values()))["file"]
    manifest = {"format_version": FORMAT_VERSION, "task": cfg.task, "opset": _opset(out / first),
                "torch": torch.__version__, "graphs": graphs}
    combined = COMBINED[cfg.task](model) if cfg.task in COMBINED else None
    if combined is not None:
        manifest["combine"] = combined[0]
        log.warning("the export holds the network alone: this model %s", combined[1])
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _opset(path: Path) -> int:
    import onnx

    return max(o.version for o in onnx.load(str(path), load_external_data=False).opset_import if o.domain == "")


def export_run(run_dir: str | Path, out: str | Path | None = None, int8: bool = False,
               format: str = "onnx") -> dict[str, Any]:
    """Export the model directory ``run_dir`` (default ``out``: ``run_dir/onnx``); see :func:`export_model`."""
    from rnnkit.tasks import load_run

    if format != "onnx":
        raise ExportError(f"unknown export format {format!r}; valid: onnx")
    model = load_run(run_dir)
    return export_model(model, Path(run_dir) / "onnx" if out is None else out, int8=int8)


def read_manifest(export_dir: str | Path) -> dict[str, Any]:
    """``export.json`` of an export directory."""
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        raise ExportError(f"{export_dir}: no {MANIFEST} (not an rnnkit ONNX export; run `rnnkit export` first)")
    return json.loads(path.read_text(encoding="utf-8"))


__all__ = ["ExportError", "export_graph", "export_model", "export_run", "frozen_axes", "int8_drift", "quantize",
           "read_manifest", "session", "verify"]
