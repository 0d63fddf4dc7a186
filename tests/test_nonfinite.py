"""Numerical faults: NaN/Inf in the loss or gradients is caught at the next boundary (flags kept on the
device, read there, not every step), named by cause and steps; nothing non-finite is saved or marked
best, the last good checkpoint stays; non-finite weights are refused on load (also by the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import rnnkit
from rnnkit import checkpoint as ckpt
from rnnkit import checkpoint_unit as units
from rnnkit.config import TrainConfig
from rnnkit.errors import CheckpointError, RnnkitError
from rnnkit.train import ProgressReporter, fit
from rnnkit.train.numerics import NonFiniteWatch


class Batches:
    """The same 4 regression batches every epoch (y = x @ w)."""

    carries_state = False

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(4, 8, 3, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5])

    def __len__(self) -> int:
        return 4

    def epoch(self, epoch: int, start: int = 0):
        for i in range(start, 4):
            yield self.x[i], self.y[i]


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def loss(self, batch, state=None):
        x, y = batch
        err = ((self.lin(x).squeeze(-1) - y) ** 2).sum()
        n = torch.tensor(float(y.numel()))
        return err / n, None, {"loss_sum": err.detach(), "count": n}


def _val(model: Linear) -> dict[str, float]:
    d = Batches()
    return {"val_loss": float(model.loss((d.x[0], d.y[0]))[0])}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**dict(batch_size=8, seq_len=1, lr=1e-2, max_steps=20, eval_every=5, log_every=5,
                                 warmup_steps=0, schedule="none", device="cpu", seed=0), **kw})


def _poison_weight(at: int):
    def cb(step: int, model: Linear) -> None:
        if step == at:
            with torch.no_grad():
                model.lin.weight[0, 0] = float("nan")
    return cb


def _fit(run: Path | None, model: Linear, callbacks=(), evaluate=_val, **kw):
    return fit(model, Batches(), _cfg(**kw), evaluate=evaluate, run_dir=run, run_config={"task": "toy"},
               callbacks=callbacks)


def _records(run: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run / ckpt.METRICS_LOG).read_text().splitlines()]


def test_nan_loss_stops_at_the_next_boundary_naming_steps_and_cause(tmp_path) -> None:
    model = Linear()
    poison = _poison_weight(7)  # weights NaN after step 7: steps 8.. have a NaN loss and NaN gradients
    with pytest.raises(RnnkitError) as e:
        _fit(tmp_path, model, callbacks=[lambda s: poison(s, model)])
    msg = str(e.value)
    assert "non-finite loss and gradients (NaN or Inf) at a step in 6-10" in msg
    assert "the last good checkpoint (step 5) is kept" in msg and "\n" not in msg
    assert units.saved_step(tmp_path) == 5
    loaded = Linear()
    ckpt.load_weights(loaded, tmp_path / ckpt.BEST_WEIGHTS)  # finite, verified
    assert max(r["step"] for r in _records(tmp_path)) == 5  # nothing of the bad steps was recorded


def test_nan_gradient_with_a_finite_loss_is_named_as_gradients(tmp_path) -> None:
    model = Linear()

    def nan_grads(step: int) -> None:
        if step == 9:
            model.lin.bias.register_hook(lambda g: g * float("nan"))

    with pytest.raises(RnnkitError, match=r"non-finite gradients \(NaN or Inf\) at a step in 6-10"):
        _fit(tmp_path, model, callbacks=[nan_grads])
    assert units.saved_step(tmp_path) == 5


def test_nan_val_loss_is_never_best_nor_saved(tmp_path) -> None:
    values = iter([1.0, float("nan")])
    marked: list[tuple[int, bool]] = []

    class Seen(ProgressReporter):
        def evaluated(self, step, metrics, improved):
            marked.append((step, improved))

    with pytest.raises(RnnkitError, match="validation val_loss = nan at step 10; the last good checkpoint "
                                          r"\(step 5\) is kept"):
        _fit(tmp_path, Linear(), callbacks=[Seen()], evaluate=lambda m: {"val_loss": next(values)})
    assert marked == [(5, True)]  # the NaN evaluation was never reported, let alone as "(best)"
    assert units.saved_step(tmp_path) == 5
    with pytest.raises(RnnkitError, match="validation val_loss = nan at step 5; no checkpoint had been written"):
        _fit(tmp_path / "b", Linear(), evaluate=lambda m: {"val_loss": float("nan")})
    assert units.saved_step(tmp_path / "b") is None


def test_ctrl_c_after_a_nan_step_keeps_the_last_good_checkpoint(tmp_path, caplog) -> None:
    model = Linear()
    poison = _poison_weight(7)

    def cb(step: int) -> None:
        poison(step, model)
        if step == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, model, callbacks=[cb])
    assert "interrupted at step 8; not saved: training stopped: non-finite loss" in caplog.text
    assert units.saved_step(tmp_path) == 5


def test_the_flags_are_read_at_boundaries_not_every_step(monkeypatch) -> None:
    calls = {"update": 0, "check": 0}
    update, check = NonFiniteWatch.update, NonFiniteWatch.check

    def counted(name, fn):
        def wrapper(self, *a):
            calls[name] += 1
            return fn(self, *a)
        return wrapper

    monkeypatch.setattr(NonFiniteWatch, "update", counted("update", update))
    monkeypatch.setattr(NonFiniteWatch, "check", counted("check", check))
    _fit(None, Linear(), max_steps=40, eval_every=20, log_every=10)
    assert calls["update"] == 40
    assert calls["check"] == 8  # 4 log lines + 2 x (evaluation, its checkpoint): 8 reads in 40 steps


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA to detect host syncs")
def test_watch_update_does_not_sync_the_host_on_cuda() -> None:
    model = Linear().cuda()
    loss = model.loss((Batches().x[0].cuda(), Batches().y[0].cuda()))[0]
    loss.backward()
    watch = NonFiniteWatch(torch.device("cuda"))
    torch.cuda.set_sync_debug_mode("error")
    try:
        watch.update(loss, model)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert watch.check(1) is None


def test_load_refuses_non_finite_weights(tmp_path) -> None:
    m = nn.Linear(3, 2)
    with torch.no_grad():
        m.bias[1] = float("inf")
    ckpt.save_weights(m, tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match=r"w.safetensors: 1 weight tensor\(s\) hold NaN or Inf \(first: bias\)"):
        ckpt.load_weights(nn.Linear(3, 2), tmp_path / "w.safetensors")


def test_cli_evaluate_and_generate_fail_cleanly_on_a_nan_model(tmp_path, caplog) -> None:
    from rnnkit.cli import app
    from rnnkit.tasks import TASKS, make_run_config

    corpus = tmp_path / "tiny.txt"
    corpus.write_text("ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 20, encoding="utf-8")
    recipe = str(Path(rnnkit.__file__).parent / "configs" / "charlm.toml")
    cfg = make_run_config(recipe, ["model.hidden_size=8", "model.embed_dim=4", "data.val_chars=200"], data=str(corpus))
    spec = TASKS["charlm"]
    artifacts = spec.artifacts(spec.prepare_data(cfg))
    model = spec.build_model(cfg, artifacts)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    ckpt.save_model_dir(tmp_path / "nan", model, cfg.to_dict(), artifacts)
    runner = CliRunner()
    for args in (["evaluate", str(tmp_path / "nan")],
                 ["generate", str(tmp_path / "nan"), "--prompt", "RO", "--length", "5"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and "hold NaN or Inf" in r.output and "Traceback" not in r.output, r.output
