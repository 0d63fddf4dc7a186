"""Every configuration value is checked at load against its class's RANGES table: the error is one
line naming the key, the value and the allowed range; every shipped recipe still validates."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from rnnkit.config import TrainConfig, apply_overrides, check_ranges, ranges_of, recipe_names
from rnnkit.errors import ConfigError
from rnnkit.tasks import _TASK_MODULES, TASKS, make_run_config


def _config_classes() -> list[type]:
    out = [TrainConfig]
    for task in _TASK_MODULES:
        out += [TASKS[task].model_config_cls, TASKS[task].data_config_cls]
    return list(dict.fromkeys(out))


def _is_numeric(tp: typing.Any) -> bool:
    if tp in (int, float):
        return True
    return any(_is_numeric(a) for a in typing.get_args(tp) if a is not Ellipsis and a is not type(None))


@pytest.mark.parametrize("cls", _config_classes(), ids=lambda c: c.__name__)
def test_every_numeric_field_has_a_range(cls: type) -> None:
    """The table is complete (a new numeric field without a range fails here) and names real fields."""
    hints = typing.get_type_hints(cls)
    numeric = {f.name for f in dataclasses.fields(cls) if _is_numeric(hints[f.name])}
    table = ranges_of(cls)
    assert numeric - set(table) == set(), f"{cls.__name__}: numeric fields without a range"
    named = {name for key in table for name in key.split("+")}
    assert named <= set(hints), f"{cls.__name__}: RANGES names unknown fields {named - set(hints)}"
    check_ranges(cls(), "x")  # the defaults are in range


@pytest.mark.parametrize("name", recipe_names())
def test_every_shipped_recipe_validates(name: str) -> None:
    make_run_config(name)


@pytest.mark.parametrize("recipe,item,needle", [
    ("charlm", "train.grad_clip=-1", "train.grad_clip=-1.0 is out of range; allowed: (0, inf) or None"),
    ("charlm", "train.max_minutes=-1", "train.max_minutes=-1.0 is out of range; allowed: (0, inf) or None"),
    ("charlm", "data.valid_fraction=1.5", "data.valid_fraction=1.5 is out of range; allowed: [0, 1)"),
    ("charlm", "data.valid_fraction=-0.1", "data.valid_fraction=-0.1 is out of range"),
    ("charlm", "data.valid_fraction=0.96", "data.valid_fraction + data.test_fraction=1.0"),
    ("charlm", "train.min_lr_ratio=5", "train.min_lr_ratio=5.0 is out of range; allowed: [0, 1]"),
    ("charlm", "train.warmup_steps=-5", "train.warmup_steps=-5 is out of range; allowed: [0, inf)"),
    ("charlm", "train.lr=nan", "train.lr=nan is out of range; allowed: (0, inf)"),
    ("charlm", "train.lr=inf", "train.lr=inf is out of range"),
    ("charlm", "train.lr=0", "train.lr=0.0 is out of range"),
    ("charlm", "train.weight_decay=-1", "train.weight_decay=-1.0 is out of range; allowed: [0, inf)"),
    ("charlm", "train.betas=(2,0.5)", "train.betas=(2.0, 0.5) is out of range; each value must lie in [0, 1)"),
    ("charlm", "data.eval_seq_len=0", "data.eval_seq_len=0 is out of range; allowed: [1, inf)"),
    ("charlm", "train.batch_size=0", "train.batch_size=0 is out of range"),
    ("charlm", "train.seed=-1", "train.seed=-1 is out of range"),
    ("charlm", "model.dropout=1", "model.dropout=1.0 is out of range; allowed: [0, 1)"),
    ("classify", "data.val_fraction=1", "data.val_fraction=1.0 is out of range"),
    ("classify", "model.fcn_kernels=8,0,3", "model.fcn_kernels=(8, 0, 3) is out of range"),
    ("forecast", "data.horizon=0", "data.horizon=0 is out of range"),
    ("forecast", "model.quantiles=0.1,1.5", "model.quantiles=(0.1, 1.5) is out of range"),
    ("seq2seq", "model.beam_size=0", "model.beam_size=0 is out of range"),
    ("seq2seq", "data.max_len=0", "data.max_len=0 is out of range"),
    ("nextelement", "data.p=2", "data.p=2.0 is out of range"),
])
def test_out_of_range_values_are_named(recipe: str, item: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        make_run_config(recipe, [item])
    msg = str(e.value)
    assert needle in msg and "\n" not in msg


@pytest.mark.parametrize("item", ["train.grad_clip=none", "train.max_minutes=none", "train.lr=1e6",
                                  "train.early_stopping_patience=0", "data.valid_fraction=0"])
def test_none_and_edge_values_stay_legal(item: str) -> None:
    """None means auto/off; a huge learning rate is legal (the run reports the divergence)."""
    make_run_config("charlm", [item])


def test_toml_nan_and_config_json_are_checked_too(tmp_path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('task = "charlm"\n[train]\nlr = nan\n')
    with pytest.raises(ConfigError, match=r"train.lr=nan is out of range"):
        make_run_config(str(recipe))
    cfg = make_run_config("charlm")
    d = cfg.to_dict()
    d["train"]["l2"] = -1.0
    from rnnkit.tasks import run_config_from_dict

    with pytest.raises(ConfigError, match=r"train.l2=-1.0 is out of range"):
        run_config_from_dict(d)
    assert apply_overrides(cfg, ["train.l2=0.5"]).train.l2 == 0.5


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"train.lr=-1 is out of range"):
        TrainConfig(lr=-1)
