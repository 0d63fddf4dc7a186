"""Configs: typed --set overrides, unknown keys named, TOML recipes, JSON round trip."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rnnkit.config import (
    RunConfig,
    TrainConfig,
    apply_overrides,
    build_dataclass,
    coerce,
    load_recipe,
    parse_overrides,
)
from rnnkit.errors import ConfigError


@dataclass(frozen=True)
class ToyModel:
    cell: str = "lstm"
    hidden_size: int = 64
    dropout: float = 0.0
    tie: bool = False
    sizes: tuple[int, ...] = (1, 2)
    proj: int | None = None


@dataclass(frozen=True)
class ToyData:
    source: str = "x.txt"


def _cfg() -> RunConfig:
    return RunConfig("toy", ToyModel(), ToyData(), TrainConfig())


def test_set_parses_values_by_field_type() -> None:
    cfg = apply_overrides(_cfg(), ["model.cell=gru", "model.hidden_size=512", "model.dropout=0.25",
                                   "model.tie=true", "model.sizes=3,4,5", "model.proj=7",
                                   "train.lr=1e-3", "train.max_minutes=2.5", "train.grad_clip=none",
                                   "train.betas=[0.8, 0.99]"])
    assert cfg.model == ToyModel("gru", 512, 0.25, True, (3, 4, 5), 7)
    assert cfg.train.lr == 1e-3 and cfg.train.max_minutes == 2.5 and cfg.train.grad_clip is None
    assert cfg.train.betas == (0.8, 0.99)
    assert isinstance(cfg.model.hidden_size, int) and isinstance(cfg.train.lr, float)
    # the original is untouched (frozen dataclasses, copies)
    assert _cfg().model.cell == "lstm"


def test_optional_none_and_back() -> None:
    cfg = apply_overrides(_cfg(), ["model.proj=3"])
    assert apply_overrides(cfg, ["model.proj=null"]).model.proj is None
    assert coerce("4", int | None, "x") == 4


@pytest.mark.parametrize("item,needle", [
    ("model.hidden=3", "valid keys in [model]: cell, hidden_size"),
    ("optim.lr=3", "valid sections: model, data, train"),
    ("model.hidden_size=big", "model.hidden_size: expected an integer"),
    ("model.tie=maybe", "expected true/false"),
    ("train.optimizer=adagrad", "choose one of: adam, adamw, sgd"),
    ("lr=3", "section.key=value"),
    ("train.batch_size=0", "train.batch_size=0 is out of range; allowed: [1, inf)"),
])
def test_bad_overrides_are_named(item: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        apply_overrides(_cfg(), [item])
    assert needle in str(e.value)


def test_coerce_rejects_wrong_types_from_toml() -> None:
    assert coerce(3, float, "x") == 3.0 and isinstance(coerce(3, float, "x"), float)
    with pytest.raises(ConfigError):
        coerce(True, int, "x")
    with pytest.raises(ConfigError):
        coerce(1.5, int, "x")
    with pytest.raises(ConfigError):
        build_dataclass(ToyModel, {"cell": 3}, "model")


def test_parse_overrides_keeps_equals_in_value() -> None:
    assert parse_overrides(["data.source=a=b.txt"]) == {"data": {"source": "a=b.txt"}}


def test_json_round_trip() -> None:
    cfg = apply_overrides(_cfg(), ["model.sizes=9", "train.seed=5"])
    d = cfg.to_dict()
    assert d["format_version"] == 1 and d["model"]["sizes"] == [9]
    assert RunConfig.from_dict(d, ToyModel, ToyData) == cfg


def test_newer_format_version_is_refused() -> None:
    d = {**_cfg().to_dict(), "format_version": 999}
    with pytest.raises(ConfigError, match="newer"):
        RunConfig.from_dict(d, ToyModel, ToyData)


def test_recipe_from_path_and_errors(tmp_path) -> None:
    p = tmp_path / "r.toml"
    p.write_text('task = "toy"\n[model]\nhidden_size = 8\n[train]\nlr = 0.01\n')
    assert load_recipe(str(p)) == {"task": "toy", "model": {"hidden_size": 8}, "train": {"lr": 0.01}}
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_recipe(str(bad))
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        load_recipe("nope")
    extra = tmp_path / "extra.toml"
    extra.write_text('task = "toy"\n[optim]\nlr = 1\n')
    with pytest.raises(ConfigError, match="unknown top-level key"):
        load_recipe(str(extra))
