"""`rnnkit tune` / fit(tune=...): a budgeted Optuna search on validation data that finishes within its
budget, records every trial, and whose best trial is reproduced by training its configuration again."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from rnnkit.config import apply_overrides
from rnnkit.errors import ConfigError
from rnnkit.tune import parse_budget


def test_a_trial_is_capped_at_its_share_of_the_search_in_seconds(monkeypatch) -> None:
    """A trial trains for its share of the search (``run_s`` seconds), or less when the configuration's own
    ``train.max_minutes`` or the deadline is shorter; the minutes and the seconds are not mixed up (a 5-minute
    default once capped every trial at 5 seconds)."""
    from types import SimpleNamespace

    from rnnkit import tune as tune_mod
    from rnnkit.tasks import make_run_config

    caps: list[float] = []

    def fake_run(cfg, run_dir, **kw):
        caps.append(cfg.train.max_minutes * 60)
        return SimpleNamespace(fit=SimpleNamespace(best_value=1.0, best_step=1))

    monkeypatch.setattr(tune_mod, "train_run", fake_run)
    spec = SimpleNamespace(monitor="val_loss")
    far = time.monotonic() + 3600
    for own, run_s, deadline, expect in ((5.0, 84.0, far, 84.0), (0.5, 84.0, far, 30.0), (None, 84.0, far, 84.0),
                                         (5.0, 2.0, far, 6.0), (5.0, 84.0, time.monotonic() + 20, 20.0)):
        cfg = make_run_config("classify", [f"train.max_minutes={own}" if own else "train.max_minutes=null"], "x.csv")
        tune_mod._score(cfg, None, spec, None, deadline, run_s)
        assert caps[-1] == pytest.approx(expect, abs=0.5), (own, run_s, expect)


def test_budgets_parse() -> None:
    assert [parse_budget(b) for b in ("90s", "15m", "1h", 2, "0.5m")] == [90, 900, 3600, 120, 30]
    with pytest.raises(ConfigError, match="under 10 seconds"):
        parse_budget("5s")
    with pytest.raises(ConfigError, match="e.g. 90s, 15m, 1h"):
        parse_budget("soon")


def test_tune_finishes_in_budget_and_its_best_trial_reproduces(tmp_path) -> None:
    from rnnkit.estimators import SequenceClassifier
    from rnnkit.tasks import train_run

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 8, 2)).astype(np.float32)
    y = (X[:, :4, 0].sum(1) > 0).astype(int)
    est = SequenceClassifier(epochs=6, verbose=0, random_state=0)
    t0 = time.monotonic()
    est.fit(X, y, tune="24s", out=tmp_path / "run")
    assert time.monotonic() - t0 < 24 * 1.25 + 5  # the budget, with the final run's last evaluation
    trials, best = est.tune_["trials"], est.tune_["best"]
    assert len(trials) >= 3 and {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    # a small set: the shortlist and the default scored again on fresh splits, the lowest there chosen
    confirmed = [t for t in trials if t.get("confirm") is not None]
    if confirmed:
        assert best["confirm"] == min(t["confirm"] for t in confirmed) and any(t["default"] for t in confirmed)
    else:
        assert best["value"] == min(t["value"] for t in trials if t["state"] == "COMPLETE")
    saved = json.loads((tmp_path / "run" / "tune" / "trials.json").read_text())
    assert saved["best"]["number"] == best["number"] and (tmp_path / "run" / "tune" / "trials.png").is_file()
    # the best trial again: its configuration, trained the same way, gives the same validation value
    from rnnkit.tasks import resolve_defaults
    from rnnkit.tune import _search_base

    resolved = resolve_defaults(SequenceClassifier(epochs=6, verbose=0, random_state=0)._config(), _raw(X, y))[0]
    base = _search_base(resolved)
    again = train_run(apply_overrides(base, best["overrides"]), None, raw=_raw(X, y), final_evaluation=False)
    assert again.fit.best_value == pytest.approx(best["value"], rel=1e-6)
    # the final model trains as the default does (its validation split), with the chosen configuration on top
    cap = f"train.max_minutes={est.config_.train.max_minutes}"
    assert est.config_ == apply_overrides(resolved, [*best["overrides"], cap])
    assert 0 < est.config_.data.val_fraction < 1 and len(est._bundle.fit_idx) < 90
    assert est.predict(X).shape == (90,)


def _raw(X, y):
    from rnnkit.data.classify_sources import RawClassData
    from rnnkit.tasks import IN_MEMORY

    return RawClassData("series", list(X), [str(v) for v in y], [], [], [f"X[{i}]" for i in range(len(X))], [],
                        IN_MEMORY, label_order=["0", "1"], label_values=[0, 1])


def test_cli_tune_writes_a_normal_run(tmp_path) -> None:
    from typer.testing import CliRunner

    import rnnkit
    from rnnkit.cli import app

    rows = [("a fine film", "pos"), ("a poor film", "neg"), ("fine acting", "pos"), ("poor plot", "neg")] * 12
    csv = tmp_path / "r.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    r = CliRunner().invoke(app, ["tune", "classify", "--data", str(csv), "--budget", "20s", "--out",
                                 str(tmp_path / "t"), "--set", "train.max_steps=30", "--set", "model.ensemble=1",
                                 "--set", "data.baselines=false", "--set", "train.max_minutes=none"])
    assert r.exit_code == 0, r.output
    assert "trial   0" in r.output and "best trial" in r.output and "test_accuracy=" in r.output
    assert rnnkit.load(tmp_path / "t").predict(["a fine plot"]).shape == (1,)


def _short_yearly(tmp_path, n: int) -> str:
    y = 100 + 3 * np.arange(n) + np.random.default_rng(0).normal(0, 2, n)
    csv = tmp_path / "short.csv"
    csv.write_text("year,y\n" + "".join(f"{1950 + i},{v:.3f}\n" for i, v in enumerate(y)))
    return str(csv)


def test_forecast_tune_on_a_short_series_and_a_trial_the_data_cannot_take(tmp_path, monkeypatch, caplog) -> None:
    """A 21-year series with horizon 6 (M1 yearly sized): the search's validation tail leaves 9 rows, so
    the context shrinks to 2 instead of every trial failing; a trial whose configuration the data cannot
    take fails alone, recorded with its reason, and the search goes on. 15 rows cannot be tuned: one line."""
    from rnnkit import tune as tune_mod
    from rnnkit.tasks import make_run_config
    from rnnkit.tune import tune_run

    space = tune_mod.SPACES["forecast"]

    def first_trial_bad(trial, bundle):
        sets = space(trial, bundle)
        return sets + ["data.context=50"] if trial.number == 1 else sets

    monkeypatch.setitem(tune_mod.SPACES, "forecast", first_trial_bad)
    base = make_run_config("forecast", ["data.horizon=6", "train.max_steps=20", "model.ensemble=1",
                                        "data.baselines=naive"], data=_short_yearly(tmp_path, 21))
    with caplog.at_level("WARNING", logger="rnnkit.tune"):
        out = tune_run(base, "20s", tmp_path / "run")
    assert "the search validates on 6 values" in caplog.text  # said before the search: too few to rank on
    assert out.final.vs_baselines is None or out.final.vs_baselines.get("tuned")  # the search's own advice
    assert out.trials[0]["default"] and out.trials[0]["overrides"] == [] and out.trials[0]["params"] == {}
    assert out.trials[1]["state"] == "FAIL" and "series too short" in out.trials[1]["error"]
    assert any(t["state"] == "COMPLETE" for t in out.trials)
    context = [o for o in out.best["overrides"] if o.startswith("data.context=")]
    assert not context or out.final.config.data.context == int(context[0].split("=")[1]) <= 2
    assert np.isfinite(out.final.metrics["test_mase"])
    with pytest.raises(ConfigError, match="too short to tune with horizon 6"):
        tune_run(make_run_config("forecast", ["data.horizon=6"], data=_short_yearly(tmp_path, 15)), "20s")


def test_a_search_whose_every_trial_fails_says_why(tmp_path, monkeypatch) -> None:
    """Trial 0 is the data-aware default; when every configuration of the space fails, the search stops
    after a few and keeps the default; a default the data cannot take fails in one line before any trial."""
    from rnnkit import tune as tune_mod
    from rnnkit.tasks import make_run_config
    from rnnkit.tune import MAX_FAILURES, tune_run

    space = tune_mod.SPACES["forecast"]
    monkeypatch.setitem(tune_mod.SPACES, "forecast", lambda trial, bundle: space(trial, bundle) + ["data.context=50"])
    base = make_run_config("forecast", ["data.horizon=6", "train.max_steps=5", "model.ensemble=1",
                                        "data.baselines=naive"], data=_short_yearly(tmp_path, 30))
    t0 = time.monotonic()
    out = tune_run(base, "60s")
    assert time.monotonic() - t0 < 30  # it stopped after a few failures instead of spinning to the deadline
    assert out.best["default"] and len(out.trials) == 1 + MAX_FAILURES
    assert all(t["state"] == "FAIL" and "series too short" in t["error"] for t in out.trials[1:])
    search_base = tune_mod._search_base
    monkeypatch.setattr(tune_mod, "_search_base",
                        lambda b, raw=None: apply_overrides(search_base(b, raw), ["data.context=50"]))
    from rnnkit.errors import DataError

    with pytest.raises(DataError, match="series too short"):  # a default the data cannot take: before any trial
        tune_run(base, "60s")


def test_a_lucky_search_winner_loses_to_the_default_on_fresh_splits(tmp_path, monkeypatch) -> None:
    """The winner's curse: a configuration that fits the search's splits (seeds 0-2) but not fresh ones
    (3-5) is not chosen; the shortlist and the default are scored again, and here the default wins, so the
    final run is the one-command default itself."""
    from rnnkit import tune as tune_mod
    from rnnkit.tasks import make_run_config, resolve_defaults

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8, 2)).astype(np.float32)
    y = (X[:, :4, 0].sum(1) > 0).astype(int)
    base = make_run_config("classify", ["train.max_steps=5", "model.ensemble=1", "data.baselines=false"])
    resolved = resolve_defaults(base, _raw(X, y))[0]
    default = tune_mod._search_base(resolved)

    def fake_score(cfg, raw, spec, seeds, deadline, run_s, trial=None):
        fresh = seeds == tune_mod.CONFIRM_SEEDS
        if cfg == default:  # trial 0, the data-aware default
            value = 1.0
        elif cfg.train.lr > 5e-3:  # the space's larger learning rates: they fit the search's splits only
            value = 2.0 if fresh else 0.1
        else:
            value = 1.2
        if trial is not None:
            trial.report(value, 1)
        n = len(seeds or (None,))
        return {"values": [value] * n, "steps": [3] * n}

    monkeypatch.setattr(tune_mod, "_score", fake_score)
    monkeypatch.setattr(tune_mod, "_small", lambda base, probe: True)
    out = tune_mod.tune_run(base, "12s", raw=_raw(X, y), final_evaluation=False)
    lucky = [t for t in out.trials if t["state"] == "COMPLETE" and t["value"] == 0.1]
    assert lucky, "the space proposed no large learning rate in 12 s"
    assert min(t["value"] for t in out.trials if t["state"] == "COMPLETE") == 0.1  # the search's best is lucky
    assert all(t["confirm"] == 2.0 for t in lucky if "confirm" in t)
    assert out.best["default"] and out.best["confirm"] == 1.0
    assert out.config == apply_overrides(resolved, [f"train.max_minutes={out.config.train.max_minutes}"])


def test_the_advice_after_a_search_is_a_longer_search() -> None:
    from rnnkit.tasks import make_run_config
    from rnnkit.verdicts import behind_message, verdict

    cfg = make_run_config("forecast", [], "airline")
    v = verdict("val_mase", 1.2, {"ets": 1.0}, higher_is_better=False)
    assert "Try a search: rnnkit tune forecast --data airline --budget 15m" in behind_message(cfg, v)
    after = behind_message(cfg, {**v, "tuned": True})
    assert "after the search" in after and "--budget 1h" in after and "15m" not in after
    # ... unless the validation part is too small to rank a search's trials: then the baseline is the advice
    few = behind_message(cfg, {**v, "tuned": True, "n": 18})
    assert "A longer search would not help" in few and "is 18 values" in few and "1h" not in few
    assert "--set model.combine=ets forecasts its values" in few
    assert "1h" in behind_message(cfg, {**v, "tuned": True, "n": 36})
    # a series too short to probe forecasts with baselines alone: no search is advised, the better baseline is
    short = behind_message(cfg, {**v, "without_network": True})
    assert "A search would not help" in short and "--set model.combine=ets" in short and "tune" not in short
    # a small classify set's search saw repeated and fresh validation splits: its advice stays a longer search
    assert "1h" in behind_message(make_run_config("classify", [], "x.csv"), {**v, "tuned": True, "n": 28})


def test_a_forecast_verdict_counts_its_validation_values(tmp_path) -> None:
    """The verdict of a forecast run says how many values its validation stood on (probes x horizon)."""
    from rnnkit.estimators import Forecaster

    y = 10 + np.sin(np.arange(60) / 3) + np.random.default_rng(0).normal(0, 0.3, 60)
    est = Forecaster(horizon=4, verbose=0, random_state=0, max_steps=30).fit(y)
    v = est.vs_baselines_
    chosen = est.model_.artifacts["combine.json"]
    assert v["n"] == len(chosen["origins"]) * 4 and v["n"] > 0



def test_top_k_ensemble_averages_the_best_configurations(tmp_path) -> None:
    from typer.testing import CliRunner

    import rnnkit
    from rnnkit.cli import app

    rng = np.random.default_rng(1)
    words = ["fine", "poor", "film", "plot", "acting", "a", "the", "very"]
    rows = [(" ".join(rng.choice(words[2:], 3)) + (" fine" if i % 2 else " poor"), "pos" if i % 2 else "neg")
            for i in range(80)]
    csv = tmp_path / "r.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    run = tmp_path / "t"
    r = CliRunner().invoke(app, ["tune", "classify", "--data", str(csv), "--budget", "24s", "--top-k", "2", "--out",
                                 str(run), "--set", "train.max_steps=30", "--set", "model.ensemble=1",
                                 "--set", "data.baselines=false", "--set", "train.max_minutes=none"])
    assert r.exit_code == 0, r.output
    assert "top-2 ensemble" in r.output
    summary = json.loads((run / "ensemble.json").read_text())
    assert [m["dir"] for m in summary["members"]] == [".", "ensemble/member-2"]
    ranked = [m["confirm"] if m["confirm"] is not None else m["value"] for m in summary["members"]]
    assert ranked[0] <= ranked[1]  # ranked on validation (the fresh splits: a small set)
    assert summary["members"][0]["overrides"] != summary["members"][1]["overrides"]
    # the loaded ensemble predicts the mean of its members' probabilities; its test score is that mean's
    est = rnnkit.load(run)
    raw = est._training_bundle().raw
    p_all, p2 = est.predict_proba(raw.test_x), est.members_[0].predict_proba(raw.test_x)
    copy = est.save(tmp_path / "copy")  # saved elsewhere, the ensemble keeps its members
    ev = est.evaluate(raw.test_x, raw.test_y)  # scored as predict answers, the best member's own beside it
    assert ev["test_accuracy"] == pytest.approx(summary["test_accuracy"])
    assert ev["best_member"]["test_accuracy"] == pytest.approx(summary["member_test_accuracy"][0])
    np.testing.assert_allclose(rnnkit.load(copy).predict_proba(raw.test_x), p_all, rtol=1e-6)
    est.members_ = []
    p1 = est.predict_proba(raw.test_x)
    np.testing.assert_allclose(p_all, (p1 + p2) / 2, rtol=1e-6)
    names = list(est.classes_)
    y = np.array([names.index(v) for v in raw.test_y])
    assert summary["test_accuracy"] == pytest.approx(float((p_all.argmax(1) == y).mean()))
    assert summary["member_test_accuracy"] == pytest.approx([float((p.argmax(1) == y).mean()) for p in (p1, p2)])
    # `rnnkit predict` on the run votes with every member too; `rnnkit evaluate` says whose metrics it prints
    from rnnkit.apps.classify_predict import predict_run

    res = predict_run(run, list(raw.test_x[:4]))
    np.testing.assert_allclose([r["probability"] for r in res], p_all[:4].max(1), rtol=1e-5)
    r = CliRunner().invoke(app, ["evaluate", str(run)])
    assert r.exit_code == 0 and "tuned top-k ensemble" in " ".join(r.output.split()), r.output


def test_top_k_needs_a_task_whose_predictions_average_and_a_search() -> None:
    from rnnkit.estimators import SequenceClassifier
    from rnnkit.tasks import make_run_config
    from rnnkit.tune import tune_run

    with pytest.raises(ConfigError, match="top_k=2: give 1 .* for classify"):
        tune_run(make_run_config("forecast", ["data.horizon=6"], "airline"), "20s", top_k=2)
    with pytest.raises(ConfigError, match="give tune=... with it"):
        SequenceClassifier(verbose=0).fit([[0.0, 1.0], [1.0, 0.0]] * 4, [0, 1] * 4, top_k=2)


def _doc_tables() -> dict[str, set[str]]:
    """docs/tune.md: each space's section -> the Optuna parameter names its table lists."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "tune.md").read_text(encoding="utf-8")
    out: dict[str, set[str]] = {}
    for section in re.split(r"^### ", text.split("## The spaces", 1)[1].split("\n## ", 1)[0], flags=re.M)[1:]:
        title, body = section.split("\n", 1)
        names = set(re.findall(r"^\| `(\w+)`", body, flags=re.M))
        for task in title.split(" and "):
            out[task.strip()] = names
    return out


def test_every_space_parameter_is_documented() -> None:
    """Every parameter each task's space can sample (every branch: text, series, a seasonal or a yearly
    series) is a row of docs/tune.md's table for that task, and the table lists nothing the space lacks."""
    from types import SimpleNamespace

    import optuna

    from rnnkit.tune_spaces import SPACES

    seq = [SimpleNamespace(raw=SimpleNamespace(kind=k)) for k in ("text", "tokens", "series", "image")]
    fc = [SimpleNamespace(frame=SimpleNamespace(period=p, targets=np.full((60, 1), v)),
                          train_origins=np.arange(40)) for p, v in ((12, 1.0), (1, -1.0))]
    probes = {"classify": seq, "regress": seq, "forecast": fc, "charlm": [None], "seq2seq": [None]}
    docs = _doc_tables()
    assert set(docs) == set(SPACES)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for task, space in SPACES.items():
        seen: set[str] = set()
        for probe in probes[task]:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
            for _ in range(40):
                trial = study.ask()
                assert all(o.count("=") >= 1 for o in space(trial, probe))
                seen |= set(trial.params)
                study.tell(trial, 0.0)
        assert seen == docs[task], task


def test_the_final_run_keeps_at_least_the_default_time() -> None:
    """The search and confirmation shares leave the final run the default's own max_minutes (at most half
    the budget), and keep their proportions; a long budget keeps the usual shares."""
    from rnnkit.tasks import make_run_config
    from rnnkit.tune import CONFIRM_END, SEARCH_END, _shares

    five = make_run_config("classify", ["train.max_minutes=5"], "x.csv")
    assert _shares(900, five) == pytest.approx((400 / 900, 600 / 900))  # the final run: 5 of 15 minutes
    assert _shares(3600, five) == pytest.approx((SEARCH_END, CONFIRM_END))  # a quarter of an hour is more
    assert _shares(120, five) == pytest.approx((SEARCH_END / 1.5, 0.5))  # never more than half the budget
