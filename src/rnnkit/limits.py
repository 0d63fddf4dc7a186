"""Resource limits checked before training starts, each with the option that raises it.

A run that cannot fit should fail in its first second with a sentence, not after minutes of
swapping (a seq2seq batch of 10,000-token lines asks for tens of GB of attention energies). The
estimates here are deliberately simple upper bounds of the activations autograd keeps for one
training batch, in float32:

* :func:`seq2seq_batch_bytes`: attention energies ``B x T x S x (A + 2)`` (additive attention keeps
  its ``tanh`` of size A at every decoder step and source position), logits ``B x T x V`` twice,
  recurrent activations ``B x (S + T) x H x layers x 8``.
* :func:`encoder_batch_bytes`: a classify / regress batch, ``B x T x H x layers x directions x 8``.
* :func:`lm_batch_bytes`: a language-model window, logits ``B x T x V`` twice plus the recurrent part.

:func:`check_memory` compares one with ``train.max_memory_gb`` (None: 80% of the machine's RAM, or of
the GPU's memory when training there). Other limits: the file size (``RNNKIT_MAX_FILE_MB``,
:func:`rnnkit.data.tables.max_file_bytes`) and the generation length (:data:`MAX_GENERATE`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from rnnkit.errors import ConfigError

log = logging.getLogger(__name__)

FLOAT_BYTES = 4
MAX_GENERATE = 1_000_000  # tokens one generate call may produce (a typo such as --length 1e12 is refused)


def memory_budget(train: Any) -> int:
    """Bytes a training batch may use: ``train.max_memory_gb``, else 80% of the GPU's memory when
    training on one, else 80% of physical RAM."""
    if getattr(train, "max_memory_gb", None) is not None:
        return int(train.max_memory_gb * 2**30)
    try:
        import torch

        if getattr(train, "device", "auto") in ("auto", "cuda") and torch.cuda.is_available():
            return int(0.8 * torch.cuda.get_device_properties(0).total_memory)
    except (ImportError, RuntimeError):  # pragma: no cover - a broken CUDA setup: fall back to RAM
        pass
    try:
        return int(0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return 16 * 2**30


def check_memory(need: int, what: str, lower: str, train: Any) -> None:
    """Raise a ConfigError when ``need`` bytes (estimated for ``what``) exceed the budget; ``lower``
    names the settings that shrink the need, and the message names the one that raises the limit."""
    budget = memory_budget(train)
    log.debug("%s: about %.2f GB of %.2f GB", what, need / 2**30, budget / 2**30)
    if need > budget:
        raise ConfigError(f"{what} needs about {need / 2**30:.1f} GB, over the {budget / 2**30:.1f} GB limit; "
                          f"lower {lower}, or raise train.max_memory_gb if the machine has the memory")


def seq2seq_batch_bytes(batch: int, src_len: int, tgt_len: int, tgt_vocab: int, model: Any) -> int:
    """Upper bound of one teacher-forced seq2seq training batch (see the module docstring)."""
    H = model.hidden_size
    attn = {"none": 0, "additive": (model.attn_size or H) + 2}.get(model.attention, 2)
    directions = 2 if model.bidirectional else 1
    floats = (batch * tgt_len * src_len * attn + 2 * batch * tgt_len * tgt_vocab
              + 8 * batch * H * (src_len * directions * model.encoder_layers + tgt_len * model.decoder_layers))
    return FLOAT_BYTES * floats


def encoder_batch_bytes(batch: int, length: int, model: Any) -> int:
    """Upper bound of one classify / regress training batch of ``length`` steps."""
    directions = 2 if model.bidirectional else 1
    width = model.hidden_size * directions * model.num_layers + getattr(model, "embed_dim", 0)
    return FLOAT_BYTES * 8 * batch * length * width * max(1, model.ensemble)


def lm_batch_bytes(batch: int, seq_len: int, vocab: int, model: Any) -> int:
    """Upper bound of one language-model training window: logits ``B x T x V`` twice (the vocabulary
    limit) and the recurrent activations."""
    return FLOAT_BYTES * (2 * batch * seq_len * vocab + 8 * batch * seq_len * model.hidden_size * model.num_layers)


def check_encoder_batch(cfg: Any, lengths: list[int]) -> None:
    """Refuse, before training, a classify / regress batch of the longest inputs that cannot fit."""
    T, B = max(lengths, default=0), min(cfg.train.batch_size, len(lengths))
    check_memory(encoder_batch_bytes(B, T, cfg.model), f"a training batch of {B} inputs of up to {T} steps",
                 "train.batch_size or data.max_len (longer inputs are cut to it)", cfg.train)


def check_generate_length(length: int, option: str = "length") -> None:
    """A generation length must be 1 .. MAX_GENERATE tokens."""
    if not 1 <= length <= MAX_GENERATE:
        raise ConfigError(f"{option}={length} is out of range; allowed: [1, {MAX_GENERATE}] tokens")


__all__ = ["MAX_GENERATE", "check_encoder_batch", "check_generate_length", "check_memory", "encoder_batch_bytes",
           "lm_batch_bytes", "memory_budget", "seq2seq_batch_bytes"]
