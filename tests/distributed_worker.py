"""The training runs of tests/test_distributed.py: run by ``torchrun`` (2 ranks) and in-process (1).

``python -m torch.distributed.run --nproc-per-node 2 tests/distributed_worker.py MODE OUT``:
``equiv`` trains the char LM (TBPTT streams) and the classifier (padded batches) and saves the
final weights to OUT/lm.pt and OUT/clf.pt, then the char LM again from a token file
(OUT/lm_tokenfile.pt) and a LanguageModel estimator (OUT/estimator_rank{0,1}.pt); ``fault`` trains
the char LM into OUT/run with checkpoints, rank 1 killing itself (SIGKILL) at step ``KILL_AT`` of
its first attempt.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import torch

from rnnkit.config import TrainConfig
from rnnkit.data.charlm import StreamBatches
from rnnkit.data.classify import ClassBatches
from rnnkit.data.tokenfile import TokenStreams, write_token_ids
from rnnkit.models.charlm import CharLM, CharLMConfig
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.train import fit

STEPS, EVAL_EVERY, KILL_AT = 20, 5, 12
BATCH = 8  # the global batch: 2 ranks x 4 or 1 process x 8


def train_cfg(**kw: object) -> TrainConfig:
    base = {"batch_size": BATCH, "lr": 3e-3, "max_steps": STEPS, "eval_every": EVAL_EVERY, "log_every": 5,
            "grad_clip": 1.0, "device": "cpu", "num_threads": 1, "seed": 3, "max_minutes": None}
    return TrainConfig(**{**base, **kw})


def lm_ids() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(1, 20, size=BATCH * 200 + 1))


def train_lm(run_dir: Path | None = None, token_file: Path | None = None) -> dict[str, torch.Tensor]:
    """A 1-layer LSTM char LM on 8 TBPTT streams of a seeded random text (crosses an epoch end), from
    memory or from a memory-mapped token file of the same ids (each rank reading its own streams)."""
    if token_file is None:
        data = StreamBatches(lm_ids(), BATCH, seq_len=16)
    else:
        data = TokenStreams(token_file, BATCH, seq_len=16)
    torch.manual_seed(3)  # every rank builds the same initial weights
    model = CharLM(CharLMConfig(cell="lstm", hidden_size=24, num_layers=1, embed_dim=8, dropout=0.0), 20)
    fit(model, data, train_cfg(), run_dir=run_dir)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_classifier() -> dict[str, torch.Tensor]:
    """A GRU classifier with mean pooling over padded batches; 61 examples, so each epoch ends with
    a 5-row batch that 2 ranks split 2 + 3 (weighted shards)."""
    g = np.random.default_rng(1)
    seqs = [g.integers(1, 12, size=int(g.integers(3, 16))).tolist() for _ in range(61)]
    labels = [int(sum(s) % 3) for s in seqs]
    data = ClassBatches(seqs, labels, BATCH, seed=5)
    torch.manual_seed(4)
    cfg = ClassifierConfig(cell="gru", hidden_size=16, embed_dim=8, pooling="mean")
    model = SequenceClassifier(cfg, 3, vocab_size=12)
    fit(model, data, train_cfg())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_estimator() -> dict[str, torch.Tensor]:
    """The public API, unchanged: a LanguageModel's fit, data-parallel when torchrun starts the script."""
    from rnnkit.estimators import LanguageModel

    text = "To be, or not to be, that is the question.\n" * 60
    est = LanguageModel(hidden_size=16, embed_dim=8, num_layers=1, batch_size=8, seq_len=20, max_steps=6,
                        dropout=0.0, random_state=2, verbose=0).fit(text)
    return {k: v.detach().clone() for k, v in est.model_.state_dict().items()}


def train_forecast(out: Path) -> None:
    """A forecast run with model.combine=auto: rank 0 alone re-trains the probes after the data-parallel fit
    (in its own process: they must not wait for rank 1 in a collective)."""
    import numpy as np

    from rnnkit.tasks import make_run_config, train_run

    t = np.arange(60)
    csv = out / f"series{os.environ.get('RANK')}.csv"
    csv.write_text("date,y\n" + "".join(f"{2000 + i // 12}-{i % 12 + 1:02d},{10 + np.sin(i / 2):.4f}\n" for i in t))
    cfg = make_run_config("forecast", ["data.horizon=6", "data.context=12", "data.val_size=0", "train.max_steps=5",
                                       "train.eval_every=5", "train.batch_size=8", "model.hidden_size=4",
                                       "model.ensemble=1", "model.combine=auto", "data.baselines=seasonal_naive,ets"],
                          data=str(csv))
    train_run(cfg, out / "forecast")


def main(mode: str, out: Path) -> None:
    logging.basicConfig(level=logging.INFO, format=f"[rank {os.environ.get('RANK')}] %(name)s: %(message)s")
    main_rank = os.environ.get("RANK", "0") == "0"
    if mode == "equiv":
        lm, clf = train_lm(), train_classifier()
        if main_rank:
            write_token_ids([lm_ids().numpy()], 20, out / "ids.bin")
        torch.distributed.barrier()  # the process group stays open after fit
        from_file = train_lm(token_file=out / "ids.bin")
        est = train_estimator()
        torch.save(est, out / f"estimator_rank{os.environ.get('RANK')}.pt")
        if main_rank:
            torch.save(lm, out / "lm.pt")
            torch.save(from_file, out / "lm_tokenfile.pt")
            torch.save(clf, out / "clf.pt")
        train_forecast(out)
        torch.distributed.barrier()
    elif mode == "fault":
        if os.environ.get("RANK") == "1" and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
            os.environ["RNNKIT_FAULT"] = f"step:{KILL_AT}"  # rnnkit.faults: SIGKILL after that step
        lm = train_lm(out / "run")
        if main_rank:
            torch.save(lm, out / "lm_restarted.pt")
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
