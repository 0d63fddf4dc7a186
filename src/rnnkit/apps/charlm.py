"""The char-LM task (issue 3) as a `TaskSpec`: corpus -> tokenizer -> TBPTT streams -> CharLM,
evaluated in bits per character on the held-out split beside unigram and Kneser-Ney baselines.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from rnnkit.baselines.ngram import KneserNey, ngram_baselines
from rnnkit.config import RunConfig
from rnnkit.data.charlm import (
    LM_TOKENIZERS,
    CharTokenizer,
    Corpus,
    StreamBatches,
    WordTokenizer,
    load_corpus,
    to_streams,
    tokenizer_from_dict,
)
from rnnkit.defaults import summarise_corpus
from rnnkit.errors import ConfigError
from rnnkit.limits import check_memory, lm_batch_bytes
from rnnkit.models.charlm import LN2, CharLM, CharLMConfig
from rnnkit.tasks import TaskSpec
from rnnkit.verdicts import verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CharLMDataConfig:
    source: str = "shakespeare"  # bundled name (shakespeare, hamlet), a UTF-8 file or a folder
    valid_fraction: float = 0.05  # positional split for files/folders (bundled sets bring their own)
    test_fraction: float = 0.05
    random_len: bool = False  # AWD-LSTM randomised TBPTT window length
    eval_batch_size: int = 16  # parallel streams when measuring bpc
    eval_seq_len: int = 200
    val_chars: int | None = 100_000  # cap (in tokens) for the periodic validation (final evaluation uses all)
    baseline_order: int = 5  # Kneser-Ney n-gram order (capped so n-gram keys fit 62 bits: 4 for 10k words)
    level: str = "char"  # char | word (a word-level language model)
    min_freq: int = 1  # word level: rarer words become <unk>
    max_vocab: int = 30000  # word level: vocabulary size including <unk>

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "valid_fraction": "[0, 1)", "test_fraction": "[0, 1)", "valid_fraction+test_fraction": "[0, 1)",
        "eval_batch_size": "[1, inf)", "eval_seq_len": "[1, inf)", "val_chars": "[1, inf)",
        "baseline_order": "[1, 20]", "min_freq": "[1, inf)", "max_vocab": "[2, inf)",
    }

    def __post_init__(self) -> None:
        if self.level not in LM_TOKENIZERS:
            raise ConfigError(f"data.level={self.level!r} is not valid; choose one of: {', '.join(LM_TOKENIZERS)}")


@dataclass
class CharLMBundle:
    corpus: Corpus
    tokenizer: CharTokenizer | WordTokenizer
    train: StreamBatches
    train_ids: torch.Tensor
    valid_ids: torch.Tensor
    test_ids: torch.Tensor
    data_cfg: CharLMDataConfig
    cache: dict[str, Any] = field(default_factory=dict)


def fit_tokenizer(d: CharLMDataConfig, text: str) -> CharTokenizer | WordTokenizer:
    """The tokenizer of ``data.level``, fitted on the training text only."""
    if d.level == "word":
        return WordTokenizer.fit(text, d.min_freq, d.max_vocab)
    return CharTokenizer.fit(text)


def prepare_data(cfg: RunConfig, raw: Corpus | None = None) -> CharLMBundle:
    """Read ``cfg.data.source`` (or take ``raw``: a corpus already in memory, e.g. text given to an
    estimator, whose test split may be empty), fit the tokenizer on train, build the TBPTT streams."""
    d, t = cfg.data, cfg.train
    corpus = raw if raw is not None else load_corpus(d.source, d.valid_fraction, d.test_fraction)
    tok = fit_tokenizer(d, corpus.train)
    ids = {k: tok.encode(getattr(corpus, k)) for k in ("train", "valid", "test")}
    train = StreamBatches(ids["train"], t.batch_size, t.seq_len, d.random_len, t.seed,
                          what=f"training text of {corpus.source}")
    for split in ("valid", "test"):
        if split == "valid" or len(ids[split]) or raw is None:
            to_streams(ids[split], min(d.eval_batch_size, max(1, len(ids[split]) // 4)),
                       f"{split} split of {corpus.source}")
    log.info("corpus %s: %d/%d/%d %ss, vocabulary %d", corpus.source, len(ids["train"]),
             len(ids["valid"]), len(ids["test"]), d.level, tok.vocab_size)
    check_memory(lm_batch_bytes(t.batch_size, t.seq_len, tok.vocab_size, cfg.model),
                 f"a training window of {t.batch_size} x {t.seq_len} {d.level}s over a vocabulary of {tok.vocab_size}",
                 "train.batch_size, train.seq_len or data.max_vocab (word level)", t)
    return CharLMBundle(corpus, tok, train, ids["train"], ids["valid"], ids["test"], d)


def artifacts(bundle: CharLMBundle) -> dict[str, dict]:
    return {"tokenizer.json": bundle.tokenizer.to_dict()}


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> CharLM:
    tok = tokenizer_from_dict(arts["tokenizer.json"])
    model = CharLM(cfg.model, tok.vocab_size, tokenizer=tok)
    log.info("%s", model.explain_backend())
    return model


@torch.no_grad()
def stream_nll(model: CharLM, ids: torch.Tensor, batch_size: int, seq_len: int) -> float:
    """Mean next-character cross-entropy (nats) over `ids` read as `batch_size` parallel streams,
    carrying the state across windows as in training."""
    was = model.training
    model.eval()
    device = model.head.weight.device
    x, y = to_streams(ids, min(batch_size, max(1, len(ids) // 4)))
    total, count, state = torch.zeros((), device=device, dtype=torch.float64), 0, None
    for s in range(0, x.shape[1], seq_len):
        _, state, m = model.loss((x[:, s:s + seq_len].to(device), y[:, s:s + seq_len].to(device)), state)
        total += m["nll_sum"].double()
        count += y[:, s:s + seq_len].numel()
    model.train(was)
    return float(total) / count


def validate(model: CharLM, bundle: CharLMBundle) -> dict[str, float]:
    d = bundle.data_cfg
    ids = bundle.valid_ids if d.val_chars is None else bundle.valid_ids[: d.val_chars]
    nll = stream_nll(model, ids, d.eval_batch_size, d.eval_seq_len)
    return {"val_loss": nll, "val_bpc": nll / LN2}


def _order(bundle: CharLMBundle, order: int) -> int:
    return min(order, max(1, int(62 // math.log2(max(2, bundle.tokenizer.vocab_size)))))  # int64 n-gram keys


def _kneser_ney(bundle: CharLMBundle, order: int) -> KneserNey:
    """The Kneser-Ney model of the training text, fitted once per bundle."""
    key = f"kn-{order}"
    if key not in bundle.cache:
        bundle.cache[key] = KneserNey(order, bundle.tokenizer.vocab_size).fit(bundle.train_ids.numpy())
    return bundle.cache[key]


def baselines(bundle: CharLMBundle, order: int) -> dict[str, dict[str, float]]:
    order = _order(bundle, order)
    key = f"baselines-{order}"
    if key not in bundle.cache:
        bundle.cache[key] = ngram_baselines(bundle.train_ids.numpy(), {"valid": bundle.valid_ids.numpy(),
                                            "test": bundle.test_ids.numpy()}, bundle.tokenizer.vocab_size,
                                            order, _kneser_ney(bundle, order))
    return bundle.cache[key]


def baseline_check(model: CharLM, bundle: CharLMBundle, cfg: RunConfig) -> dict[str, Any] | None:
    """Validation bits per character beside unigram and Kneser-Ney on the same validation text."""
    d = cfg.data
    ids = bundle.valid_ids if d.val_chars is None else bundle.valid_ids[: d.val_chars]
    order = _order(bundle, d.baseline_order)
    base = ngram_baselines(bundle.train_ids.numpy(), {"valid": ids.numpy()}, bundle.tokenizer.vocab_size, order,
                           _kneser_ney(bundle, order))
    return verdict("val_bpc", validate(model, bundle)["val_bpc"], {k: v["valid_bpc"] for k, v in base.items()},
                   higher_is_better=False)


def perplexity(bits: float) -> float:
    """``2 ** bits``; a diverged model's huge loss (a legal ``train.lr=1e6``) gives inf, not an
    OverflowError after the whole run."""
    return 2.0 ** bits if bits < 1024 else math.inf


def evaluate(model: CharLM, bundle: CharLMBundle, cfg: RunConfig) -> dict[str, Any]:
    """valid/test bpc on the full splits, char perplexity, and the n-gram baselines beside them."""
    d = cfg.data
    valid = stream_nll(model, bundle.valid_ids, d.eval_batch_size, d.eval_seq_len) / LN2
    test = stream_nll(model, bundle.test_ids, d.eval_batch_size, d.eval_seq_len) / LN2
    base = baselines(bundle, d.baseline_order)
    best_name = min(base, key=lambda k: base[k]["test_bpc"])
    best = base[best_name]["test_bpc"]
    return {"valid_bpc": valid, "test_bpc": test, "test_perplexity": perplexity(test),
            "baselines": base, "best_baseline": best_name,
            "test_bpc_vs_best_baseline": (test - best) / best,  # negative: the RNN is better
            "beats_baselines": bool(test < best), "vocab_size": bundle.tokenizer.vocab_size,
            "test_chars": int(len(bundle.test_ids)), "data": bundle.corpus.source,
            "unit": d.level}  # bpc = bits per character, or per word for a word-level model


def with_test(bundle: CharLMBundle, text: str) -> CharLMBundle:
    """The bundle with ``text`` as its test split (an estimator's ``evaluate(text)``); baselines are
    scored again on it."""
    ids = bundle.tokenizer.encode(text)
    to_streams(ids, min(bundle.data_cfg.eval_batch_size, max(1, len(ids) // 4)), "the evaluation text")
    return replace(bundle, corpus=replace(bundle.corpus, test=text), test_ids=ids, cache={})


def sample(model: CharLM, length: int) -> Iterator[str]:
    """A demo continuation after training (temperature 0.8, fixed seed)."""
    return model.generate("\n", length, temperature=0.8, seed=0)


TASK = TaskSpec(
    name="charlm",
    description="character-level language model and text generation (bits per character)",
    model_config_cls=CharLMConfig,
    data_config_cls=CharLMDataConfig,
    prepare_data=prepare_data,
    artifacts=artifacts,
    build_model=build_model,
    validate=validate,
    evaluate=evaluate,
    recipe="charlm",
    monitor="val_loss",
    headline=("valid_bpc", "test_bpc", "test_bpc_vs_best_baseline"),
    progress_fields={"bits": "bpc", "items_per_s": "tok/s"},
    sample=sample,
    estimator="rnnkit.estimators.language:LanguageModel",
    cli_options={"--level": ("data.level", "char | word"), "--minutes": ("train.max_minutes", "time budget")},
    baseline_check=baseline_check,
    load_raw=lambda cfg: load_corpus(cfg.data.source, cfg.data.valid_fraction, cfg.data.test_fraction),
    summarise=lambda cfg, corpus: summarise_corpus("charlm", corpus),
)
