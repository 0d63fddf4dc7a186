"""Language-model speed: char-LM training throughput per cell and per-token generation latency,
each beside the bare PyTorch model written plainly (``rnnkit bench train`` / ``rnnkit bench generate``).

Same discipline as ``rnnkit.bench``: one process times every candidate, repetitions are
interleaved (rep 1 of all, rep 2 of all, ...), one warm-up repetition is not recorded, and each
ratio is the median of the per-repetition paired ratios with its interquartile range
(``bench.paired``), so load that drifts between repetitions cancels. An "again" row times the
first bare model a second time in every repetition: its ratio to itself is the run's noise.

- Training: tokens/s of a training step (forward, cross-entropy, backward, gradient clipping,
  Adam step; state carried and detached between windows as TBPTT does) at the default char-LM
  recipe's shape, for ``CharLM`` with each cell and for Embedding + nn.LSTM / nn.GRU + Linear.
  Both run the same loop (``train_steps``), so the ratio is the model's, not the loop's
  (``fit()``'s own overhead over a bare loop is measured in docs/benchmarks.md, issue 3).
- Generation: seconds per token of one step (embedding, recurrent stack, output layer; sampling
  is excluded as it is the same for all) at batch 1: ``CharLM.step`` through the no-grad
  single-step path (``layers/step.py``), the same model through a T=1 Stack forward (how
  generation stepped before), and torch eager stepping of Embedding + nn.LSTM / nn.GRU + Linear,
  as written (the reference) and with oneDNN switched off (torch's ATen kernel: on CPU, torch
  sends an LSTM call to oneDNN, whose per-call setup is most of a one-token step).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.bench import Ratio, paired
from rnnkit.config import load_recipe
from rnnkit.models.charlm import CharLM, CharLMConfig

Progress = Callable[[str, int, int], None]  # (what, done, total)
#: the cells of the training table, each with the bare torch module it is set beside
TRAIN_CELLS: dict[str, str] = {"lstm": "lstm", "gru": "gru", "layernorm_lstm": "lstm", "mingru": "gru"}
_BARE: dict[str, tuple[str, type[nn.Module]]] = {"lstm": ("nn.LSTM", nn.LSTM), "gru": ("nn.GRU", nn.GRU)}
#: symbols of the Shakespeare character tokenizer the char-LM recipe trains on
CHARLM_VOCAB = 77
AGAIN = " again"


class BareLM(nn.Module):
    """Embedding -> nn.LSTM / nn.GRU -> Linear, the plain PyTorch char-LM."""

    def __init__(self, kind: str, vocab: int, embed: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, embed)
        self.rnn = _BARE[kind][1](embed, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        h, state = self.rnn(self.emb(x), state)
        return self.out(h), state

    @torch.no_grad()
    def step(self, token: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Eager stepping as one writes it with torch: one token per call, ``token (B,)``."""
        h, state = self.rnn(self.emb(token)[:, None], state)
        return self.out(h[:, 0]), state


def _detach(state: Any) -> Any:
    if isinstance(state, Tensor):
        return state.detach()
    fields = [s.detach() for s in state]
    return type(state)(*fields) if hasattr(state, "_fields") else tuple(fields)  # NamedTuple or nn.LSTM's tuple


def train_steps(model: nn.Module, opt: torch.optim.Optimizer, batches: Tensor, state: Any, clip: float) -> Any:
    """One TBPTT training step per window of ``batches (steps, B, T+1)`` (inputs, next-token targets);
    returns the carried state. The loop both candidates run."""
    for window in batches:
        x, y = window[:, :-1], window[:, 1:]
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        state = _detach(state)
    return state


@dataclass(frozen=True)
class TrainShape:
    """The char-LM recipe's training shape (read from the recipe, ``recipe_shape``)."""

    vocab: int
    embed: int
    hidden: int
    layers: int
    batch: int
    seq_len: int
    lr: float
    clip: float
    threads: int


def recipe_shape(recipe: str = "charlm", vocab: int = CHARLM_VOCAB) -> TrainShape:
    """The model and batch sizes of a char-LM recipe (defaults of ``CharLMConfig`` where it is silent)."""
    r = load_recipe(recipe)
    m, t, d = r.get("model", {}), r.get("train", {}), CharLMConfig()
    return TrainShape(vocab, m.get("embed_dim", d.embed_dim), m.get("hidden_size", d.hidden_size),
                      m.get("num_layers", d.num_layers), t.get("batch_size", 16), t.get("seq_len", 50),
                      t.get("lr", 1e-3), t.get("grad_clip", 1.0) or 1e9, t.get("num_threads", 1))


@dataclass
class Timed:
    """Per-repetition seconds of one candidate; ``ref`` is the label of its bare reference."""

    label: str
    ref: str
    impl: str = ""
    times: list[float] = field(default_factory=list)


@dataclass
class LMBench:
    kind: str  # "train" | "generate"
    rows: list[Timed]
    threads: int
    reps: int
    work: int  #: tokens per repetition (train: steps * B * T; generate: steps)
    shape: str  #: one line describing the model and batch

    def row(self, label: str) -> Timed:
        return next(r for r in self.rows if r.label == label)

    def speedup(self, label: str) -> Ratio:
        """Reference time / this time, paired per repetition (> 1: faster than the bare model)."""
        r = self.row(label)
        return paired(self.row(r.ref).times, r.times)


def _interleave(cands: dict[str, Callable[[], None]], reps: int, progress: Progress | None, what: str
                ) -> dict[str, list[float]]:
    """Time each candidate once per repetition, all candidates within a repetition; rep 0 is warm-up."""
    out: dict[str, list[float]] = {k: [] for k in cands}
    total, done = (reps + 1) * len(cands), 0
    for rep in range(reps + 1):
        for label, fn in cands.items():
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if rep:
                out[label].append(dt)
            done += 1
            if progress:
                progress(f"{what} rep {rep}/{reps}: {label}", done, total)
    return out


def run_train_bench(cells: tuple[str, ...] = tuple(TRAIN_CELLS), reps: int = 7, steps: int = 10,
                    shape: TrainShape | None = None, threads: int | None = None,
                    progress: Progress | None = None) -> LMBench:
    """Training tokens/s of ``CharLM`` per cell beside the bare model of its family, ``steps``
    training steps per repetition."""
    unknown = [c for c in cells if c not in TRAIN_CELLS]
    if unknown:
        raise ValueError(f"unknown train-bench cell(s) {unknown}; valid: {', '.join(TRAIN_CELLS)}")
    s = shape or recipe_shape()
    torch.set_num_threads(threads or s.threads)
    g = torch.Generator().manual_seed(0)
    batches = torch.randint(1, s.vocab, (steps, s.batch, s.seq_len + 1), generator=g)
    kinds = list(dict.fromkeys(TRAIN_CELLS[c] for c in cells))
    models: dict[str, tuple[nn.Module, str, str]] = {}
    for k in kinds:
        torch.manual_seed(0)
        models[f"{_BARE[k][0]} (bare)"] = (BareLM(k, s.vocab, s.embed, s.hidden, s.layers), "", _BARE[k][0])
    for c in cells:
        torch.manual_seed(0)
        m = CharLM(CharLMConfig(cell=c, hidden_size=s.hidden, num_layers=s.layers, embed_dim=s.embed, dropout=0.0),
                   s.vocab)
        impl = "/".join(dict.fromkeys(m.rnn.impls_for(torch.empty(s.batch, s.seq_len, s.embed))))  # training shape
        models[f"rnnkit {c}"] = (m, f"{_BARE[TRAIN_CELLS[c]][0]} (bare)", impl)
    first = next(iter(models))
    runs: dict[str, Callable[[], None]] = {}
    for label, (m, _, _) in models.items():
        opt = torch.optim.Adam(m.parameters(), lr=s.lr)
        carried: list[Any] = [None]

        def run(m: nn.Module = m, opt: torch.optim.Optimizer = opt, carried: list[Any] = carried) -> None:
            carried[0] = train_steps(m, opt, batches, carried[0], s.clip)

        runs[label] = run
    runs[first + AGAIN] = runs[first]  # the same model and optimiser once more: the noise
    times = _interleave(runs, reps, progress, "train")
    rows = [Timed(k, models[k][1] or k, models[k][2], times[k]) for k in models]
    rows.append(Timed(first + AGAIN, first, models[first][2], times[first + AGAIN]))
    desc = (f"vocab {s.vocab}, embedding {s.embed}, {s.layers} x {s.hidden}, batch {s.batch} x window {s.seq_len}, "
            f"Adam, clip {s.clip:g}, {steps} steps per repetition")
    return LMBench("train", rows, torch.get_num_threads(), reps, steps * s.batch * s.seq_len, desc)


def run_generate_bench(cells: tuple[str, ...] = ("lstm", "gru"), reps: int = 15, tokens: int = 200,
                       vocab: int = 100, embed: int = 64, hidden: int = 512, layers: int = 2,
                       threads: int | None = None, progress: Progress | None = None) -> LMBench:
    """Per-token latency at batch 1: ``CharLM.step`` on the single-step path, the same model as a
    T=1 forward, and torch eager stepping of the bare model (the reference), ``tokens`` steps per
    repetition with the state carried."""
    unknown = [c for c in cells if c not in _BARE]
    if unknown:
        raise ValueError(f"generate bench cells are {', '.join(_BARE)} (a bare torch twin each), got {unknown}")
    if threads:
        torch.set_num_threads(threads)
    ids = torch.randint(1, vocab, (tokens,), generator=torch.Generator().manual_seed(0)).view(tokens, 1)
    runs: dict[str, Callable[[], None]] = {}
    rows: list[Timed] = []
    for c in cells:
        torch.manual_seed(0)
        bare = BareLM(c, vocab, embed, hidden, layers).eval()
        model = CharLM(CharLMConfig(cell=c, hidden_size=hidden, num_layers=layers, embed_dim=embed), vocab).eval()
        model.load_state_dict({"embed.weight": bare.emb.weight, "head.weight": bare.out.weight,
                               "head.bias": bare.out.bias, **{f"rnn.{k}": v for k, v in bare.rnn.state_dict().items()}})
        with torch.no_grad():
            runner = model.step_runner()
        _check_same_logits(bare, model, runner, ids[:5])
        ref = f"nn.{c.upper()} eager (bare)"

        def eager(bare: BareLM = bare) -> None:
            state = None
            for t in ids:
                _, state = bare.step(t, state)

        def eager_aten(bare: BareLM = bare) -> None:  # torch's own kernel without oneDNN's per-call setup
            with warnings.catch_warnings(), torch.backends.mkldnn.flags(enabled=False):
                warnings.simplefilter("ignore")  # a TF32 notice on every flag change
                eager(bare)

        def stepped(model: CharLM = model, runner: Any = runner) -> None:
            state = None
            with torch.no_grad():
                for t in ids:
                    _, state = model.step(t, state, runner)

        def forward_t1(model: CharLM = model) -> None:
            _forward_steps(model, ids)

        aten = f"nn.{c.upper()} eager, oneDNN off (bare)"
        runs[ref], runs[f"rnnkit {c} step path"], runs[f"rnnkit {c} T=1 forward"] = eager, stepped, forward_t1
        runs[aten] = eager_aten
        rows += [Timed(ref, ref, "torch eager"), Timed(f"rnnkit {c} step path", ref, runner.backend()),
                 Timed(f"rnnkit {c} T=1 forward", ref, "Stack.forward, T=1"),
                 Timed(aten, ref, "torch eager, torch.backends.mkldnn off")]
    first = rows[0].label
    runs[first + AGAIN] = runs[first]
    rows.append(Timed(first + AGAIN, first, "torch eager"))
    times = _interleave(runs, reps, progress, "generate")
    for r in rows:
        r.times = [t / tokens for t in times[r.label]]
    desc = f"vocab {vocab}, embedding {embed}, {layers} x {hidden}, batch 1, {tokens} tokens per repetition"
    return LMBench("generate", rows, torch.get_num_threads(), reps, tokens, desc)


def _check_same_logits(bare: BareLM, model: CharLM, runner: Any, ids: Tensor) -> None:
    """The timed paths compute the same thing: logits of a few steps agree (else the bench stops)."""
    sb = sf = st = None
    with torch.no_grad():
        for t in ids:
            lb, sb = bare.step(t, sb)
            lf, sf = model.step(t, sf, runner)
            lt, st = model.step(t, st, None)
            torch.testing.assert_close(lf, lb, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(lt, lb, atol=1e-4, rtol=1e-4)


def _forward_steps(model: CharLM, ids: Tensor) -> None:
    """The same model stepped as generation did before the single-step path: T=1 Stack forwards."""
    state = None
    with torch.no_grad():
        for t in ids:
            _, state = model.step(t, state, None)


#: (kind, candidate label, least speed-up over its reference) -- issue 18
LM_TARGETS = [("generate", "rnnkit lstm step path", 2.0)]


def lm_markdown(bench: LMBench) -> str:
    """The table of one run: absolute rate and the paired speed-up over the bare reference."""
    import statistics

    head = (f"torch {torch.__version__}, {bench.threads} thread(s), {bench.reps} interleaved repetitions "
            f"after one warm-up; {bench.shape}. Speed-up = reference time / time, the median of the "
            "per-repetition paired ratios with their interquartile range (> 1: faster than the bare model); "
            f"the '{AGAIN.strip()}' row times the first bare model again in every repetition (its noise).\n\n")
    lines: list[str] = []
    if bench.kind == "train":
        lines += ["| model | impl (auto) | tokens/s | reference | reference tokens/s | speed-up vs reference |",
                  "|---|---|---:|---|---:|---:|"]
        for r in bench.rows:
            rate = bench.work / statistics.median(r.times)
            ref_rate = bench.work / statistics.median(bench.row(r.ref).times)
            lines.append(f"| {r.label} | {r.impl or '-'} | {rate:,.0f} | {r.ref} | {ref_rate:,.0f} | "
                         f"{bench.speedup(r.label)} |")
    else:
        lines += ["| path | backend | ms / token (median, IQR) | reference | speed-up vs reference |",
                  "|---|---|---:|---|---:|"]
        for r in bench.rows:
            ms = Ratio(*(v * 1e3 for v in _quartiles(r.times)))
            lines.append(f"| {r.label} | {r.impl} | {ms.format(3)} | {r.ref} | {bench.speedup(r.label)} |")
    targets = [(label, least) for kind, label, least in LM_TARGETS
               if kind == bench.kind and any(r.label == label for r in bench.rows)]
    if targets:
        lines += ["", "| target | measured | met |", "|---|---:|---|"]
        for label, least in targets:
            q = bench.speedup(label)
            lines.append(f"| {label} >= {least:g}x faster than {bench.row(label).ref} | {q}x | "
                         f"{'yes' if q.median >= least else 'NO'} |")
    return head + "\n".join(lines) + "\n"


def _quartiles(v: list[float]) -> tuple[float, float, float]:
    """(median, q1, q3) of one candidate's repetitions."""
    q = paired(v, [1.0] * len(v))
    return q.median, q.lo, q.hi


__all__ = ["CHARLM_VOCAB", "LM_TARGETS", "TRAIN_CELLS", "BareLM", "LMBench", "TrainShape", "lm_markdown",
           "recipe_shape", "run_generate_bench", "run_train_bench", "train_steps"]
