"""Keras layer -> rnnkit layer: one converter per Keras class in :data:`CONVERTERS`.

A converter takes a :class:`KerasLayer` (its config and its weights in Keras's ``layer.weights``
order) and returns ``(kind, args, tensors)``: the :data:`rnnkit.models.sequential_layers.LAYERS`
kind, its constructor arguments (plain JSON) and its state dict as numpy arrays. To support another
Keras layer, add a converter and one line to the table. Every option a converter cannot honour is a
:class:`~rnnkit.errors.ModelImportError` naming the layer, its class, the option and what is supported.

Weight layouts: Keras kernels are ``(in, G*H)`` and torch's ``(G*H, in)``, so they are transposed;
LSTM gates are i, f, c, o in both; Keras GRU gates z, r, h become torch's r, z, n; a GRU with
``reset_after=True`` has a ``(2, 3H)`` bias (input bias, recurrent bias); a single Keras bias goes
into ``bias_ih`` with ``bias_hh`` zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnkit.errors import ModelImportError
from rnnkit.models.sequential_layers import ACTIVATIONS

Converted = tuple[str, dict[str, Any], dict[str, np.ndarray]]


@dataclass
class KerasLayer:
    """One Keras layer as stored in a file."""

    name: str
    class_name: str
    config: dict[str, Any]
    weights: list[np.ndarray]
    is_last: bool = False
    file: str = ""

    def fail(self, what: str) -> ModelImportError:
        return ModelImportError(f"{self.file}: layer {self.name!r} ({self.class_name}): {what}")

    def option(self, key: str, default: Any, valid: tuple | dict) -> Any:
        """``config[key]``, which must be one of ``valid``."""
        return self.check(key, self.config.get(key, default), valid)

    def check(self, key: str, value: Any, valid: tuple | dict) -> Any:
        if value not in valid:
            raise self.fail(f"{key}={value!r} is not supported; supported: {', '.join(repr(v) for v in valid)}")
        return value

    def expect_weights(self, *counts: int) -> None:
        if len(self.weights) not in counts:
            raise self.fail(f"expected {' or '.join(map(str, counts))} weight arrays, the file has "
                            f"{len(self.weights)} (was the model built before saving?)")


def _one(layer: KerasLayer, key: str, default: Any = None) -> Any:
    """A 1-D layer's size option, stored as ``[k]`` (Keras 3) or ``k``."""
    v = layer.config.get(key, default)
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise layer.fail(f"{key}={v!r}: a 1-D layer needs one value")
        v = v[0]
    return v


def _activation(layer: KerasLayer, key: str = "activation", default: str = "linear",
                valid: tuple | dict = tuple(ACTIVATIONS)) -> str:
    """The activation's name (Keras stores a name, or a serialised function), one of ``valid``."""
    value = layer.config.get(key, default)
    if isinstance(value, dict):  # {"class_name": "function", "config": "relu", ...}
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    return layer.check(key, "linear" if value is None else value, valid)


def _no_quantization(layer: KerasLayer) -> None:
    for key in ("lora_rank", "quantization_config"):
        if layer.config.get(key):
            raise layer.fail(f"{key}={layer.config[key]!r} is not supported; supported: None")


# ----------------------------------------------------------------------------- recurrent layers

#: Keras RNN class -> activation -> rnnkit cell (a GRU with reset_after=False takes gru_reset_before)
RNN_CELLS: dict[str, dict[str, str]] = {
    "SimpleRNN": {"tanh": "rnn", "relu": "rnn_relu"},
    "LSTM": {"tanh": "lstm"},
    "GRU": {"tanh": "gru"},
}
#: Keras gate blocks -> torch gate order (GRU: z, r, h -> r, z, n)
GATE_ORDER: dict[str, list[int]] = {"SimpleRNN": [0], "LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2]}


def _rnn_cell(layer: KerasLayer) -> tuple[str, bool]:
    """(rnnkit cell, use_bias) for a SimpleRNN / LSTM / GRU config, checking every option that matters."""
    for key in ("stateful", "return_state", "time_major"):
        layer.option(key, False, (False,))
    if layer.class_name not in RNN_CELLS:
        raise layer.fail(f"is not a recurrent layer rnnkit can run; supported: {', '.join(RNN_CELLS)}")
    cell = RNN_CELLS[layer.class_name][_activation(layer, "activation", "tanh", RNN_CELLS[layer.class_name])]
    if layer.class_name != "SimpleRNN":
        _activation(layer, "recurrent_activation", "sigmoid", ("sigmoid",))
    if layer.class_name == "GRU" and not layer.option("reset_after", True, (True, False)):
        cell = "gru_reset_before"
    use_bias = bool(layer.config.get("use_bias", True))
    return cell, use_bias


def _gates(a: np.ndarray, order: list[int]) -> np.ndarray:
    """Rows of ``a (G*H, ...)`` regrouped from Keras's gate order to torch's."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def _rnn_tensors(cls: str, weights: list[np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """Keras (kernel, recurrent_kernel[, bias]) -> one rnnkit cell's state dict under ``prefix``."""
    order = GATE_ORDER[cls]
    out = {f"{prefix}weight_ih": _gates(weights[0].T, order), f"{prefix}weight_hh": _gates(weights[1].T, order)}
    if len(weights) == 3:
        b = weights[2]
        b_ih, b_hh = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))  # reset_after GRU: (2, 3H)
        out[f"{prefix}bias_ih"], out[f"{prefix}bias_hh"] = _gates(b_ih, order), _gates(b_hh, order)
    return out


def convert_rnn(layer: KerasLayer) -> Converted:
    cell, bias = _rnn_cell(layer)
    layer.expect_weights(3 if bias else 2)
    c = layer.config
    args = {"cell": cell, "input_size": int(layer.weights[0].shape[0]), "units": int(c["units"]), "bias": bias,
            "go_backwards": bool(c.get("go_backwards", False)),
            "return_sequences": bool(c.get("return_sequences", False)),
            "zero_output_for_mask": bool(c.get("zero_output_for_mask", False))}
    return "recurrent", args, _rnn_tensors(layer.class_name, layer.weights, "stack.cells.0.")


#: Keras merge_mode -> Stack merge ("split" = None: the two outputs as a tuple, last layer only)
MERGE_MODES = {"concat": "concat", "sum": "sum", "mul": "mul", "ave": "mean", None: "split"}


def _sublayer(layer: KerasLayer, key: str, weights: list[np.ndarray]) -> KerasLayer:
    entry = layer.config[key]
    return KerasLayer(f"{layer.name}/{entry['config'].get('name', key)}", entry["class_name"], dict(entry["config"]),
                      weights, file=layer.file)


def convert_bidirectional(layer: KerasLayer) -> Converted:
    merge = MERGE_MODES[layer.option("merge_mode", "concat", tuple(MERGE_MODES))]
    if merge == "split" and not layer.is_last:
        raise layer.fail("merge_mode=None gives two outputs, which only the model's last layer may do; "
                         f"supported here: {', '.join(repr(m) for m in MERGE_MODES if m)}")
    half = len(layer.weights) // 2
    fwd = _sublayer(layer, "layer", layer.weights[:half])
    if "backward_layer" not in layer.config:  # older files: the backward layer is the mirrored copy
        layer.config["backward_layer"] = {**layer.config["layer"], "config": {
            **layer.config["layer"]["config"], "go_backwards": not layer.config["layer"]["config"].get("go_backwards")}}
    bwd = _sublayer(layer, "backward_layer", layer.weights[half:])
    (cell, bias), (bcell, bbias) = _rnn_cell(fwd), _rnn_cell(bwd)
    if (fwd.class_name, cell, bias, fwd.config.get("units")) != (bwd.class_name, bcell, bbias, bwd.config.get("units")):
        raise layer.fail("a backward_layer that differs from the forward layer is not supported; supported: "
                         "the same layer type, units and options in both directions")
    if fwd.config.get("go_backwards") or not bwd.config.get("go_backwards"):
        raise layer.fail("wrapping a layer with go_backwards=True is not supported; supported: go_backwards=False")
    fwd.expect_weights(3 if bias else 2)
    seq = bool(fwd.config.get("return_sequences", False))
    args = {"cell": cell, "input_size": int(fwd.weights[0].shape[0]), "units": int(fwd.config["units"]),
            "bias": bias, "bidirectional": True, "merge": merge, "return_sequences": seq, "zero_output_for_mask": seq}
    tensors = {**_rnn_tensors(fwd.class_name, fwd.weights, "stack.cells.0."),
               **_rnn_tensors(bwd.class_name, bwd.weights, "stack.cells.1.")}
    return "recurrent", args, tensors


# ----------------------------------------------------------------------------- the other layers

def convert_dense(layer: KerasLayer) -> Converted:
    _no_quantization(layer)
    bias = bool(layer.config.get("use_bias", True))
    layer.expect_weights(2 if bias else 1)
    kernel = layer.weights[0]  # (in, units)
    args = {"in_features": int(kernel.shape[0]), "units": int(kernel.shape[1]), "bias": bias,
            "activation": _activation(layer)}
    return "dense", args, {"linear.weight": kernel.T, **({"linear.bias": layer.weights[1]} if bias else {})}


def convert_time_distributed(layer: KerasLayer) -> Converted:
    inner = layer.config.get("layer", {})
    if inner.get("class_name") != "Dense":
        raise layer.fail(f"TimeDistributed({inner.get('class_name')}) is not supported; supported: "
                         "TimeDistributed(Dense)")
    return convert_dense(KerasLayer(layer.name, "TimeDistributed(Dense)", dict(inner["config"]), layer.weights,
                                    layer.is_last, layer.file))


def convert_embedding(layer: KerasLayer) -> Converted:
    _no_quantization(layer)
    layer.expect_weights(1)
    table = layer.weights[0]  # (vocab, dim)
    args = {"vocab_size": int(table.shape[0]), "dim": int(table.shape[1]),
            "mask_zero": bool(layer.config.get("mask_zero", False))}
    return "embedding", args, {"embedding.weight": table}


def convert_conv1d(layer: KerasLayer) -> Converted:
    layer.option("data_format", "channels_last", ("channels_last",))
    padding = layer.option("padding", "valid", ("valid", "same", "causal"))
    bias = bool(layer.config.get("use_bias", True))
    layer.expect_weights(2 if bias else 1)
    kernel = layer.weights[0]  # (k, in / groups, filters)
    groups = int(layer.config.get("groups", 1))
    args = {"in_channels": int(kernel.shape[1]) * groups, "filters": int(kernel.shape[2]),
            "kernel_size": int(kernel.shape[0]), "stride": int(_one(layer, "strides", 1)),
            "dilation": int(_one(layer, "dilation_rate", 1)), "groups": groups, "padding": padding, "bias": bias,
            "activation": _activation(layer)}
    tensors = {"conv.weight": kernel.transpose(2, 1, 0), **({"conv.bias": layer.weights[1]} if bias else {})}
    return "conv1d", args, tensors


def convert_pool1d(layer: KerasLayer) -> Converted:
    layer.option("data_format", "channels_last", ("channels_last",))
    pool = int(_one(layer, "pool_size", 2))
    stride = _one(layer, "strides", None)
    args = {"op": "max" if layer.class_name.startswith("Max") else "avg", "pool_size": pool,
            "stride": int(pool if stride is None else stride), "padding": layer.option("padding", "valid",
                                                                                      ("valid", "same"))}
    return "pool1d", args, {}


def convert_global_pool(layer: KerasLayer) -> Converted:
    layer.option("data_format", "channels_last", ("channels_last",))
    op = "max" if layer.class_name.startswith("GlobalMax") else "avg"
    return "global_pool", {"op": op, "keepdims": bool(layer.config.get("keepdims", False))}, {}


def convert_masking(layer: KerasLayer) -> Converted:
    return "masking", {"mask_value": float(layer.config.get("mask_value", 0.0))}, {}


def convert_activation(layer: KerasLayer) -> Converted:
    return "activation", {"activation": _activation(layer)}, {}


def convert_identity(layer: KerasLayer) -> Converted:
    return "identity", {}, {}


@dataclass(frozen=True)
class Converter:
    """How to convert one Keras class, and where a ``.keras`` file keeps its weights (under the
    layer's group; each path holds a ``vars`` group, read in order)."""

    convert: Callable[[KerasLayer], Converted]
    weight_paths: tuple[str, ...] = ("",)


_RNN = Converter(convert_rnn, ("cell",))
#: Keras class name -> converter (InputLayer is read as the model's input, not converted)
CONVERTERS: dict[str, Converter] = {
    "SimpleRNN": _RNN,
    "LSTM": _RNN,
    "GRU": _RNN,
    "Bidirectional": Converter(convert_bidirectional, ("forward_layer/cell", "backward_layer/cell")),
    "Embedding": Converter(convert_embedding),
    "Dense": Converter(convert_dense),
    "TimeDistributed": Converter(convert_time_distributed, ("layer",)),
    "Conv1D": Converter(convert_conv1d),
    "MaxPooling1D": Converter(convert_pool1d),
    "AveragePooling1D": Converter(convert_pool1d),
    "GlobalMaxPooling1D": Converter(convert_global_pool),
    "GlobalAveragePooling1D": Converter(convert_global_pool),
    "Masking": Converter(convert_masking),
    "Activation": Converter(convert_activation),
    "Dropout": Converter(convert_identity),
    "SpatialDropout1D": Converter(convert_identity),
    "GaussianNoise": Converter(convert_identity),
    "GaussianDropout": Converter(convert_identity),
    "AlphaDropout": Converter(convert_identity),
    "ActivityRegularization": Converter(convert_identity),
    "Identity": Converter(convert_identity),
}


def unsupported_layer(file: str, name: str, class_name: str) -> ModelImportError:
    return ModelImportError(f"{file}: layer {name!r} ({class_name}) is not supported; supported layers: "
                            f"{', '.join(sorted(CONVERTERS))}, InputLayer")


__all__ = ["CONVERTERS", "Converter", "KerasLayer", "MERGE_MODES", "RNN_CELLS", "unsupported_layer"]
