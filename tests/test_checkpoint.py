"""Model directory: safetensors round trip (tied weights), atomic writes, clear errors."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from rnnkit import checkpoint as ckpt
from rnnkit.errors import CheckpointError


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.rnn = nn.LSTM(4, 4, batch_first=True)
        self.out = nn.Linear(4, 5)
        self.out.weight = self.emb.weight  # weight tying: one tensor under two names


def test_model_dir_round_trip_with_tied_weights(tmp_path) -> None:
    m = Tied()
    ckpt.save_model_dir(tmp_path, m, {"task": "toy", "x": 1}, {"tokenizer.json": {"chars": ["a"]}})
    digest = ckpt.sha256_file(tmp_path / "tokenizer.json")
    assert ckpt.read_config(tmp_path) == {"task": "toy", "x": 1, "artifacts": ["tokenizer.json"],
                                          "artifact_sha256": {"tokenizer.json": digest}}
    assert ckpt.read_artifacts(tmp_path) == {"tokenizer.json": {"chars": ["a"]}}
    m2 = Tied()
    ckpt.load_weights(m2, tmp_path / ckpt.BEST_WEIGHTS)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k
    assert m2.out.weight is m2.emb.weight  # still tied after loading
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_failed_write_leaves_old_file_intact(tmp_path) -> None:
    path = tmp_path / "a.json"
    ckpt.atomic_write_json(path, {"v": 1})

    def boom(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write('{"v": 2, "trunc')  # half written ...
        raise OSError("disk full")  # ... then the write fails

    with pytest.raises(OSError, match="disk full"):
        ckpt.atomic_write(path, boom)
    assert json.loads(path.read_text()) == {"v": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # the temp file was removed


def test_interrupted_weight_save_keeps_previous_weights(tmp_path, monkeypatch) -> None:
    m = Tied()
    ckpt.save_weights(m, tmp_path / "w.safetensors")
    before = (tmp_path / "w.safetensors").read_bytes()

    def crash(model, filename, metadata=None):
        open(filename, "wb").write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt, "save_model", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_weights(Tied(), tmp_path / "w.safetensors")
    assert (tmp_path / "w.safetensors").read_bytes() == before


def test_errors_name_the_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="run directory not found"):
        ckpt.read_config(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="config.json is missing"):
        ckpt.read_config(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: corrupt JSON"):
        ckpt.read_config(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="model.safetensors: corrupt"):
        ckpt.load_weights(Tied(), tmp_path / "model.safetensors")
    (tmp_path / "trainer_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="trainer_state.pt: corrupt"):
        ckpt.load_trainer_state(tmp_path)


def test_weights_of_another_shape_are_refused(tmp_path) -> None:
    ckpt.save_weights(nn.Linear(3, 2), tmp_path / "w.safetensors")
    with pytest.raises(CheckpointError, match="do not fit"):
        ckpt.load_weights(nn.Linear(3, 4), tmp_path / "w.safetensors")


def test_trainer_state_is_plain_data_loaded_weights_only(tmp_path) -> None:
    from rnnkit.cells.states import LSTMState

    state = LSTMState(torch.randn(1, 2, 3), torch.randn(1, 2, 3))
    packed = {"step": 3, "carried": ckpt.pack_state(state), "nested": ckpt.pack_state([state, None])}
    ckpt.save_trainer_state(tmp_path, packed)
    loaded = ckpt.load_trainer_state(tmp_path)  # weights_only=True inside
    back = ckpt.unpack_state(loaded["carried"])
    assert isinstance(back, LSTMState) and torch.equal(back.h, state.h) and torch.equal(back.c, state.c)
    nested = ckpt.unpack_state(loaded["nested"])
    assert isinstance(nested, list) and nested[1] is None and torch.equal(nested[0].c, state.c)
