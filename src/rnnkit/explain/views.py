"""The five views of ``rnnkit explain``, each from a model directory (or data, for gradients) to
PNG figures, a JSON of the numbers and one self-contained HTML page in ``out``.

Each function returns an :class:`ExplainResult` (paths and a few summary lines the CLI prints);
the numbers come from the public functions of the package (``gradient_flow``, ``gate_traces``,
``interpretable_units``, ``classifier_saliency``, ...), which take a torch model or an estimator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.checkpoint import atomic_write_json
from rnnkit.errors import CheckpointError, ConfigError, DataError
from rnnkit.explain import plots
from rnnkit.explain.report import Section, coloured_text, table, write_html

log = logging.getLogger(__name__)

DEFAULT_TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
                "First Citizen:\nYou are all resolved rather to die than to famish? (All: \"Resolved.\")\n")


@dataclass
class ExplainResult:
    """Where a view wrote its files, and what the CLI shows."""

    html: Path
    images: list[Path]
    summary: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def _load(run: str | Path) -> Any:
    from rnnkit.tasks import load_run

    if not Path(run).is_dir():
        raise CheckpointError(f"{run}: no such model directory")
    return load_run(run)


def _out(run: str | Path | None, out: str | Path | None, default: str) -> Path:
    path = Path(out) if out is not None else (Path(run) / "explain" if run is not None else Path(default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _finish(out: Path, view: str, title: str, intro: str, sections: list[Section], data: dict[str, Any],
            summary: list[str]) -> ExplainResult:
    atomic_write_json(out / f"{view}.json", data)
    page = write_html(out / f"{view}.html", title, intro, sections)
    return ExplainResult(page, [p for s in sections for p in s.images], summary, data)


# --------------------------------------------------------------------------- gradients

def explain_gradients(data: str = "shakespeare", cells: tuple[str, ...] = ("rnn", "lstm", "gru", "mingru"),
                      out: str | Path | None = None, *, steps: int = 100, train_steps: int = 200,
                      hidden_size: int = 64, grad_clip: float | None = 1.0, chars: int = 300_000, seed: int = 0,
                      on_cell: Callable[[str, str], None] | None = None) -> ExplainResult:
    """Gradient flow of fresh and briefly trained character LMs of each cell on ``data``."""
    from rnnkit.cells import CELLS
    from rnnkit.data.charlm import load_corpus
    from rnnkit.explain.gradflow import compare_cells

    bad = [c for c in cells if c not in CELLS]
    if bad:
        raise ConfigError(f"unknown cell {bad[0]!r}; valid cells: {', '.join(CELLS)}")
    text = load_corpus(data).train[:chars]
    flows = compare_cells(text, list(cells), hidden_size=hidden_size, steps=steps, train_steps=train_steps,
                          grad_clip=grad_clip, seed=seed, on_cell=on_cell)
    o = _out(None, out, "runs/explain-gradients")
    png = plots.plot_gradient_flow(flows, o / "gradients.png")
    ks = [k for k in (1, 10, 25, 50, 100) if k <= steps]
    rows = [[f"{f.cell} {kind}", *(g.at(k) for k in ks)] for f in flows
            for kind, g in (("fresh", f.fresh), ("trained", f.trained)) if g is not None]
    clipped = {f.cell: int(sum(r.get("clipped", 0) > 0 for r in f.training)) for f in flows}
    text_ = ("Each curve is the norm of the gradient of the loss at the last step with respect to the hidden "
             "state k steps earlier (mean over a batch of windows; band: 25-75% quantiles). A straight falling "
             "line on this log scale is a vanishing gradient: the plain RNN's loss cannot hear far back. Curves "
             "that stay up (LSTM, GRU after training) carry information across many steps. The right panel is "
             "the global gradient norm of every training step; x marks steps where clipping fired.")
    sec = Section("Gradient flow", text_, [png], table(["model", *(f"k={k}" for k in ks)], rows)
                  + "<p>steps clipped during training: " + ", ".join(f"{c}: {n}" for c, n in clipped.items()) + "</p>")
    summary = [f"{r[0]:>16}: " + "  ".join(f"k={k} {v:.2e}" for k, v in zip(ks, r[1:])) for r in rows]
    return _finish(o, "gradients", "Gradient flow through time", f"data: {data}, {len(text)} characters; "
                   f"one-layer char LMs, hidden {hidden_size}; windows of {steps}; {train_steps} training steps",
                   [sec], {"data": data, "flows": [f.to_dict() for f in flows]}, summary)


# --------------------------------------------------------------------------- gates and neurons

def explain_gates(run: str | Path, text: str, out: str | Path | None = None, units: int = 16) -> ExplainResult:
    """Gate and state activations of a language model over ``text``, one heat map per layer."""
    from rnnkit.explain.neurons import gate_traces

    model = _load(run)
    tr = gate_traces(model, text)
    o = _out(run, out, "")
    layers = sorted({lay for lay, _ in tr.values})
    sections = []
    for lay in layers:
        vals = {n: tr.values[(lay, n)] for n in tr.names(lay)}
        png = plots.plot_gates(tr.chars, vals, o / f"gates-layer{lay}.png", units,
                               f"{tr.cell}, layer {lay}: first {units} units")
        means = [[n, float(v.mean()), float((v > 0.9).mean()) if n not in ("h", "c") else float("nan")]
                 for n, v in vals.items()]
        sections.append(Section(f"Layer {lay}", "Rows are units, columns the characters of the text. Gates lie in "
                                "[0, 1]: a forget gate near 1 keeps the cell state, an input gate near 0 ignores the "
                                "character; h and c are signed (red +, blue -).", [png],
                                table(["gate / state", "mean", "share > 0.9"], means)))
    data = {"cell": tr.cell, "text": text, "values": {f"{lay}:{n}": v.tolist() for (lay, n), v in tr.values.items()}}
    return _finish(o, "gates", f"Gates of {Path(run).name}", f"cell {tr.cell}; text of {len(tr.chars)} characters",
                   sections, data, [f"cell {tr.cell}, {len(layers)} layer(s), {len(tr.chars)} characters"])


def explain_neurons(run: str | Path, text: str | None = None, out: str | Path | None = None,
                    top: int = 8) -> ExplainResult:
    """The units that track a feature of the text (quotes, parentheses, line position, ...)."""
    from rnnkit.explain.neurons import interpretable_units

    model = _load(run)
    text = text or _sample_text(model)
    units, tr, feats = interpretable_units(model, text, top)
    o = _out(run, out, "")
    series = [(f"{u.name} ~ {u.feature} (r={u.r:+.2f})", tr.values[(u.layer, u.field)][:, u.index]) for u in units]
    png = plots.plot_units(tr.chars, series, o / "neurons.png")
    raw = table(["unit", "feature", "r"], [[u.name, u.feature, u.r] for u in units])
    for (name, v) in series[:4]:
        raw += f"<h3>{name}</h3>" + coloured_text(tr.chars, v)
    sec = Section("Interpretable units", "Each unit's activation over the text is correlated (Pearson r) with "
                  "simple features of the characters; the units with the largest |r| are listed with the feature "
                  "they follow best. The coloured text shows the activation under each character (red +, blue -).",
                  [png], raw)
    data = {"units": [u.__dict__ for u in units], "features": list(feats)}
    summary = [f"{u.name:>18}  {u.feature:<20} r={u.r:+.3f}" for u in units]
    return _finish(o, "neurons", f"Interpretable units of {Path(run).name}",
                   f"cell {tr.cell}; text of {len(tr.chars)} characters", [sec], data, summary)


def _sample_text(model: Any) -> str:
    """A default text the model can read: the Shakespeare excerpt if its characters are known, else
    the model's own generated text."""
    stoi = getattr(model.tokenizer, "stoi", {})
    if all(c in stoi for c in DEFAULT_TEXT):
        return DEFAULT_TEXT * 3
    return "".join(model.generate("", length=600, seed=0, temperature=0.8))


# --------------------------------------------------------------------------- attention and saliency

def _classifier_input(model: Any, text: str) -> tuple[torch.Tensor, list[str]]:
    """One example encoded as the model was trained, with a label per step."""
    from rnnkit.data.sequences import InputEncoder

    arts, cfg = model.artifacts, model.run_config
    enc = InputEncoder.from_artifacts(arts, arts["labels.json"], cfg.data.max_len)
    if enc.kind == "text":
        seq = enc.encode([text], ["--input"])[0]
        labels = enc.vocab.tokens(text)[: len(seq)]
        return torch.tensor(seq, dtype=torch.long), labels
    if enc.kind == "tokens":
        raise ConfigError("this model reads token ids; explain it from Python (rnnkit.explain.saliency)")
    try:
        rows = [[float(v) for v in row.replace(",", " ").split()] for row in text.split(";") if row.strip()]
        arr = np.array(rows, dtype=np.float32)
    except ValueError:
        raise DataError("--input: this model reads numeric series; give numbers such as '0.1, 0.5, 0.3' "
                        "(steps separated by commas, features by ';'-separated rows)") from None
    arr = arr.T if arr.shape[0] == enc.input_size and arr.shape[0] != arr.shape[1] else arr.reshape(-1, enc.input_size)
    seq = enc.encode([arr], ["--input"])[0]
    return torch.as_tensor(np.asarray(seq), dtype=torch.float32), [str(t) for t in range(len(seq))]


def _class_name(model: Any, index: int) -> str:
    names = model.artifacts.get("labels.json", {}).get("names") or []
    return str(names[index]) if index < len(names) else str(index)


def explain_attention(run: str | Path, text: str, out: str | Path | None = None) -> ExplainResult:
    """Attention pooling weights of a classifier, or a seq2seq model's alignment, for one input."""
    from rnnkit.evaluation.plots import plot_alignment_matrix
    from rnnkit.explain.attention import classifier_attention, seq2seq_alignment

    model = _load(run)
    o = _out(run, out, "")
    task = model.run_config.task
    if task == "seq2seq":
        w, src, outs = seq2seq_alignment(model, text)
        png = plot_alignment_matrix(w, src, outs, o / "attention.png", title="alignment")
        sec = Section("Alignment", "Row i is the attention distribution of output token i over the source tokens "
                      "(each row sums to 1); a diagonal band is a monotone alignment.", [png])
        return _finish(o, "attention", f"Attention of {Path(run).name}", f"input: {text!r}", [sec],
                       {"source": src, "output": outs, "weights": w.tolist()},
                       [f"output: {' '.join(outs[:-1] if outs[-1:] == ['<eos>'] else outs)}",
                        f"{len(outs)} x {len(src)} alignment"])
    if task != "classify":
        raise ConfigError(f"attention views read classify (pooling=attention) and seq2seq runs; this is a {task} run")
    x, labels = _classifier_input(model, text)
    w, labels, pred = classifier_attention(model, x, labels)
    title = f"attention pooling (predicted: {_class_name(model, pred)})"
    png = plots.plot_weights(labels, w, o / "attention.png", title)
    top = np.argsort(-w)[:5]
    sec = Section("Attention pooling", "The classifier's summary is the weighted sum of its recurrent outputs; "
                  "the bars are the weights (they sum to 1). High bars are the steps the decision reads most.", [png],
                  table(["step", "token", "weight"], [[int(t), labels[t], float(w[t])] for t in top]))
    return _finish(o, "attention", f"Attention of {Path(run).name}", f"input: {text!r}", [sec],
                   {"labels": labels, "weights": w.tolist(), "predicted": _class_name(model, pred)},
                   [f"predicted {_class_name(model, pred)}; top steps: "
                    + ", ".join(f"{labels[t]!r} {w[t]:.2f}" for t in top)])


def explain_saliency(run: str | Path, text: str | None = None, out: str | Path | None = None,
                     target: str | None = None, steps: int = 32, horizon_step: int | None = None) -> ExplainResult:
    """Integrated gradients (and occlusion) of a classifier's class logit or a forecaster's forecast."""
    from rnnkit.explain.saliency import classifier_saliency

    model = _load(run)
    o = _out(run, out, "")
    task = model.run_config.task
    if task == "forecast":
        attr, context = _forecast_saliency(model, steps, horizon_step)
        png = plots.plot_series_saliency(context, attr.per_step, o / "saliency.png", attr.target)
    elif task == "classify":
        if not text:
            raise DataError("--input is required for a classifier (the text or series to explain)")
        x, labels = _classifier_input(model, text)
        names = model.artifacts.get("labels.json", {}).get("names") or []
        t = None if target is None else (names.index(target) if target in names else _bad_target(target, names))
        attr = classifier_saliency(model, x, t, labels, steps)
        attr.target += f" ({_class_name(model, int(attr.target.split()[-1]))})"
        png = plots.plot_weights(attr.labels, attr.per_step, o / "saliency.png",
                                 f"integrated gradients: {attr.target}", attr.occlusion, "attribution")
    else:
        raise ConfigError(f"saliency reads classify and forecast runs; this is a {task} run")
    err = attr.completeness_error
    sec = Section("Integrated gradients", "Each bar is a step's share of f(input) - f(baseline) (red pushes the "
                  "output up, blue down); the bars sum to that difference (completeness). The black line is "
                  "occlusion: the output's drop when that step alone is replaced by the baseline.", [png],
                  table(["f(input)", "f(baseline)", "sum of attributions", "completeness error", "nodes"],
                        [[attr.output, attr.baseline_output, float(attr.per_step.sum()), err, attr.steps]]))
    summary = [f"{attr.target}: f(x) = {attr.output:.4f}, f(baseline) = {attr.baseline_output:.4f}",
               f"sum of attributions {attr.per_step.sum():.4f} (completeness error {100 * err:.2f}%, "
               f"{attr.steps} nodes)"]
    if err > 0.01:
        log.warning("integrated gradients: completeness error %.1f%% after %d nodes", 100 * err, attr.steps)
    return _finish(o, "saliency", f"Saliency of {Path(run).name}", attr.target, [sec], attr.to_dict(), summary)


def _bad_target(target: str, names: list[str]) -> int:
    raise DataError(f"--target {target!r} is not a class of this model; classes: {', '.join(names)}")


def _forecast_saliency(model: Any, steps: int, horizon_step: int | None) -> tuple[Any, np.ndarray]:
    """Attribution of the forecast from the last full window before the held-out tail (series 0)."""
    from rnnkit.apps.forecast import SCALER_FILE
    from rnnkit.data.forecast_bundle import prepare
    from rnnkit.explain.saliency import forecaster_saliency

    cfg = model.run_config
    if horizon_step is not None and not 1 <= horizon_step <= cfg.data.horizon:
        raise ConfigError(f"--horizon-step must lie in 1..{cfg.data.horizon}")
    bundle = prepare(cfg.data, extra=cfg.data.horizon, scalers=model.artifacts[SCALER_FILE])
    origin = int(bundle.test_origins[0])
    batch = bundle.windows.batch(np.array([origin]), np.array([0]), with_target=False)
    attr = forecaster_saliency(model, batch, horizon_step, steps)
    return attr, batch["x"][0, :, 0].numpy()


__all__ = ["ExplainResult", "explain_attention", "explain_gates", "explain_gradients", "explain_neurons",
           "explain_saliency"]
