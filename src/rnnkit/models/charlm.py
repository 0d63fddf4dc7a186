"""Character-level language model (char-rnn, Karpathy 2015; Graves 2013):

    e_t    = Embedding(c_t)                              # (B, T, E)
    h_t, s = Stack(cell)(e_t, s)                         # (B, T, H)  any cell from the core
    logits = Linear(Dropout(h_t))                        # (B, T, V)  optionally tied to Embedding
    loss   = mean_t CE(logits_t, c_{t+1});  bpc = loss / ln 2

Generation runs the prompt as one sequence, then steps the recurrent state one character at a time
(O(1) per character, the prefix is never re-run) through the no-grad single-step path
(``rnnkit.layers.step``: packed weights, one native call per step for lstm/gru/rnn stacks), and
yields each character as it is produced, so callers can stream it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.errors import ConfigError
from rnnkit.layers import Stack
from rnnkit.layers.step import StepRunner, use_runner
from rnnkit.limits import check_generate_length

LN2 = math.log(2.0)


@dataclass(frozen=True)
class CharLMConfig:
    cell: str = "lstm"
    hidden_size: int = 512
    num_layers: int = 2
    embed_dim: int = 64
    dropout: float = 0.1  # between layers and before the output layer
    weight_dropout: float = 0.0  # DropConnect on the recurrent weights (AWD-LSTM)
    tie_weights: bool = False  # output layer shares the embedding (needs embed_dim == hidden_size)
    impl: str = "auto"  # auto | fused | explicit | scan (see Stack.explain_backend)

    #: allowed values, checked by rnnkit.config.check_ranges when the config is loaded
    RANGES: ClassVar[dict[str, str]] = {
        "hidden_size": "[1, inf)", "num_layers": "[1, inf)", "embed_dim": "[1, inf)",
        "dropout": "[0, 1)", "weight_dropout": "[0, 1)",
    }


class CharLM(nn.Module):
    """Embedding -> Stack -> dropout -> linear; `loss` for fit(), `generate` for sampling."""

    def __init__(self, config: CharLMConfig, vocab_size: int, tokenizer: Any = None) -> None:
        super().__init__()
        self.config, self.vocab_size, self.tokenizer = config, vocab_size, tokenizer
        self.embed = nn.Embedding(vocab_size, config.embed_dim)
        try:
            self.rnn = Stack(config.cell, config.embed_dim, config.hidden_size, config.num_layers,
                             dropout=config.dropout if config.num_layers > 1 else 0.0,  # also before the head
                             impl=config.impl, weight_dropout=config.weight_dropout)
        except ValueError as e:
            raise ConfigError(f"model: {e}") from None
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.rnn.output_size, vocab_size)
        if config.tie_weights:
            if config.embed_dim != self.rnn.output_size:
                raise ConfigError(f"model.tie_weights needs model.embed_dim == hidden_size "
                                  f"({config.embed_dim} != {self.rnn.output_size})")
            self.head.weight = self.embed.weight

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h, state = self.rnn(self.embed(x), state)  # (B, T, H)
        return self.head(self.drop(h)), state  # (B, T, V)

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor], state: Any = None
             ) -> tuple[torch.Tensor, Any, dict[str, torch.Tensor]]:
        """Mean next-character cross-entropy (nats); metrics are sums for exact averaging."""
        x, y = batch
        logits, state = self(x, state)
        nll = F.cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1), reduction="sum")
        count = torch.tensor(float(y.numel()), device=nll.device)
        return nll / count, state, {"nll_sum": nll.detach(), "bits_sum": nll.detach() / LN2, "count": count}

    def explain_backend(self) -> str:
        return self.rnn.explain_backend()

    def step_runner(self) -> StepRunner | None:
        """The single-step path for generation now (None while gradients are on or when tracing:
        then steps go through the Stack's forward). Build one per generation: it snapshots weights."""
        return StepRunner.from_stack(self.rnn) if use_runner(self.rnn) else None

    def step(self, token: torch.Tensor, state: Any, runner: StepRunner | None = None) -> tuple[torch.Tensor, Any]:
        """Logits ``(B, V)`` after one token per row ``token (B,)`` and the carried state; through
        ``runner`` when given, else as a T=1 forward (same numbers to float rounding)."""
        e = self.embed(token)
        if runner is None:
            h, state = self.rnn(e[:, None], state)
            h = h[:, 0]
        else:
            h, state = runner(e, state)
        return self.head(self.drop(h)), state

    @torch.no_grad()
    def generate(self, prompt: str = "", length: int = 200, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, greedy: bool = False) -> Iterator[str]:
        """Yield `length` tokens (characters, or words for a word-level model) continuing `prompt`
        (tokens outside the vocabulary are read as `<unk>`). temperature=0 or greedy=True takes the
        most likely one."""
        if self.tokenizer is None:
            raise ConfigError("this model has no tokenizer attached (load it with rnnkit.load)")
        if temperature < 0 or (top_p is not None and not 0 < top_p <= 1) or (top_k is not None and top_k < 1):
            raise ConfigError("need temperature >= 0, 0 < top_p <= 1 and top_k >= 1")
        check_generate_length(length, "length (--length)")
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        gen = torch.Generator(device=device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ())))
        ids = self.tokenizer.encode(prompt or "\n").to(device)
        if not len(ids):
            ids = self.tokenizer.encode("\n").to(device)
        logits, state = self(ids.view(1, -1))  # the prompt in one call
        logits, previous = logits[0, -1], int(ids[-1])
        runner = self.step_runner()
        try:
            for _ in range(length):
                nxt = _pick(logits, temperature, top_k, top_p, greedy, gen)
                yield self.tokenizer.decode_piece(nxt, previous)
                logits, state = self.step(torch.tensor([nxt], device=device), state, runner)  # one step
                logits, previous = logits[0], nxt
        finally:
            self.train(was_training)


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None,
          greedy: bool, gen: torch.Generator) -> int:
    """Next id from (V,) logits: greedy, or sampling after temperature, top-k and nucleus filters."""
    logits = logits.clone()
    logits[0] = -math.inf  # never emit <unk>
    if greedy or temperature == 0:
        return int(logits.argmax())
    logits = logits.double() / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = -math.inf
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = torch.softmax(sorted_logits, -1).cumsum(-1)
        drop = cum - torch.softmax(sorted_logits, -1) >= top_p  # keep the smallest set reaching top_p
        logits[order[drop]] = -math.inf
    probs = torch.softmax(logits, -1)
    return int(torch.multinomial(probs, 1, generator=gen))
