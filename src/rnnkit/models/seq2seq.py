"""Encoder-decoder with attention (Bahdanau et al. 2015; Luong et al. 2015).

Reads top to bottom as the architecture::

    encoder:  e = Embed(x);  (k_1..k_S), s_S = Stack(e, lengths)          # bidirectional allowed
    bridge:   decoder state_0 = tanh(W_b [s_S(fwd); s_S(bwd)])            # top encoder layer, per field
    step t:   h_t = DecoderCells([Embed(y_{t-1}); h~_{t-1}], state)        # input feeding (Luong 3.3)
              c_t, a_t = Attention(h_t, k, mask)                          # masked: padding gets weight 0
              h~_t = tanh(W_c [c_t; h_t]);   p(y_t) = softmax(W_o h~_t)

``attention="none"`` keeps everything but replaces ``c_t`` by the fixed encoder summary (the top
layer's final states), i.e. the Cho et al. 2014 encoder-decoder, so the gain from attention is
measured with one switch. Teacher forcing feeds the reference ``y_{t-1}``; with a ratio below 1
(scheduled sampling, Bengio et al. 2015) each example feeds its own argmax with probability
``1 - ratio``, the ratio decaying linearly over ``teacher_forcing_decay_steps`` training steps.
Decoding (greedy, beam search) lives in :mod:`rnnkit.models.seq2seq_decode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells import CELLS, State, build_cell
from rnnkit.data.seq2seq import PAD, PairBatch
from rnnkit.errors import ConfigError
from rnnkit.layers.attention import ATTENTION, build_attention
from rnnkit.layers.masks import lengths_to_mask
from rnnkit.layers.stack import Stack
from rnnkit.layers.step import StepRunner, use_runner

ATTENTIONS = ("none", *ATTENTION)


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Model settings of the seq2seq task (``[model]`` in a recipe)."""

    cell: str = "lstm"
    embed_size: int = 64
    hidden_size: int = 128
    encoder_layers: int = 1
    decoder_layers: int = 1
    bidirectional: bool = True
    attention: str = "additive"  # none | additive | dot | general | scaled_dot
    attn_size: int = 0  # additive only; 0 = decoder hidden size
    input_feeding: bool = True
    share_embeddings: bool = False  # one vocabulary and embedding table for both sides
    dropout: float = 0.0
    impl: str = "auto"  # encoder Stack implementation
    teacher_forcing: float = 1.0  # initial ratio of reference inputs
    teacher_forcing_min: float = 1.0  # ratio reached after the decay
    teacher_forcing_decay_steps: int = 0
    beam_size: int = 1  # decoding used by evaluation / translate
    length_penalty: float = 0.0  # GNMT alpha; 0 = raw log-probability
    max_decode_len: int = 0  # 0 = 2 * source length + 10

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "embed_size": "[1, inf)", "hidden_size": "[1, inf)", "encoder_layers": "[1, inf)",
        "decoder_layers": "[1, inf)", "attn_size": "[0, inf)", "dropout": "[0, 1)",
        "teacher_forcing": "[0, 1]", "teacher_forcing_min": "[0, 1]", "teacher_forcing_decay_steps": "[0, inf)",
        "beam_size": "[1, 1000]", "length_penalty": "[0, inf)", "max_decode_len": "[0, 100000]",
    }

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ConfigError(f"model.attention={self.attention!r} is not valid; choose one of: "
                              f"{', '.join(ATTENTIONS)}")
        if self.cell not in CELLS:
            raise ConfigError(f"model.cell={self.cell!r} is not valid; choose one of: {', '.join(CELLS)}")


class Memory(NamedTuple):
    """What every decoder step reads: encoder outputs, their mask, precomputed keys, the summary."""

    keys: Tensor  # (B, S, K) encoder outputs
    mask: Tensor  # (B, S) bool, True = real token
    projected: Tensor | None  # attention's precompute_keys(keys), or None without attention
    summary: Tensor  # (B, D*H) top encoder layer's final hidden states


class Seq2Seq(nn.Module):
    """Attention encoder-decoder; ``loss(batch)`` is teacher-forced cross-entropy per target token."""

    def __init__(self, config: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> None:
        super().__init__()
        self.config = c = config
        if c.share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ConfigError("model.share_embeddings needs one shared vocabulary for both sides, got "
                              f"{src_vocab_size} source and {tgt_vocab_size} target tokens")
        self.src_embed = nn.Embedding(src_vocab_size, c.embed_size, padding_idx=PAD)
        self.tgt_embed = self.src_embed if c.share_embeddings else nn.Embedding(
            tgt_vocab_size, c.embed_size, padding_idx=PAD)
        try:
            self.encoder = Stack(c.cell, c.embed_size, c.hidden_size, c.encoder_layers, c.bidirectional,
                                 dropout=c.dropout if c.encoder_layers > 1 else 0.0, impl=c.impl)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        D, H = self.encoder.num_directions, c.hidden_size
        n_fields = len(CELLS[c.cell].state_type._fields)
        self.bridge = nn.ModuleList(nn.Linear(D * H, c.decoder_layers * H) for _ in range(n_fields))
        feed = H if c.input_feeding else 0
        self.cells = nn.ModuleList(build_cell(c.cell, c.embed_size + feed if i == 0 else H, H)
                                   for i in range(c.decoder_layers))
        key_size = self.encoder.output_size
        try:
            self.attn = None if c.attention == "none" else build_attention(
                c.attention, H, key_size, (c.attn_size or H) if c.attention == "additive" else None)
        except ValueError as e:  # e.g. dot attention between sizes that differ
            raise ConfigError(f"model.attention={c.attention!r}: {e} (a bidirectional encoder's outputs "
                              f"are {key_size} wide, the decoder state {H})") from None
        ctx_size = key_size if self.attn is not None else D * H
        self.combine = nn.Linear(ctx_size + H, H)
        self.out = nn.Linear(H, tgt_vocab_size)
        self.drop = nn.Dropout(c.dropout)
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------------- encoder
    def encode(self, src: Tensor, src_len: Tensor) -> tuple[Memory, list[State], Tensor]:
        """-> (memory, initial decoder state per layer, initial input-feeding vector (B, H))."""
        B, H, L = src.shape[0], self.config.hidden_size, self.config.decoder_layers
        keys, state = self.encoder(self.drop(self.src_embed(src)), lengths=src_len)  # (B, S, K)
        D = self.encoder.num_directions
        top = [f[-D:].transpose(0, 1).reshape(B, D * H) for f in state]  # per field (B, D*H)
        init = [b(f).view(B, L, H).transpose(0, 1) for b, f in zip(self.bridge, top)]  # (L, B, H)
        init[0] = torch.tanh(init[0])  # h in (-1, 1) as a cell's own output; c stays linear
        st_type = type(state)
        states = [st_type(*(f[i] for f in init)) for i in range(L)]
        mask = lengths_to_mask(src_len, src.shape[1])
        projected = self.attn.precompute_keys(keys) if self.attn is not None else None
        return Memory(keys, mask, projected, top[0]), states, keys.new_zeros(B, H)

    # ----------------------------------------------------------------- one decoder step
    def decoder_runner(self) -> StepRunner | None:
        """The decoder cells' no-grad single-step path for decoding now, or None (gradients on,
        tracing, or training-mode dropout between the cells): then ``step`` calls each cell.
        Build one per decoding call: it snapshots the weights."""
        if not use_runner(self) or (self.training and self.config.dropout > 0):
            return None
        return StepRunner(list(self.cells))

    def step(self, y_prev: Tensor, states: list[State], feed: Tensor, memory: Memory,
             runner: StepRunner | None = None) -> tuple[Tensor, list[State], Tensor, Tensor | None]:
        """One target token: ``y_prev (B,)`` -> (logits (B, V), states, h~ (B, H), weights (B, S) | None).
        ``runner`` (``decoder_runner()``) steps all decoder cells in one call; same numbers."""
        x = self.drop(self.tgt_embed(y_prev))
        if self.config.input_feeding:
            x = torch.cat([x, feed], -1)
        if runner is not None:
            h, new = runner.layers(x, states)
        else:
            new = []
            for i, cell in enumerate(self.cells):
                h, st = cell(x, states[i])
                new.append(st)
                x = self.drop(h) if i < len(self.cells) - 1 else h
        if self.attn is not None:
            ctx, weights = self.attn(h, memory.keys, mask=memory.mask, projected_keys=memory.projected)
        else:
            ctx, weights = memory.summary, None
        h_tilde = torch.tanh(self.combine(torch.cat([ctx, h], -1)))  # (B, H)
        return self.out(self.drop(h_tilde)), new, h_tilde, weights

    # ----------------------------------------------------------------- training
    def teacher_forcing_ratio(self) -> float:
        """Current ratio: linear from ``teacher_forcing`` to ``teacher_forcing_min`` over the decay."""
        c = self.config
        if c.teacher_forcing_decay_steps <= 0:
            return c.teacher_forcing
        frac = min(1.0, float(self.train_steps) / c.teacher_forcing_decay_steps)
        return c.teacher_forcing + (c.teacher_forcing_min - c.teacher_forcing) * frac

    def forward(self, batch: PairBatch) -> Tensor:
        """Logits ``(B, T, V)`` for every target position, under the current teacher-forcing ratio."""
        memory, states, feed = self.encode(batch.src, batch.src_len)
        ratio = self.teacher_forcing_ratio() if self.training else 1.0
        y, logits = batch.tgt_in[:, 0], []
        for t in range(batch.tgt_in.shape[1]):
            lg, states, feed, _ = self.step(y, states, feed, memory)
            logits.append(lg)
            if t + 1 < batch.tgt_in.shape[1]:
                y = batch.tgt_in[:, t + 1]
                if ratio < 1.0:
                    own = torch.rand(y.shape, device=y.device) >= ratio
                    y = torch.where(own, lg.argmax(-1), y)
        return torch.stack(logits, 1)

    def loss(self, batch: PairBatch, state: object = None) -> tuple[Tensor, None, dict[str, Tensor]]:
        """Mean cross-entropy per real target token (``<eos>`` included, padding excluded)."""
        logits = self(batch)  # (B, T, V)
        mask = batch.tgt_out != PAD
        nll = F.cross_entropy(logits.transpose(1, 2), batch.tgt_out, reduction="none")[mask]  # (N,)
        correct = (logits.argmax(-1) == batch.tgt_out)[mask]
        if self.training:
            self.train_steps += 1
        count = mask.sum()
        metrics = {"nll_sum": nll.detach().sum(), "tok_acc_sum": correct.sum().float(), "count": count}
        return nll.mean(), None, metrics

    # ----------------------------------------------------------------- decoding
    def generate(self, src: Tensor, src_len: Tensor, beam_size: int | None = None,
                 length_penalty: float | None = None, max_len: int | None = None) -> list[list[int]]:
        """Decode a batch (greedy for beam 1); returns token ids per example, without ``<eos>``."""
        from rnnkit.models.seq2seq_decode import beam_search, greedy

        c = self.config
        beam = beam_size or c.beam_size
        max_len = max_len or c.max_decode_len or int(src_len.max()) * 2 + 10
        if beam == 1:
            return greedy(self, src, src_len, max_len)[0]
        lp = c.length_penalty if length_penalty is None else length_penalty
        return beam_search(self, src, src_len, beam, lp, max_len)


__all__ = ["ATTENTIONS", "Memory", "Seq2Seq", "Seq2SeqConfig"]
