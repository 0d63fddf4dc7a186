"""Char LM training throughput, one process against data-parallel processes (DDP under torchrun).

The global batch is the same in both (``--batch`` streams x ``--seq-len``), so the runs do the same
work per step; the tokens/s is the whole job's (the ranks' counts are summed). Usage (2 cores):

    flock /tmp/rnnkit-cpu.lock python scripts/bench_ddp_throughput.py --threads 2
    flock /tmp/rnnkit-cpu.lock torchrun --standalone --nproc-per-node 2 scripts/bench_ddp_throughput.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

import torch

from rnnkit.config import TrainConfig
from rnnkit.data.charlm import CharTokenizer, StreamBatches, load_corpus
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.train import fit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    corpus = load_corpus("shakespeare")
    tok = CharTokenizer.fit(corpus.train)
    data = StreamBatches(tok.encode(corpus.train), a.batch, a.seq_len)
    cfg = TrainConfig(batch_size=a.batch, seq_len=a.seq_len, lr=2e-3, max_steps=a.steps, eval_every=10**9,
                      log_every=50, schedule="none", grad_clip=1.0, device="cpu", num_threads=a.threads)
    mcfg = CharLMConfig(hidden_size=a.hidden, num_layers=1, embed_dim=a.embed, dropout=0.0)

    def run(steps: int) -> float:
        torch.manual_seed(0)
        return fit(CharLM(mcfg, tok.vocab_size, tok), data, replace(cfg, max_steps=steps)).items_per_s

    run(5)  # warm-up: allocator, oneDNN primitives, the process group
    speeds = [run(a.steps) for _ in range(a.rounds)]
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps({"processes": int(os.environ.get("WORLD_SIZE", "1")), "threads_per_process": a.threads,
                          "config": vars(a), "tokens_per_s": speeds, "best": max(speeds)}))


if __name__ == "__main__":
    main()
