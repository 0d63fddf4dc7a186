"""The ``seq2seq`` task: pairs -> attention encoder-decoder -> exact match / CER / BLEU / WER / PER.

``data.source`` is a bundled synthetic task (``dates``, ``addition``, ``reverse``: generated,
reported as *synthetic*), the real ``cmudict`` grapheme-to-phoneme set (through
``rnnkit.data.registry``), or a path to a TSV/CSV pairs file (split by distinct source with
``data.seed``). Vocabularies are built on the training split only and saved as ``tokenizer.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import torch

from rnnkit.config import SEED_RANGE, RunConfig
from rnnkit.data.seq2seq import (
    LEVELS,
    Pair,
    PairBatches,
    Vocab,
    check_pair,
    detokenize,
    iterate_batches,
    pad,
    read_pairs,
    split_pairs,
    tokenize,
)
from rnnkit.data.seq2seq_synth import SYNTHETIC, synthetic_pairs
from rnnkit.defaults import summarise_pairs
from rnnkit.errors import ConfigError, DataError
from rnnkit.evaluation.sequences import exact_match, multi_reference_errors, sequence_metrics
from rnnkit.limits import check_memory, seq2seq_batch_bytes
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks import TaskSpec
from rnnkit.verdicts import verdict

log = logging.getLogger(__name__)
TOKENIZER = "tokenizer.json"


@dataclass(frozen=True)
class Seq2SeqDataConfig:
    """``[data]`` of the seq2seq task."""

    source: str = "dates"  # dates | addition | reverse | cmudict | path/to/pairs.tsv|.csv
    src_level: str = "char"  # char | word (files only; bundled sets fix their own)
    tgt_level: str = "char"
    n_train: int = 0  # synthetic: training pairs (0 = the generator's default)
    max_len: int = 200  # longest allowed source/target in tokens (longer = error naming the line)
    valid_fraction: float = 0.05  # pairs files only
    test_fraction: float = 0.05
    seed: int = 0  # synthetic generation / file split
    eval_batch_size: int = 500
    max_valid: int = 1000  # validation pairs decoded per evaluation (cost control)

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "n_train": "[0, inf)", "max_len": "[1, inf)", "valid_fraction": "[0, 1)", "test_fraction": "[0, 1)",
        "valid_fraction+test_fraction": "[0, 1)", "seed": SEED_RANGE, "eval_batch_size": "[1, inf)",
        "max_valid": "[1, inf)",
    }

    def __post_init__(self) -> None:
        for side in (self.src_level, self.tgt_level):
            if side not in LEVELS:
                raise ConfigError(f"data.src_level/tgt_level={side!r} is not valid; choose one of: {', '.join(LEVELS)}")


@dataclass
class Seq2SeqBundle:
    train: PairBatches
    valid: list[Pair]
    test: list[Pair]
    src_vocab: Vocab
    tgt_vocab: Vocab
    label: str  # "synthetic: dates", "cmudict (real)", "file: x.tsv"
    max_valid: int = 1000
    #: source tokens -> every accepted target, for sources with several (CMUdict alternate pronunciations)
    references: dict[tuple[str, ...], list[list[str]]] = field(default_factory=dict)
    #: also score with ARPAbet stress digits removed (AH0/AH1/AH2 -> AH), as G2P work often does
    stress_free_scores: bool = False


def _registered_pairs() -> set[str]:
    """Names of the bundled real pair sets (the registry's seq2seq data sets: cmudict, en-past-tense, ...)."""
    from rnnkit.data.registry import DATASETS

    return {name for name, spec in DATASETS.items() if spec.task == "seq2seq"}


def load_pairs(d: Seq2SeqDataConfig) -> tuple[list[Pair], list[Pair], list[Pair], str, str, str, dict]:
    """(train, valid, test, src_level, tgt_level, label, references) for ``d.source``; ``references``
    maps a source (token tuple) to all its accepted targets where it has several."""
    if d.source in SYNTHETIC:
        tr, va, te = synthetic_pairs(d.source, d.n_train or None, d.seed)
        return tr, va, te, "char", "char", f"synthetic: {d.source}", {}
    if d.source in _registered_pairs():
        from rnnkit.data.registry import load_dataset
        data = load_dataset(d.source)
        conv = [[(list(w), list(p)) for w, p in split] for split in (data.train, data.valid, data.test)]
        refs = {tuple(w): [list(p) for p in ps] for w, ps in data.references.items()}
        # the target side is read by characters when every target token is one character (en-past-tense),
        # else by words (cmudict's phonemes, pinyin syllables)
        tgt_level = "char" if all(len(t) == 1 for _, tgt in conv[0] for t in tgt) else "word"
        return conv[0], conv[1], conv[2], "char", tgt_level, f"{d.source} (real, fixed-seed split by source)", refs
    if not Path(d.source).is_file():
        raise DataError(f"data.source={d.source!r} is neither a bundled set "
                        f"({', '.join([*SYNTHETIC, *sorted(_registered_pairs())])}) "
                        "nor an existing TSV/CSV file")
    pairs = read_pairs(d.source, d.src_level, d.tgt_level, d.max_len)
    tr, va, te = split_pairs(pairs, d.valid_fraction, d.test_fraction, d.seed)
    if not va or not te:
        raise DataError(f"{d.source}: {len(pairs)} pairs leave an empty valid or test split; add pairs")
    return tr, va, te, d.src_level, d.tgt_level, f"file: {d.source}", {}


def prepare_data(cfg: RunConfig, raw: tuple | None = None) -> Seq2SeqBundle:
    """Read ``cfg.data.source`` (or take ``raw``: the tuple :func:`load_pairs` returns, built from pairs
    in memory by an estimator; its test split may be empty) and fit the vocabularies on training pairs."""
    d = cfg.data
    train, valid, test, src_level, tgt_level, label, references = raw if raw is not None else load_pairs(d)
    for i, (s, t) in enumerate(train):
        check_pair(s, t, f"{d.source} training pair {i + 1}", d.max_len)
    if cfg.model.share_embeddings:
        shared = Vocab.build([s for s, _ in train] + [t for _, t in train], src_level)
        src_vocab, tgt_vocab = shared, Vocab(shared.tokens, tgt_level)
    else:
        src_vocab = Vocab.build([s for s, _ in train], src_level)
        tgt_vocab = Vocab.build([t for _, t in train], tgt_level)
    log.info("seq2seq data %s: %d/%d/%d pairs, vocab %d -> %d", label, len(train), len(valid), len(test),
             len(src_vocab), len(tgt_vocab))
    B = min(cfg.train.batch_size, len(train))
    S, T = max(len(s) for s, _ in train), max(len(t) for _, t in train) + 1
    check_memory(seq2seq_batch_bytes(B, S, T, len(tgt_vocab), cfg.model),
                 f"a seq2seq training batch of {B} pairs of up to {S} source and {T} target tokens "
                 f"(target vocabulary {len(tgt_vocab)})", "train.batch_size or data.max_len", cfg.train)
    batches = PairBatches(train, src_vocab, tgt_vocab, cfg.train.batch_size, cfg.train.seed)
    return Seq2SeqBundle(batches, valid, test, src_vocab, tgt_vocab, label, d.max_valid, references,
                         stress_free_scores=d.source == "cmudict")


def artifacts(bundle: Seq2SeqBundle) -> dict[str, dict]:
    return {TOKENIZER: {"src": bundle.src_vocab.to_dict(), "tgt": bundle.tgt_vocab.to_dict(),
                        "source": bundle.label}}


def build_model(cfg: RunConfig, arts: dict[str, dict]) -> Seq2Seq:
    tok = arts[TOKENIZER]
    model = Seq2Seq(cfg.model, len(tok["src"]["tokens"]), len(tok["tgt"]["tokens"]))
    model.src_vocab, model.tgt_vocab = Vocab.from_dict(tok["src"]), Vocab.from_dict(tok["tgt"])
    model.max_len = cfg.data.max_len
    return model


def strip_stress(phonemes: list[str]) -> list[str]:
    """ARPAbet without lexical stress: the digit after a vowel goes (``AH0`` -> ``AH``)."""
    return [p.rstrip("012") for p in phonemes]


def decode_pairs(model: Seq2Seq, pairs: list[Pair], src_vocab: Vocab, tgt_vocab: Vocab, batch_size: int,
                 beam_size: int | None = None) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    """Decode every pair's source -> (sources, hypotheses, references), all as token lists."""
    dev = next(model.parameters()).device
    srcs, hyps, refs = [], [], []
    for chunk, batch in iterate_batches(pairs, src_vocab, tgt_vocab, batch_size):
        ids = model.generate(batch.src.to(dev), batch.src_len.to(dev), beam_size=beam_size)
        hyps += [tgt_vocab.decode(x) for x in ids]
        srcs += [s for s, _ in chunk]
        refs += [t for _, t in chunk]
    return srcs, hyps, refs


@torch.no_grad()
def validate(model: Seq2Seq, bundle: Seq2SeqBundle) -> dict[str, float]:
    """Teacher-forced loss and greedy exact match on (up to ``max_valid``) validation pairs."""
    pairs = bundle.valid[: bundle.max_valid]
    dev = next(model.parameters()).device
    nll, n = 0.0, 0
    for _, batch in iterate_batches(pairs, bundle.src_vocab, bundle.tgt_vocab, 500):
        _, _, m = model.loss(type(batch)(*(t.to(dev) for t in batch)))
        nll, n = nll + float(m["nll_sum"]), n + int(m["count"])
    _, hyps, refs = decode_pairs(model, pairs, bundle.src_vocab, bundle.tgt_vocab, 500, beam_size=1)
    em = exact_match(hyps, refs)
    return {"val_loss": nll / max(n, 1), "val_exact_match": em, "val_error": 1.0 - em}


def evaluate(model: Seq2Seq, bundle: Seq2SeqBundle, cfg: RunConfig) -> dict[str, Any]:
    """Test metrics with the configured beam (and greedy beside it when the beam is wider)."""
    srcs, hyps, refs = decode_pairs(model, bundle.test, bundle.src_vocab, bundle.tgt_vocab,
                                    cfg.data.eval_batch_size, cfg.model.beam_size)
    out: dict[str, Any] = {"data": bundle.label, "test_pairs": len(bundle.test),
                           "beam_size": cfg.model.beam_size, "attention": cfg.model.attention}
    out.update(sequence_metrics(hyps, refs, bundle.tgt_vocab.level))
    if bundle.references:  # scored against the first target above; here against any accepted one
        multi = [bundle.references.get(tuple(s), [r]) for s, r in zip(srcs, refs)]
        out["test_multi_reference_sources"] = sum(len(m) > 1 for m in multi)
        out["test_wer_any_reference"], out["test_token_error_rate_any_reference"] = \
            multi_reference_errors(hyps, multi)
        if bundle.stress_free_scores:
            out["test_wer_no_stress"], out["test_token_error_rate_no_stress"] = multi_reference_errors(
                [strip_stress(h) for h in hyps], [[strip_stress(r) for r in m] for m in multi])
    if cfg.model.beam_size > 1:
        _, g, _ = decode_pairs(model, bundle.test, bundle.src_vocab, bundle.tgt_vocab, cfg.data.eval_batch_size, 1)
        out["test_exact_match_greedy"] = exact_match(g, refs)
    out["baselines"] = {"copy source": {"test_exact_match": exact_match([s for s, _ in bundle.test], refs)}}
    return out


def baseline_check(model: Seq2Seq, bundle: Seq2SeqBundle, cfg: RunConfig) -> dict[str, Any] | None:
    """Greedy validation exact match beside copying the source (what a model must at least beat)."""
    pairs = bundle.valid[: bundle.max_valid]
    if not pairs:
        return None
    copy = exact_match([s for s, _ in pairs], [t for _, t in pairs])
    return verdict("val_exact_match", validate(model, bundle)["val_exact_match"], {"copy source": copy},
                   higher_is_better=True)


def with_test(bundle: Seq2SeqBundle, pairs: list[Pair]) -> Seq2SeqBundle:
    """The bundle with ``pairs`` as its test split (an estimator's ``evaluate``)."""
    return replace(bundle, test=list(pairs), references={})


def translate(model: Seq2Seq, texts: list[str], beam_size: int | None = None,
              length_penalty: float | None = None, where: list[str] | None = None) -> list[str]:
    """Raw source strings -> decoded target strings, with a trained model from ``rnnkit.load``;
    errors name an input by ``where`` (default "input 1", "input 2", ...)."""
    sv, tv = model.src_vocab, model.tgt_vocab
    where = where or [f"input {i + 1}" for i in range(len(texts))]
    seqs = []
    for name, text in zip(where, texts):
        toks = tokenize(text.strip(), sv.level)
        if not toks:
            raise DataError(f"{name} is empty; give some text to translate")
        if len(toks) > model.max_len:
            raise DataError(f"{name} has {len(toks)} tokens, more than the model's max_len={model.max_len}")
        seqs.append(sv.encode(toks))
    src, src_len = pad(seqs)
    dev = next(model.parameters()).device
    ids = model.generate(src.to(dev), src_len.to(dev), beam_size=beam_size, length_penalty=length_penalty)
    return [detokenize(tv.decode(x), tv.level) for x in ids]


TASK = TaskSpec(
    name="seq2seq", description="sequence-to-sequence with attention (dates, addition, reverse, cmudict, TSV)",
    model_config_cls=Seq2SeqConfig, data_config_cls=Seq2SeqDataConfig, prepare_data=prepare_data,
    artifacts=artifacts, build_model=build_model, validate=validate, evaluate=evaluate, recipe="seq2seq",
    monitor="val_error", headline=("test_exact_match", "test_token_accuracy", "test_cer", "test_bleu",
                                   "test_wer", "test_token_error_rate", "test_wer_any_reference",
                                   "test_token_error_rate_any_reference", "test_wer_no_stress",
                                   "test_token_error_rate_no_stress"),
    progress_fields={"nll": "nll", "tok_acc": "acc"}, estimator="rnnkit.estimators.seq2seq:Seq2Seq",
    baseline_check=baseline_check, load_raw=lambda cfg: load_pairs(cfg.data),
    summarise=lambda cfg, raw: summarise_pairs("seq2seq", raw),
    cli_options={"--src-level": ("data.src_level", "char | word"), "--tgt-level": ("data.tgt_level", "char | word")},
)

__all__ = ["TASK", "Seq2SeqBundle", "Seq2SeqDataConfig", "decode_pairs", "load_pairs", "strip_stress", "translate",
           "with_test"]
