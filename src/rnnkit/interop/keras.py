"""Read a trained Keras model file into an rnnkit :class:`~rnnkit.models.sequential.SequentialNet`.

``load_keras(path)`` returns the model; ``import_keras(path, out_dir)`` writes it as an rnnkit model
directory (``config.json`` with ``"task": "keras"``, ``layers.json``, ``model.safetensors``) that
``rnnkit.tasks.load_run`` reads. Files are read with zipfile + json + h5py; Keras itself is never imported:

* Keras 3 ``.keras``: a zip with ``config.json`` (the model config) and ``model.weights.h5``, where a
  layer's weights sit under ``layers/<snake_case class>[_n]/[cell|forward_layer/cell|layer/]vars/<i>``
  (the ``vars`` group carries the layer's name, which is how layers are matched when present).
* legacy ``.h5`` (Keras 2, or Keras 3's ``model.save("x.h5")``): the ``model_config`` attribute and
  ``model_weights/<layer name>`` groups listing their arrays in the ``weight_names`` attribute.

Sequential models and functional models that are a single chain of single-input layers are
supported; the layers are those of :data:`rnnkit.interop.keras_layers.CONVERTERS` (docs/keras-import.md).
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit import checkpoint as ckpt
from rnnkit.config import RunConfig, TrainConfig
from rnnkit.errors import ModelImportError
from rnnkit.interop.keras_layers import CONVERTERS, KerasLayer, unsupported_layer
from rnnkit.models.sequential import SPEC_FORMAT_VERSION, SequentialNet

log = logging.getLogger(__name__)

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: reads one layer's weight arrays: (layer name, class name, paths under its group) -> arrays
WeightReader = Callable[[str, str, tuple[str, ...]], list[np.ndarray]]


@dataclass(frozen=True)
class KerasSourceConfig:
    """``[data]`` of an imported model: the file it came from (``source``, by the tasks' convention)."""

    source: str = ""


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise ModelImportError("reading Keras files needs h5py: pip install rnnkit[keras]") from None
    return h5py


def _text(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: how a ``.keras`` file names a layer's weight group."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ----------------------------------------------------------------------------- reading files

@dataclass
class KerasFile:
    """Everything read from a Keras file: the model config, every HDF5 array by path and every
    group's attributes by path (read eagerly, so no file stays open while converting)."""

    config: dict
    arrays: dict[str, np.ndarray]
    attrs: dict[str, dict]
    version: str
    legacy: bool


def _h5_contents(h5: Any) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    arrays: dict[str, np.ndarray] = {}
    attrs: dict[str, dict] = {"": dict(h5.attrs)}

    def visit(name: str, obj: Any) -> None:
        if hasattr(obj, "shape"):  # a dataset
            arrays[name] = np.asarray(obj)
        else:
            attrs[name] = dict(obj.attrs)
    h5.visititems(visit)
    return arrays, attrs


def _read_archive(path: Path, h5py: Any) -> KerasFile:
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        if "config.json" not in names or "model.weights.h5" not in names:
            raise ModelImportError(f"{path}: a zip file but not a Keras 3 model archive (no config.json and "
                                   "model.weights.h5; sharded weights are not supported)")
        config = json.loads(z.read("config.json"))
        meta = json.loads(z.read("metadata.json")) if "metadata.json" in names else {}
        with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as h5:
            arrays, attrs = _h5_contents(h5)
    return KerasFile(config, arrays, attrs, str(meta.get("keras_version", "3")), legacy=False)


def _read_legacy(path: Path, h5py: Any) -> KerasFile:
    with h5py.File(path, "r") as h5:
        if "model_config" not in h5.attrs or "model_weights" not in h5:
            raise ModelImportError(f"{path}: an HDF5 file without a model config (a weights-only file?); save the "
                                   "whole model with model.save('model.keras')")
        arrays, attrs = _h5_contents(h5["model_weights"])
        config = json.loads(_text(h5.attrs["model_config"]))
        return KerasFile(config, arrays, attrs, _text(h5.attrs.get("keras_version", "2")), legacy=True)


def read_keras_file(path: str | Path) -> KerasFile:
    """Read a ``.keras`` archive or a legacy ``.h5`` model; anything else is a ModelImportError."""
    path, h5py = Path(path), _h5py()
    if not path.is_file():
        raise ModelImportError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        if zipfile.is_zipfile(path):
            return _read_archive(path, h5py)
        if head == _HDF5_SIGNATURE:
            return _read_legacy(path, h5py)
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError, KeyError) as e:
        raise ModelImportError(f"{path}: corrupt or unreadable Keras file ({type(e).__name__}: {e})") from None
    raise ModelImportError(f"{path}: not a Keras model file (expected a .keras zip archive or a legacy .h5 file)")


def _v3_reader(f: KerasFile, entries: list[dict]) -> WeightReader:
    """Weights of a ``.keras`` archive: the group under ``layers/`` whose ``vars`` carry the layer's
    name, else Keras's own path (snake-cased class names numbered in layer order)."""
    groups = {p.split("/")[1] for p in f.attrs if p.startswith("layers/") and p.count("/") == 1}
    by_name = {_text(f.attrs[f"layers/{g}/vars"]["name"]): g for g in groups
               if "name" in f.attrs.get(f"layers/{g}/vars", {})}
    used: dict[str, int] = {}
    by_order = {}
    for e in entries:
        base = _snake_case(e["class_name"])
        used[base] = used.get(base, -1) + 1
        by_order[_layer_name(e)] = base if used[base] == 0 else f"{base}_{used[base]}"

    def read(name: str, class_name: str, paths: tuple[str, ...]) -> list[np.ndarray]:
        group = by_name.get(name) or by_order.get(name)
        out = []
        for p in paths:
            prefix = f"layers/{group}/{p + '/' if p else ''}vars/"
            keys = [k for k in f.arrays if k.startswith(prefix) and k[len(prefix):].isdigit()]
            out += [f.arrays[k] for k in sorted(keys, key=lambda k: int(k[len(prefix):]))]
        return out
    return read


def _legacy_reader(f: KerasFile) -> WeightReader:
    def read(name: str, class_name: str, paths: tuple[str, ...]) -> list[np.ndarray]:
        names = f.attrs.get(name, {}).get("weight_names", [])
        return [f.arrays[f"{name}/{_text(w)}"] for w in names]
    return read


# ----------------------------------------------------------------------------- the layer chain

def _layer_name(entry: dict) -> str:
    return str(entry.get("name") or entry.get("config", {}).get("name"))


def _inputs_of(entry: dict) -> tuple[int, list[str]]:
    """(number of calls, names of the layers whose outputs feed them) from ``inbound_nodes``.

    A ``mask`` keyword is not an input: Keras 3 records the mask it propagates by itself that way
    (through ``NotEqual`` / ``Any`` ops after a Masking layer), and the converted layers propagate
    masks exactly as Keras does."""
    nodes, names = entry.get("inbound_nodes") or [], []

    def walk(obj: Any) -> None:  # Keras 3: {"args": [{"config": {"keras_history": [name, 0, 0]}}], ...}
        if isinstance(obj, dict):
            hist = obj.get("config", {}).get("keras_history") if isinstance(obj.get("config"), dict) else None
            if hist:
                names.append(hist[0])
            else:
                for v in obj.values():
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
    for node in nodes:
        if isinstance(node, dict):
            walk([node.get("args", []), {k: v for k, v in node.get("kwargs", {}).items() if k != "mask"}])
        else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names += [e[0] for e in node]
    return len(nodes), names


def _refs(v: Any) -> list[str]:
    """``input_layers`` / ``output_layers``: ``[name, 0, 0]`` or a list of those."""
    return [v[0]] if v and isinstance(v[0], str) else [r[0] for r in v or []]


def _functional_chain(cfg: dict, where: str) -> list[dict]:
    """The layers from the input to the output of a functional model, which must be one chain."""
    layers = {_layer_name(e): e for e in cfg["layers"]}
    ins, outs = _refs(cfg.get("input_layers")), _refs(cfg.get("output_layers"))
    if len(ins) != 1 or len(outs) != 1:
        raise ModelImportError(f"{where}: the model has {len(ins)} inputs and {len(outs)} outputs; supported: "
                               "one input and one output (a linear chain of layers)")
    chain, name = [], outs[0]
    while name != ins[0]:
        e = layers[name]
        if e["class_name"] not in CONVERTERS:
            raise unsupported_layer(where, name, e["class_name"])
        calls, parents = _inputs_of(e)
        if calls != 1 or len(parents) != 1:
            raise ModelImportError(f"{where}: layer {name!r} ({e['class_name']}) is called {calls} time(s) on "
                                   f"{len(parents)} input(s); supported: a linear chain where every layer takes "
                                   "the single output of the previous one")
        chain.append(e)
        name = parents[0]
    return [layers[ins[0]], *reversed(chain)]


def _chain(model: dict, where: str) -> list[dict]:
    cls, cfg = model.get("class_name"), model.get("config")
    if cls == "Sequential":
        return cfg["layers"] if isinstance(cfg, dict) else cfg
    if cls in ("Functional", "Model"):
        return _functional_chain(cfg, where)
    raise ModelImportError(f"{where}: model class {cls!r} is not supported; supported: Sequential and functional "
                           "models (a subclassed model keeps no layer graph in the file)")


def _input_shape(entries: list[dict]) -> list | None:
    for e in entries:
        c = e.get("config", {})
        shape = c.get("batch_shape") or c.get("batch_input_shape") or e.get("build_config", {}).get("input_shape")
        if shape:
            return list(shape)
    return None


# ----------------------------------------------------------------------------- conversion

def _convert(entries: list[dict], read: WeightReader, where: str) -> tuple[list[dict], dict[str, torch.Tensor]]:
    """Layer specs for SequentialNet and its state dict."""
    specs, state = [], {}
    for i, entry in enumerate(entries):
        name, cls = _layer_name(entry), entry["class_name"]
        if cls not in CONVERTERS:
            raise unsupported_layer(where, name, cls)
        conv = CONVERTERS[cls]
        layer = KerasLayer(name, cls, dict(entry.get("config", {})), read(name, cls, conv.weight_paths),
                           i == len(entries) - 1, where)
        try:
            kind, args, tensors = conv.convert(layer)
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
            if isinstance(e, ModelImportError):
                raise
            raise ModelImportError(f"{where}: layer {name!r} ({cls}): unexpected config or weights "
                                   f"({type(e).__name__}: {e})") from e
        specs.append({"name": name, "keras_class": cls, "kind": kind, "args": args})
        state.update({f"layers.{i}.{k}": torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    return specs, state


def load_keras(path: str | Path) -> SequentialNet:
    """The Keras model in ``path`` (``.keras`` or legacy ``.h5``) as a SequentialNet in eval mode."""
    path = Path(path)
    where, f = str(path), read_keras_file(path)
    try:
        entries = _chain(f.config, where)
        layers = [e for e in entries if e["class_name"] != "InputLayer"]
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        raise ModelImportError(f"{where}: unexpected model config ({type(e).__name__}: {e})") from e
    if not layers:
        raise ModelImportError(f"{where}: the model has no layers")
    read = _legacy_reader(f) if f.legacy else _v3_reader(f, layers if f.config.get("class_name") == "Sequential"
                                                          else entries)
    specs, state = _convert(layers, read, where)
    cfg = f.config.get("config")
    spec = {"format_version": SPEC_FORMAT_VERSION, "name": str(cfg.get("name", "") if isinstance(cfg, dict) else ""),
            "input": {"shape": _input_shape(entries)}, "layers": specs,
            "source": {"framework": "keras", "version": f.version, "file": path.name}}
    net = SequentialNet(spec)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelImportError(f"{where}: the weights do not fit the layers ({e})") from None
    log.info("imported %s: %d layers", where, len(specs))
    return net.eval()


def import_keras(path: str | Path, out_dir: str | Path) -> Path:
    """Convert ``path`` and write an rnnkit model directory to ``out_dir`` (each file atomically)."""
    out = Path(out_dir)
    if (out / ckpt.CONFIG_FILE).is_file() and ckpt.read_config(out).get("task") != "keras":
        raise ModelImportError(f"{out} already holds a {ckpt.read_config(out).get('task')!r} run; choose another "
                               "--out")
    net = load_keras(path)
    cfg = RunConfig("keras", net.config, KerasSourceConfig(str(path)), TrainConfig())
    ckpt.save_model_dir(out, net, cfg.to_dict(), {"layers.json": net.to_dict()})
    log.info("wrote %s", out)
    return out


__all__ = ["KerasSourceConfig", "import_keras", "load_keras"]
