"""fit(): learns, resumes to the same weights, stops early / on time, detaches carried state."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.config import TrainConfig
from rnnkit.train import ProgressReporter, fit
from rnnkit.train.optim import LRSchedule


class ToyStream:
    """Next-token windows over a periodic sequence, with a per-epoch random offset (own generator)."""

    carries_state = True

    def __init__(self, n: int = 400, batch: int = 4, t: int = 8, seed: int = 0) -> None:
        data = torch.tensor([i % 7 for i in range(n)])
        cols = (n - 1) // batch
        self.x = data[: batch * cols].view(batch, cols)
        self.y = data[1: batch * cols + 1].view(batch, cols)
        self.t, self.seed = t, seed

    def epoch(self, epoch: int, start: int = 0):
        g = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        offset = int(torch.randint(0, self.t, (1,), generator=g))
        starts = list(range(offset, self.x.shape[1] - self.t, self.t))
        for s in starts[start:]:
            yield self.x[:, s:s + self.t], self.y[:, s:s + self.t]


class ToyLM(nn.Module):
    def __init__(self, vocab: int = 7, hidden: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, hidden)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, vocab)
        self.seen_states: list = []

    def loss(self, batch, state=None):
        x, y = batch
        if state is not None:
            self.seen_states.append(state)
        h, state = self.rnn(self.drop(self.emb(x)), state)
        logits = self.out(self.drop(h))
        nll = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        n = torch.tensor(float(y.numel()))
        return nll / n, state, {"nll_sum": nll.detach(), "count": n}


def _val(data: ToyStream):
    def evaluate(model: ToyLM) -> dict[str, float]:
        loss, _, _ = model.loss((data.x[:, :40], data.y[:, :40]))
        return {"val_loss": float(loss)}
    return evaluate


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=4, seq_len=8, lr=1e-2, max_steps=30, eval_every=10, log_every=5,
                warmup_steps=3, schedule="cosine", device="cpu", seed=3)
    return TrainConfig(**{**base, **kw})


def test_loss_decreases_and_logs(tmp_path) -> None:
    data = ToyStream()
    torch.manual_seed(0)
    model = ToyLM()
    with torch.no_grad():
        before = _val(data)(model)["val_loss"]
    res = fit(model, data, _cfg(max_steps=120, eval_every=40), evaluate=_val(data), run_dir=tmp_path,
              run_config={"task": "toy"})
    assert res.best_value < 0.5 * before
    records = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [40, 80, 120]
    train = [r for r in records if r["kind"] == "train"]
    # nll (from nll_sum / count) equals the reported loss for this model
    assert all(math.isclose(r["nll"], r["loss"], rel_tol=1e-5) for r in train)
    assert train[0]["items_per_s"] > 0 and (tmp_path / "curves.png").stat().st_size > 1000


def test_carried_state_is_detached_and_reset_each_epoch() -> None:
    data = ToyStream(n=100)  # 24 columns, t=8: at most 2 windows per epoch
    model = ToyLM()
    fit(model, data, _cfg(max_steps=8))
    assert model.seen_states, "the state was never carried"
    assert all(s.grad_fn is None for st in model.seen_states for s in st)
    assert len(model.seen_states) < 8  # epoch starts got state=None


def _train(run_dir, callbacks=(), resume=False, max_steps=30):
    torch.manual_seed(0)
    model = ToyLM()
    data = ToyStream(n=200)  # several epochs within 30 steps
    return model, fit(model, data, _cfg(max_steps=max_steps), evaluate=_val(data), run_dir=run_dir,
                      run_config={"task": "toy"}, resume=resume, callbacks=callbacks)


def test_resume_reaches_the_same_weights(tmp_path) -> None:
    _train(tmp_path / "a")

    def interrupt(step: int) -> None:
        if step == 13:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", callbacks=[interrupt])
    assert ckpt.load_trainer_state(tmp_path / "b")["step"] == 13
    _train(tmp_path / "b", resume=True)
    for name in (ckpt.LAST_WEIGHTS, ckpt.BEST_WEIGHTS):
        wa, wb = ToyLM(), ToyLM()
        ckpt.load_weights(wa, tmp_path / "a" / name)
        ckpt.load_weights(wb, tmp_path / "b" / name)
        for (k, a), b in zip(wa.state_dict().items(), wb.state_dict().values()):
            assert torch.equal(a, b), f"{name}:{k}"
    la = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    lb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(x).items() if k not in ("elapsed_s", "items_per_s")} for x in la]
    assert strip == [{k: v for k, v in json.loads(x).items() if k not in ("elapsed_s", "items_per_s")}
                     for x in lb]


def test_early_stopping_and_best_weights_restored() -> None:
    data = ToyStream()
    values = iter([3.0, 1.0, 2.0, 2.5, 0.1])
    snapshots = []

    def evaluate(model):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"val_loss": next(values)}

    model = ToyLM()
    res = fit(model, data, _cfg(max_steps=100, eval_every=5, early_stopping_patience=2), evaluate=evaluate)
    assert res.stop_reason == "early_stopping" and res.steps == 20 and res.best_step == 10
    assert all(torch.equal(v, snapshots[1][k]) for k, v in model.state_dict().items())


def test_time_budget_stops_training() -> None:
    res = fit(ToyLM(), ToyStream(), _cfg(max_steps=10**6, max_minutes=0.02, eval_every=10**6))
    assert res.stop_reason == "max_minutes" and 1 <= res.steps < 10**6


def test_l2_penalty_shrinks_weights() -> None:
    norms = []
    for l2 in (0.0, 1e-1):
        torch.manual_seed(0)
        model = ToyLM()
        fit(model, ToyStream(), _cfg(max_steps=30, l2=l2))
        norms.append(sum(float(p.detach().pow(2).sum()) for p in model.parameters()))
    assert norms[1] < 0.8 * norms[0]


def test_schedule_matches_hand_computed_values() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    s = LRSchedule(opt, TrainConfig(lr=1.0, warmup_steps=4, max_steps=14, schedule="cosine"))
    assert [round(s.lr_at(i), 6) for i in (0, 1, 3)] == [0.25, 0.5, 1.0]
    assert math.isclose(s.lr_at(9), 0.5, abs_tol=1e-9)  # half way through the cosine
    assert math.isclose(s.lr_at(14), 0.0, abs_tol=1e-9)
    assert math.isclose(s.lr_at(4, time_fraction=0.5), 0.5, abs_tol=1e-9)  # the clock runs out first
    p = LRSchedule(opt, TrainConfig(lr=1.0, schedule="plateau", plateau_patience=2, plateau_factor=0.1))
    for v in (1.0, 2.0, 2.0, 0.5, 0.7):
        p.observe(v)
    assert math.isclose(p.lr_at(100), 0.1)


def test_progress_reporter_receives_events() -> None:
    events = []

    class Rec(ProgressReporter):
        def start(self, **kw):
            events.append(("start", kw["max_steps"]))

        def log(self, step, metrics):
            events.append(("log", step, round(metrics["lr"], 8) >= 0))

        def finish(self, result):
            events.append(("finish", result.steps))

    fit(ToyLM(), ToyStream(), _cfg(max_steps=10), progress=Rec())
    assert events == [("start", 10), ("log", 5, True), ("log", 10, True), ("finish", 10)]


class CountedBatches:
    """A fixed number of batches per epoch (deterministic), with a length, for epoch accounting."""

    carries_state = False

    def __init__(self, n_batches: int = 3) -> None:
        self.inner, self.n = ToyStream(n=400), n_batches

    def __len__(self) -> int:
        return self.n

    def epoch(self, epoch: int, start: int = 0):
        for i in range(start, self.n):
            s = (epoch * self.n + i) % 40
            yield self.inner.x[:, s:s + 8], self.inner.y[:, s:s + 8]


def test_epochs_end_the_run_and_evaluate_at_each_epoch_end() -> None:
    steps, epochs_seen = [], []

    class Rec(ProgressReporter):
        def start(self, **kw):
            steps.append(kw["max_steps"])

        def evaluated(self, step, metrics, improved):
            steps.append(step)

        def epoch_end(self, epoch, step):
            epochs_seen.append((epoch, step))

    data = CountedBatches(3)
    res = fit(ToyLM(), data, _cfg(max_steps=None, epochs=4, eval_every=None), evaluate=_val(ToyStream()),
              callbacks=[Rec()])
    assert res.stop_reason == "epochs" and res.steps == 12
    assert steps == [12, 3, 6, 9, 12]  # budget = epochs x len(data); one evaluation per epoch
    assert epochs_seen == [(0, 3), (1, 6), (2, 9), (3, 12)]
    # the cosine reaches its floor exactly at the epoch budget
    assert math.isclose(LRSchedule(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0),
                                   TrainConfig(lr=1.0, max_steps=None, epochs=4), 12).lr_at(12), 0.0, abs_tol=1e-12)


def test_max_steps_before_epochs_wins() -> None:
    res = fit(ToyLM(), CountedBatches(3), _cfg(max_steps=5, epochs=4))
    assert res.stop_reason == "max_steps" and res.steps == 5


def test_a_callback_can_stop_training_and_the_run_is_validated() -> None:
    evals = []

    class StopAt7(ProgressReporter):
        def step(self, step, elapsed_s):
            self.stop_training = step >= 7

        def evaluated(self, step, metrics, improved):
            evals.append(step)

    res = fit(ToyLM(), CountedBatches(3), _cfg(max_steps=100, eval_every=5), evaluate=_val(ToyStream()),
              callbacks=[StopAt7()])
    assert res.stop_reason == "callback" and res.steps == 7 and evals == [5, 7]


def test_resume_across_an_epoch_boundary_matches(tmp_path) -> None:
    def run(d, callbacks=(), resume=False):
        torch.manual_seed(0)
        model = ToyLM()
        fit(model, CountedBatches(3), _cfg(max_steps=None, epochs=3, eval_every=None), evaluate=_val(ToyStream()),
            run_dir=d, run_config={"task": "toy"}, callbacks=callbacks, resume=resume)
        return model

    a = run(tmp_path / "a")

    def interrupt(step: int) -> None:
        if step == 3:  # the last batch of epoch 0
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", callbacks=[interrupt])
    st = ckpt.load_trainer_state(tmp_path / "b")
    assert (st["step"], st["epoch"], st["batch_in_epoch"]) == (3, 1, 0)
    b = run(tmp_path / "b", resume=True)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_nothing_ends_the_run_is_a_config_error() -> None:
    from rnnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="nothing ends the run"):
        TrainConfig(max_steps=None)
