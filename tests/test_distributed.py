"""Data-parallel training (DDP under torchrun, gloo on loopback) is the same training as one process.

Claims: 2 ranks x batch B/2 reach the weights of 1 process x batch B after the same steps, for the char
LM (TBPTT streams split across ranks, each carrying its own state) and for a classifier (padded
batches, an uneven last batch weighted by its rows); a worker SIGKILLed mid-run under
``torchrun --max-restarts=1`` resumes from the last checkpoint to bitwise the uninterrupted weights.
The runs themselves live in ``tests/distributed_worker.py``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.train import distributed as D

sys.path.insert(0, str(Path(__file__).parent))
import distributed_worker as worker  # noqa: E402

pytestmark = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason="needs torch.distributed with gloo")
TOL = 1e-5  # fp32: the all-reduce sums the two half-batch gradients in another order


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(mode: str, out: Path, *extra: str) -> str:
    """Run the worker on 2 local ranks (loopback, 1 thread each); returns its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RNNKIT_FAULT", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", *extra,
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           str(Path(__file__).parent / "distributed_worker.py"), mode, str(out)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout + p.stderr


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    torchrun("equiv", out)
    return out


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.mark.parametrize("name, train", [("lm", worker.train_lm), ("clf", worker.train_classifier)])
def test_two_ranks_match_one_process(two_ranks: Path, one_thread: None, name: str, train) -> None:
    ref = train()  # 1 process x the global batch, same data order
    got = torch.load(two_ranks / f"{name}.pt")
    diff = _max_diff(got, ref)
    print(f"{name}: max |w(2 ranks x {worker.BATCH // 2}) - w(1 x {worker.BATCH})| after {worker.STEPS} steps "
          f"= {diff:.3g}")
    assert diff < TOL, f"{name}: max abs difference {diff:.3g}"


def test_estimator_fit_under_torchrun(two_ranks: Path, one_thread: None) -> None:
    """A script calling LanguageModel.fit trains data-parallel unchanged: both ranks return the same
    model, the one a single process trains (within fp32 tolerance)."""
    ranks = [torch.load(two_ranks / f"estimator_rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(ranks[0][k], ranks[1][k]) for k in ranks[0])
    diff = _max_diff(ranks[0], worker.train_estimator())
    print(f"estimator: max abs difference to 1 process = {diff:.3g}")
    assert diff < TOL


def test_forecast_combination_under_torchrun(two_ranks: Path) -> None:
    """The forecast's probes after a data-parallel fit run on rank 0 alone and finish (they once waited
    for rank 1 in a collective it never joined): combine.json and metrics.json are written."""
    run = two_ranks / "forecast"
    chosen = json.loads((run / "combine.json").read_text())
    assert chosen["rule"] == "auto" and set(chosen["val_mase"]) >= {"network", "ets"}
    assert "combination" in json.loads((run / "metrics.json").read_text())


def test_killed_worker_resumes_to_the_same_weights(two_ranks: Path, tmp_path: Path) -> None:
    log = torchrun("fault", tmp_path, "--max-restarts", "1")
    last_ckpt = worker.KILL_AT // worker.EVAL_EVERY * worker.EVAL_EVERY
    assert f"resuming at step {last_ckpt}" in log, log[-3000:]
    restarted, uninterrupted = torch.load(tmp_path / "lm_restarted.pt"), torch.load(two_ranks / "lm.pt")
    assert all(torch.equal(restarted[k], uninterrupted[k]) for k in uninterrupted)


# --------------------------------------------------------------------------- no processes needed

class _Stream:
    carries_state = True

    def __init__(self, rows: int = 6) -> None:
        self.x = torch.arange(rows * 8).view(rows, 8)

    def __len__(self) -> int:
        return 4

    def epoch(self, epoch: int, start: int = 0):
        for s in range(start * 2, 8, 2):
            yield self.x[:, s:s + 2], self.x[:, s:s + 2] + 1


def test_ranks_own_contiguous_streams_every_window() -> None:
    for rank, rows in ((0, [0, 1, 2]), (1, [3, 4, 5])):
        shard = D.ShardedData(_Stream(), D.DistEnv(rank=rank, world=2))
        batches = list(shard.epoch(0))
        assert len(batches) == 4 and shard.carries_state
        for k, ((x, y), weight) in enumerate(batches):
            assert weight == 1.0
            assert torch.equal(x, _Stream().x[rows, 2 * k:2 * k + 2]) and torch.equal(y, x + 1)
        resumed = list(shard.epoch(0, start=3))
        assert len(resumed) == 1 and torch.equal(resumed[0][0][0], batches[3][0][0])


class _Padded:
    carries_state = False

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def epoch(self, epoch: int, start: int = 0):
        for i, n in enumerate(self.sizes[start:], start):
            yield {"x": torch.full((n, 3), float(i)), "lengths": torch.full((n,), 3), "scale": torch.tensor(2.0)}


def test_uneven_and_too_small_batches() -> None:
    shards = [list(D.ShardedData(_Padded([4, 1, 5]), D.DistEnv(rank=r, world=2)).epoch(0)) for r in (0, 1)]
    # the 1-row batch is skipped by both ranks; the 5-row batch splits 2 + 3, weighted 0.8 / 1.2
    assert [len(s) for s in shards] == [2, 2]
    assert [b["x"].shape[0] for b, _ in shards[0]] == [2, 2] and [b["x"].shape[0] for b, _ in shards[1]] == [2, 3]
    assert [w for _, w in shards[0]] == [1.0, 0.8] and [w for _, w in shards[1]] == [1.0, 1.2]
    assert float(shards[1][1][0]["x"][0, 0]) == 2.0 and float(shards[1][1][0]["scale"]) == 2.0
    resumed = list(D.ShardedData(_Padded([4, 1, 5]), D.DistEnv(rank=1, world=2)).epoch(0, start=1))
    assert len(resumed) == 1 and torch.equal(resumed[0][0]["x"], shards[1][1][0]["x"])


def test_environment_and_restart_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "TORCHELASTIC_RESTART_COUNT"):
        monkeypatch.delenv(k, raising=False)
    assert D.dist_env() == D.DistEnv() and not D.dist_env().active and D.is_main()
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert D.dist_env() == D.DistEnv(rank=3, world=4, local_rank=0, local_world=2) and not D.is_main()
    assert D.threads_per_process(10_000) == 1
    assert not D.auto_resume(tmp_path, False)  # first attempt: never
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert not D.auto_resume(tmp_path, False)  # restarted, but nothing published yet: start fresh


# --------------------------------------------------------------------------- rnnkit train --nproc

def test_nproc_reruns_the_command_under_torchrun() -> None:
    from rnnkit.cli import torchrun_command

    cmd = torchrun_command(2, ["train", "charlm", "--nproc", "2", "--set", "train.lr=1e-3", "--max-restarts=1"],
                           None, "charlm", max_restarts=1)
    assert cmd[1:7] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=1",
                        "-m"]
    rest = cmd[7:]
    assert rest[:5] == ["rnnkit", "train", "charlm", "--set", "train.lr=1e-3"]
    assert rest[5] == "--out" and rest[6].startswith("runs/charlm-")  # one run directory for every rank


def test_cli_train_nproc_2(tmp_path: Path) -> None:
    """`rnnkit train charlm --nproc 2`: one rank prints, the run directory is complete and loadable."""
    import rnnkit

    (tmp_path / "tiny.txt").write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 40)
    sets = ["train.max_steps=6", "train.eval_every=3", "train.batch_size=4", "train.seq_len=20",
            "model.hidden_size=16", "model.embed_dim=8", "model.num_layers=1", "data.val_chars=none"]
    cmd = [sys.executable, "-m", "rnnkit", "train", "charlm", "--data", "tiny.txt", "--out", "run", "--sample", "0",
           "--nproc", "2", *(a for s in sets for a in ("--set", s))]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert p.stdout.count("saved to run") == 1 and "stopped: max_steps after 6 steps" in p.stdout
    est = rnnkit.load(tmp_path / "run")
    assert est.model_ is not None and est.artifacts_
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 6 and not (tmp_path / "run" / "run.lock").exists()


def test_token_file_streams_train_the_same_under_two_ranks(two_ranks: Path) -> None:
    """Each rank reading only its own streams of a memory-mapped token file = the sharded in-memory streams."""
    from_file, in_memory = torch.load(two_ranks / "lm_tokenfile.pt"), torch.load(two_ranks / "lm.pt")
    assert all(torch.equal(from_file[k], in_memory[k]) for k in in_memory)
