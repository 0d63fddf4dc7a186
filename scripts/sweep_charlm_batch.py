"""Equal-time sweep of batch size, window length and learning rate for the char-LM recipe.

Each configuration trains a 1-layer LSTM-256 for the same wall-clock budget (one thread, cosine
schedule following the clock) and is scored on the first 100k validation characters. Usage:

    flock /tmp/rnnkit-cpu.lock python scripts/sweep_charlm_batch.py 2     # minutes per config
"""

import json
import math
import sys

import torch

from rnnkit.apps.charlm import stream_nll
from rnnkit.config import TrainConfig
from rnnkit.data.charlm import CharTokenizer, StreamBatches, load_corpus
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.train import fit

CONFIGS = [dict(B=32, T=100, lr=3e-3), dict(B=16, T=100, lr=3e-3), dict(B=32, T=50, lr=3e-3),
           dict(B=32, T=100, lr=6e-3), dict(B=16, T=50, lr=4e-3)]


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    torch.set_num_threads(1)
    corpus = load_corpus("shakespeare")
    tok = CharTokenizer.fit(corpus.train)
    train, valid = tok.encode(corpus.train), tok.encode(corpus.valid)[:100_000]
    for c in CONFIGS:
        torch.manual_seed(0)
        model = CharLM(CharLMConfig(hidden_size=256, num_layers=1, embed_dim=64, dropout=0.0), tok.vocab_size, tok)
        cfg = TrainConfig(batch_size=c["B"], seq_len=c["T"], lr=c["lr"], warmup_steps=50, max_steps=10**6,
                          max_minutes=minutes, eval_every=10**9, log_every=50, device="cpu", num_threads=1)
        r = fit(model, StreamBatches(train, c["B"], c["T"]), cfg)
        bpc = stream_nll(model, valid, 16, 200) / math.log(2)
        print(json.dumps({**c, "steps": r.steps, "tok_s": round(r.items_per_s), "val_bpc": round(bpc, 4)}),
              flush=True)


if __name__ == "__main__":
    main()
