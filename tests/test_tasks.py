"""The task table: lazy lookup with named errors, recipe resolution, config.json round trip."""

from __future__ import annotations

import pytest

from rnnkit.config import TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.tasks import TASKS, make_run_config, run_config_from_dict


def test_unknown_task_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown task 'nope'; valid tasks: charlm"):
        TASKS["nope"]
    assert "charlm" in list(TASKS)


def test_task_name_resolves_to_its_recipe_and_overrides_apply() -> None:
    cfg = make_run_config("charlm", ["model.cell=gru", "train.max_steps=7"], data="hamlet")
    assert cfg.task == "charlm" and cfg.model.cell == "gru" and cfg.train.max_steps == 7
    assert cfg.data.source == "hamlet"
    assert isinstance(cfg.train, TrainConfig)
    assert run_config_from_dict(cfg.to_dict()) == cfg


def test_recipe_path_names_its_task(tmp_path) -> None:
    p = tmp_path / "mine.toml"
    p.write_text('task = "charlm"\n[model]\nhidden_size = 12\n[train]\nseq_len = 9\n')
    cfg = make_run_config(str(p))
    assert (cfg.model.hidden_size, cfg.train.seq_len) == (12, 9)
    p.write_text("[model]\nhidden_size = 12\n")
    with pytest.raises(ConfigError, match="has no `task = ...` line"):
        make_run_config(str(p))
    p.write_text('task = "charlm"\n[model]\nhidden = 12\n')
    with pytest.raises(ConfigError, match="unknown key.*model.hidden; valid keys in \\[model\\]: cell"):
        make_run_config(str(p))
