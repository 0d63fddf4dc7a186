"""Per model type: the graphs to export (``GRAPHS[task](model) -> [GraphSpec]``, see ``graphs.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.graphs import GraphSpec, _lengths, _sequence_input, _state_names


# ---------------------------------------------------------------------------- language models
class _LMSequence(nn.Module):
    """tokens (B, T), *state (L, B, H) -> logits (B, T, V), *state'."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        kind = self.model.rnn.cells[0].state_type
        logits, new = self.model(tokens, kind(*state))
        return (logits, *new)


class _LMStep(_LMSequence):
    """token (B, 1), *state -> logits (B, V), *state': the generation step."""

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, *new = super().forward(tokens, *state)
        return (logits[:, -1], *new)


def _lm_graphs(model: nn.Module) -> list[GraphSpec]:
    fields = _state_names(model.rnn)
    V = model.vocab_size

    def state(B: int) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(B)
        n = model.rnn.num_layers * model.rnn.num_directions
        return tuple(torch.randn(n, B, model.rnn.hidden_size, generator=g) * 0.5 for _ in fields)

    def seq(B: int, T: int) -> tuple[Tensor, ...]:
        return (torch.randint(1, V, (B, T), generator=torch.Generator().manual_seed(T)), *state(B))

    def step(B: int, T: int) -> tuple[Tensor, ...]:
        return seq(B, 1)

    state_axes = {f: {1: "batch"} for f in fields}
    outs = ["logits", *(f + "_out" for f in fields)]
    return [
        GraphSpec("model", _LMSequence(model), ["tokens", *fields], outs,
                  {"tokens": {0: "batch", 1: "time"}, **state_axes}, seq, {"state": fields}),
        GraphSpec("step", _LMStep(model), ["tokens", *fields], outs, {"tokens": {0: "batch"}, **state_axes},
                  step, {"state": fields}),
    ]


# ---------------------------------------------------------------------------- classify / regress
class _Encoded(nn.Module):
    """x, lengths -> the model's main outputs (classifier: logits, probs; regressor: pred)."""

    def __init__(self, model: nn.Module, classify: bool) -> None:
        super().__init__()
        self.model, self.classify = model, classify

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        out = self.model(x, lengths)
        if self.classify:
            return out.logits, torch.softmax(out.logits, -1)
        return (out.pred,)


def _encoder_graphs(model: nn.Module, classify: bool) -> list[GraphSpec]:
    features = model.stack.input_size if model.frontend is None else _first_in_channels(model.frontend)
    make_x = _sequence_input(model.embedding, features)

    def example(B: int, T: int) -> tuple[Tensor, ...]:
        return make_x(B, T), _lengths(B, T)

    x_axes = {0: "batch", 1: "time"}
    outputs = ["logits", "probs"] if classify else ["pred"]
    meta = {"input": "tokens" if model.embedding is not None else "features"}
    return [GraphSpec("model", _Encoded(model, classify), ["x", "lengths"], outputs,
                      {"x": x_axes, "lengths": {0: "batch"}}, example, meta)]


def _first_in_channels(module: nn.Module) -> int:
    conv = next(m for m in module.modules() if isinstance(m, nn.Conv1d))
    return conv.in_channels


# ---------------------------------------------------------------------------- forecast
class _Forecast(nn.Module):
    """x (B, C, n_in), xf (B, H, n_known), sid (B,) -> mean (B, H)[, lower, upper] (scaled)."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, x: Tensor, xf: Tensor, sid: Tensor) -> tuple[Tensor, ...]:
        out = self.model.predict({"x": x, "xf": xf, "sid": sid})
        return tuple(out[n] for n in self.names)


def _forecast_graphs(model: nn.Module) -> list[GraphSpec]:
    net = model.nets[0]
    n_in = net.encoder.input_size - (net.embed.embedding_dim if net.embed is not None else 0)
    n_known = net.known_head.in_features if net.known_head is not None else 0
    n_series = net.embed.num_embeddings if net.embed is not None else 1
    keys = ["mean"] if model.interval_level is None else ["mean", "lower", "upper"]

    def example(B: int, T: int) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(B + T)
        T = max(T, model.context)  # a seasonal model reads at least its context
        return (torch.randn(B, T, n_in, generator=g), torch.randn(B, model.horizon, n_known, generator=g),
                torch.randint(0, n_series, (B,), generator=g))

    axes = {"x": {0: "batch", 1: "time"}, "xf": {0: "batch"}, "sid": {0: "batch"}}
    meta = {"horizon": model.horizon, "context": model.context, "n_in": n_in, "n_known": n_known}
    names = [f"forecast_{k}" for k in keys]  # a bare "mean" clashes with the graph's own value names
    return [GraphSpec("model", _Forecast(model, keys), ["x", "xf", "sid"], names, axes, example, meta)]


# ---------------------------------------------------------------------------- seq2seq
class _S2SEncoder(nn.Module):
    """src (B, S), src_len (B,) -> keys, mask, [projected], summary, *state (L, B, H), feed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, ...]:
        memory, states, feed = self.model.encode(src, src_len)
        fields = [torch.stack([s[i] for s in states]) for i in range(len(states[0]))]  # (L, B, H)
        mem = [memory.keys, memory.mask] + ([memory.projected] if memory.projected is not None else [])
        return (*mem, memory.summary, *fields, feed)


class _S2SStep(nn.Module):
    """y_prev (B,), *state, feed, keys, mask, [projected], summary -> logits (B, V), *state', feed'."""

    def __init__(self, model: nn.Module, n_fields: int, projected: bool) -> None:
        super().__init__()
        self.model, self.n_fields, self.projected = model, n_fields, projected

    def forward(self, y_prev: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        from rnnkit.models.seq2seq import Memory

        k = self.n_fields
        fields, feed, mem = rest[:k], rest[k], list(rest[k + 1:])
        keys, mask = mem[0], mem[1]
        projected = mem[2] if self.projected else None
        memory = Memory(keys, mask, projected, mem[-1])
        kind = self.model.encoder.cells[0].state_type
        states = [kind(*(f[i] for f in fields)) for i in range(fields[0].shape[0])]
        logits, new, feed, _ = self.model.step(y_prev, states, feed, memory)
        return (logits, *(torch.stack([s[i] for s in new]) for i in range(k)), feed)


def _seq2seq_graphs(model: nn.Module) -> list[GraphSpec]:
    fields = _state_names(model.encoder)
    V_src = model.src_embed.num_embeddings
    with torch.no_grad():
        probe = _S2SEncoder(model).eval()(torch.ones(1, 2, dtype=torch.long), torch.tensor([2]))
    projected = len(probe) == 5 + len(fields)
    mem_names = ["keys", "mask", *(["projected"] if projected else []), "summary"]

    def enc_example(B: int, T: int) -> tuple[Tensor, ...]:
        return torch.randint(4, V_src, (B, T), generator=torch.Generator().manual_seed(T)), _lengths(B, T)

    def step_example(B: int, T: int) -> tuple[Tensor, ...]:
        with torch.no_grad():
            out = _S2SEncoder(model).eval()(*enc_example(B, T))
        mem, st, feed = out[:len(mem_names)], out[len(mem_names):-1], out[-1]
        y = torch.randint(4, model.out.out_features, (B,), generator=torch.Generator().manual_seed(B))
        return (y, *st, feed, *mem)

    enc_axes = {"src": {0: "batch", 1: "source"}, "src_len": {0: "batch"}}
    step_in = ["y_prev", *fields, "feed", *mem_names]
    step_axes: dict[str, dict[int, str]] = {"y_prev": {0: "batch"}, "feed": {0: "batch"}, "summary": {0: "batch"}}
    step_axes.update({f: {1: "batch"} for f in fields})
    step_axes.update({n: {0: "batch", 1: "source"} for n in mem_names if n != "summary"})
    meta = {"state": fields, "memory": mem_names}
    return [
        GraphSpec("encoder", _S2SEncoder(model), ["src", "src_len"], [*mem_names, *fields, "feed"], enc_axes,
                  enc_example, meta),
        GraphSpec("decoder_step", _S2SStep(model, len(fields), projected), step_in,
                  ["logits", *(f + "_out" for f in fields), "feed_out"], step_axes, step_example, meta),
    ]


# ---------------------------------------------------------------------------- keras
class _Keras(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        y = self.model(x)
        return tuple(y) if isinstance(y, tuple) else (y,)


def _keras_graphs(model: nn.Module) -> list[GraphSpec]:
    shape = (model.spec.get("input") or {}).get("shape") or []
    layer0 = model.layers[0]
    emb = next((m for m in layer0.modules() if isinstance(m, nn.Embedding)), None) if model.takes_ids else None
    F = int(shape[-1]) if shape and shape[-1] else getattr(getattr(layer0, "stack", None), "input_size", 1)
    make_x = _sequence_input(emb, F)
    n_out = 2 if model.spec["layers"][-1]["args"].get("merge") == "split" else 1
    outputs = ["y"] if n_out == 1 else ["y_forward", "y_backward"]
    return [GraphSpec("model", _Keras(model), ["x"], outputs, {"x": {0: "batch", 1: "time"}},
                      lambda B, T: (make_x(B, T),), {"input": "tokens" if emb is not None else "features"})]


#: task -> the graphs of its model
GRAPHS: dict[str, Callable[[Any], list[GraphSpec]]] = {
    "charlm": _lm_graphs,
    "nextelement": _lm_graphs,
    "classify": lambda m: _encoder_graphs(m, True),
    "regress": lambda m: _encoder_graphs(m, False),
    "forecast": _forecast_graphs,
    "seq2seq": _seq2seq_graphs,
    "keras": _keras_graphs,
}

__all__ = ["GRAPHS"]
