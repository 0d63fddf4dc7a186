"""Training throughput of rnnkit's fit() + CharLM against a minimal bare-PyTorch loop.

Same model shape (Embedding -> LSTM -> Linear), same optimiser (Adam, grad clip 1.0), same batch
and window, same data stream (carried, detached state), alternated in one process so both see
the same machine load. Usage:

    flock /tmp/rnnkit-cpu.lock python scripts/bench_charlm_throughput.py --steps 150 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.config import TrainConfig
from rnnkit.data.charlm import CharTokenizer, StreamBatches, load_corpus
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.train import fit


class Bare(nn.Module):
    def __init__(self, V: int, E: int, H: int, L: int) -> None:
        super().__init__()
        self.emb, self.lstm, self.out = nn.Embedding(V, E), nn.LSTM(E, H, L, batch_first=True), nn.Linear(H, V)

    def forward(self, x, state=None):
        h, state = self.lstm(self.emb(x), state)
        return self.out(h), state


def bare_loop(model: Bare, data: StreamBatches, steps: int, lr: float) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    state, n, it = None, 0, data.epoch(0)
    t0 = time.perf_counter()
    for _ in range(steps):
        x, y = next(it)
        logits, state = model(x, state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state = tuple(s.detach() for s in state)
        n += y.numel()
    float(loss.detach())  # sync
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    corpus = load_corpus("shakespeare")
    tok = CharTokenizer.fit(corpus.train)
    data = StreamBatches(tok.encode(corpus.train), a.batch, a.seq_len)
    cfg = TrainConfig(batch_size=a.batch, seq_len=a.seq_len, lr=2e-3, max_steps=a.steps, eval_every=10**9,
                      log_every=50, schedule="none", grad_clip=1.0, device="cpu", num_threads=a.threads)
    mcfg = CharLMConfig(hidden_size=a.hidden, num_layers=a.layers, embed_dim=a.embed, dropout=0.0)
    def run_rnnkit(steps: int) -> float:
        torch.manual_seed(0)
        return fit(CharLM(mcfg, tok.vocab_size, tok), data, replace(cfg, max_steps=steps)).items_per_s

    def run_bare(steps: int) -> float:
        torch.manual_seed(0)
        return bare_loop(Bare(tok.vocab_size, a.embed, a.hidden, a.layers), data, steps, 2e-3)

    run_rnnkit(5), run_bare(5)  # warm-up: allocator, oneDNN primitives
    results: dict[str, list[float]] = {"rnnkit": [], "bare": []}
    for i in range(a.rounds):  # alternate the order so drifting load hits both alike
        order = [("rnnkit", run_rnnkit), ("bare", run_bare)][:: 1 if i % 2 == 0 else -1]
        for name, fn in order:
            results[name].append(fn(a.steps))
    med = {k: sorted(v)[len(v) // 2] for k, v in results.items()}
    print(json.dumps({"config": vars(a), "tokens_per_s": results, "median": med,
                      "ratio_rnnkit_over_bare": med["rnnkit"] / med["bare"],
                      "backend": CharLM(mcfg, tok.vocab_size, tok).explain_backend()}, indent=1))


if __name__ == "__main__":
    main()
