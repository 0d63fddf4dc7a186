"""The ``nextelement`` task: many-to-many next-symbol prediction, measured against the optimum.

The model is the char-LM (:class:`rnnkit.models.charlm.CharLM`: embedding -> Stack -> linear,
trained by truncated BPTT on one symbol stream): predicting ``x_{t+1}`` from ``x_1..x_t`` at every
step is exactly what it does, so nothing is duplicated. What this task adds is the data (a known
generating process, :mod:`rnnkit.data.nextelement`) and the report: test accuracy and nll beside
the process's own optimum (the best achievable), Markov-chain baselines of several orders, and
chance. ``data.source = "iid"`` (uniform digits) is a chance-level sanity check, reported as such.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from rnnkit.apps.charlm import stream_nll
from rnnkit.baselines.markov import MarkovChain, markov_baselines
from rnnkit.config import SEED_RANGE, RunConfig
from rnnkit.data.charlm import CharTokenizer, StreamBatches
from rnnkit.data.nextelement import SOURCES, generate, optimum
from rnnkit.errors import ConfigError
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.tasks import TaskSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NextElementDataConfig:
    """``[data]`` of the nextelement task."""

    source: str = "reber"  # reber (embedded Reber grammar) | iid (chance-level sanity check)
    p: float = 0.5  # reber: probability of the first option at each two-way branch
    train_symbols: int = 200_000
    valid_symbols: int = 20_000
    test_symbols: int = 50_000
    seed: int = 0  # generation seed (valid/test use seed+1, seed+2)
    eval_seq_len: int = 500
    markov_orders: tuple[int, ...] = (0, 1, 2, 3, 5, 8)

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "p": "[0, 1]", "train_symbols": "[2, inf)", "valid_symbols": "[2, inf)", "test_symbols": "[2, inf)",
        "seed": SEED_RANGE, "eval_seq_len": "[1, inf)", "markov_orders": "[0, 30]",
    }

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data.source={self.source!r} is not valid; choose one of: {', '.join(SOURCES)}")


@dataclass
class NextElementBundle:
    train: StreamBatches
    texts: dict[str, str]
    tokenizer: CharTokenizer
    data_cfg: NextElementDataConfig


def prepare_data(cfg: RunConfig) -> NextElementBundle:
    d = cfg.data
    texts = {split: generate(d.source, n, d.seed + i, d.p) for i, (split, n) in
             enumerate((("train", d.train_symbols), ("valid", d.valid_symbols), ("test", d.test_symbols)))}
    tok = CharTokenizer.fit(texts["train"])
    train = StreamBatches(tok.encode(texts["train"]), cfg.train.batch_size, cfg.train.seq_len, seed=cfg.train.seed,
                          what=f"{d.source} training stream")
    return NextElementBundle(train, texts, tok, d)


def artifacts(bundle: NextElementBundle) -> dict[str, dict]:
    return {"tokenizer.json": bundle.tokenizer.to_dict()}


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> CharLM:
    tok = CharTokenizer.from_dict(arts["tokenizer.json"])
    return CharLM(cfg.model, tok.vocab_size, tokenizer=tok)


def validate(model: CharLM, bundle: NextElementBundle) -> dict[str, float]:
    ids = bundle.tokenizer.encode(bundle.texts["valid"])
    return {"val_loss": stream_nll(model, ids, 1, bundle.data_cfg.eval_seq_len)}


@torch.no_grad()
def stream_accuracy(model: CharLM, ids: torch.Tensor, seq_len: int) -> dict[str, float]:
    """Accuracy and nll of the argmax next-symbol prediction over one stream read from its start
    (state carried across windows, so every position sees its whole history, as the optimum does)."""
    device = model.head.weight.device
    x, y = ids[:-1][None].to(device), ids[1:][None].to(device)
    hits, nll, state, preds = 0, 0.0, None, []
    for s in range(0, x.shape[1], seq_len):
        logits, state = model(x[:, s:s + seq_len], state)
        target = y[:, s:s + seq_len]
        preds.append(logits.argmax(-1)[0].cpu())
        hits += int((preds[-1] == target[0].cpu()).sum())
        nll += float(torch.nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum"))
    return {"accuracy": hits / y.numel(), "nll": nll / y.numel(), "predictions": torch.cat(preds)}


def long_range_positions(text: str) -> list[int]:
    """Reber positions t whose next symbol is the final branch symbol (after the inner ``E``): it
    repeats the symbol after the opening ``B``, a whole inner string earlier."""
    return [t for t in range(len(text) - 1) if text[t] == "E" and text[t + 1] in "TP"]


def evaluate(model: CharLM, bundle: NextElementBundle, cfg: RunConfig) -> dict[str, Any]:
    d, test = cfg.data, bundle.texts["test"]
    model.eval()
    got = stream_accuracy(model, bundle.tokenizer.encode(test), d.eval_seq_len)
    best = optimum(d.source, test, d.p)
    base = markov_baselines(bundle.texts["train"], test, d.markov_orders)
    alphabet = sorted(set(bundle.texts["train"]))
    base["chance (uniform)"] = {"accuracy": 1.0 / len(alphabet)}
    best_markov = max((k for k in base if k.startswith("markov")), key=lambda k: base[k]["accuracy"])
    long_range = {}
    if d.source == "reber":  # the dependency n-grams cannot see: accuracy at those positions only
        pos = long_range_positions(test)
        pred = bundle.tokenizer.decode(got["predictions"])
        order = int(best_markov.split("-")[1])
        chain = MarkovChain(order).fit(bundle.texts["train"])
        long_range = {"test_accuracy_long_range": sum(pred[t] == test[t + 1] for t in pos) / len(pos),
                      "best_markov_accuracy_long_range":
                          sum(chain.predict(test[max(0, t + 1 - order):t + 1]) == test[t + 1] for t in pos) / len(pos),
                      "optimum_accuracy_long_range": 1.0, "long_range_positions": len(pos)}
    out = {
        "data": f"synthetic: {d.source}" + (" (i.i.d. digits: chance-level sanity check, nothing to learn)"
                                           if d.source == "iid" else f" (embedded Reber grammar, p={d.p})"),
        "test_accuracy": got["accuracy"], "test_nll": got["nll"],
        "optimum_accuracy": best["accuracy"], "optimum_expected_accuracy": best["expected_accuracy"],
        "optimum_nll": best["nll"],
        "test_accuracy_gap_to_optimum": best["accuracy"] - got["accuracy"],
        "best_markov": best_markov, "best_markov_accuracy": base[best_markov]["accuracy"],
        **long_range, "baselines": base, "test_symbols": len(test) - 1,
    }
    return out


TASK = TaskSpec(
    name="nextelement", description="many-to-many next-symbol prediction vs the generating process's optimum",
    model_config_cls=CharLMConfig, data_config_cls=NextElementDataConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="nextelement",
    monitor="val_loss", headline=("test_accuracy", "optimum_accuracy", "best_markov_accuracy", "test_nll",
                                  "optimum_nll"),
    progress_fields={"nll": "nll"}, estimator="rnnkit.estimators.language:LanguageModel",
)

__all__ = ["TASK", "NextElementBundle", "NextElementDataConfig", "stream_accuracy"]
