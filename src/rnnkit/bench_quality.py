"""Quality suites: the one-command defaults (``rnnkit train <task> --data X``) on many data sets,
each beside its best classical baseline and the floor (majority class / seasonal naive).

``SUITES["development"]`` holds the sets the defaults were designed on, ``SUITES["held-out"]`` the
sets that only report (docs/datasets.md, committed before any result on them was seen). Each entry
runs exactly what the CLI runs (data-aware defaults, the same estimator, one torch thread), and its
verdict is read from the run's own metrics:

* classification: **win** above the best non-majority baseline, **tie** within 2 accuracy points
  of it, **loss** below; the floor is the majority class (a run at or below it fails the floor);
* forecasting: MASE against the best of ETS / ARIMA (**tie** within 10%) and the floor seasonal naive;
* language models: bits per character against the Kneser-Ney 5-gram (**tie** within 2%);
* regression: RMSE against ridge (**tie** within 10%), floor the training mean;
* seq2seq: exact match against copying the source (the only classical floor; reported as such).

Results go to ``<out>/<suite>.json`` after every set (a stopped suite resumes where it was, and a set that
failed runs again) and, with ``write=``, as a table into docs/benchmarks.md.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One run of a suite: ``rnnkit train <task> --data <source> --set <sets...>``."""

    name: str
    task: str
    source: str
    sets: tuple[str, ...] = ()
    note: str = ""


def _ucr(name: str, long: bool = False, note: str = "") -> Entry:
    # full-window 1-NN DTW is O(T^2) per pair: long series get a 10% Sakoe-Chiba band (labelled in the table)
    return Entry(name, "classify", f"ucr:{name}", ("data.dtw_window=auto",) if long else (), note)


SUITES: dict[str, list[Entry]] = {
    "development": [
        Entry("digits", "classify", "digits"), Entry("mnist-5k", "classify", "mnist-5k"),
        Entry("rt-sentiment", "classify", "rt-sentiment"), Entry("reuters-r8", "classify", "reuters-r8"),
        _ucr("GunPoint"), _ucr("ItalyPowerDemand"), _ucr("JapaneseVowels"), _ucr("ArrowHead"), _ucr("BasicMotions"),
        Entry("Tecator", "regress", "ucr:Tecator"), Entry("Covid3Month", "regress", "ucr:Covid3Month"),
        Entry("airline", "forecast", "airline", ("data.horizon=12",)),
        Entry("lynx", "forecast", "lynx", ("data.horizon=10",)),
        Entry("shampoo", "forecast", "shampoo", ("data.horizon=6",)),
        Entry("elec_equip", "forecast", "elec_equip", ("data.horizon=12",)),
        Entry("co2", "forecast", "co2", ("data.horizon=52", "data.impute=interpolate")),
        Entry("hamlet", "charlm", "hamlet"),
        Entry("dates", "seq2seq", "dates", note="synthetic"),
    ],
    "held-out": [
        _ucr("ACSF1", long=True), _ucr("OSULeaf", long=True), _ucr("PLAID", long=True), _ucr("Coffee"),
        _ucr("PigCVP", long=True), _ucr("PickupGestureWiimoteZ"), _ucr("Trace"), _ucr("UnitTest", note="toy fixture"),
        Entry("reuters-r52", "classify", "reuters-r52"), Entry("election-tweets", "classify", "election-tweets"),
        Entry("book-excerpts", "classify", "book-excerpts"), Entry("20newsgroups", "classify", "20newsgroups"),
        Entry("friends-speaker", "classify", "friends-speaker"),
        # session 12's new held-out text sets (docs/datasets.md), named before any run on them
        Entry("slo-opinion", "classify", "slo-opinion"), Entry("debates-party", "classify", "debates-party"),
        Entry("convention-party", "classify", "convention-party"),
        Entry("seatbelts", "forecast", "seatbelts", ("data.horizon=12", "data.target_columns=KSI",
                                                     "data.known_covariates=label")),
        Entry("nile", "forecast", "nile", ("data.horizon=10",)),
        Entry("solar", "forecast", "solar", ("data.horizon=48",)),
        Entry("elnino", "forecast", "elnino", ("data.horizon=12",)),
        Entry("pbs", "forecast", "pbs", ("data.horizon=12",)),
        Entry("longley", "forecast", "longley", ("data.horizon=3",)),
        Entry("m1-yearly:1", "forecast", "m1-yearly:1", ("data.horizon=6",)),
        Entry("m1-yearly:2", "forecast", "m1-yearly:2", ("data.horizon=6",)),
        # session 8's new held-out series (docs/datasets.md), named before any run on them; pmdarima's
        # gasoline is not in its wheel (load_gasoline downloads it), so it has no entry
        Entry("wineind", "forecast", "wineind", ("data.horizon=12",)),
        Entry("woolyrnq", "forecast", "woolyrnq", ("data.horizon=8",)),
        Entry("ausbeer", "forecast", "ausbeer", ("data.horizon=8",)),
        Entry("austres", "forecast", "austres", ("data.horizon=8",)),
        Entry("taylor", "forecast", "taylor", ("data.horizon=48",)),
        # the M1 yearly series named before any run on them: session 8 every 20th from 100, session 9 every 10th
        # from 105, session 10 every 5th from 50 to 95 and the four left between 100 and 180 (docs/datasets.md)
        *(Entry(f"m1-yearly:{k}", "forecast", f"m1-yearly:{k}", ("data.horizon=6",)) for k in (
            100, 120, 140, 160, 180, 105, 115, 125, 135, 145, 155, 165, 175,
            50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 110, 130, 150, 170)),
        Entry("friends", "charlm", "friends"), Entry("20newsgroups-text", "charlm", "20newsgroups-text"),
        Entry("grimm", "charlm", "grimm"),
        Entry("en-past-tense", "seq2seq", "en-past-tense"), Entry("pinyin", "seq2seq", "pinyin"),
    ],
}


# --------------------------------------------------------------------------- verdicts from metrics

def _verdict(model: float, best: float, floor: float | None, tol: float, higher: bool, relative: bool) -> dict:
    gap = (model - best) if higher else (best - model)  # > 0: the model is better
    margin = tol * abs(best) if relative else tol
    result = "win" if gap > 0 else "tie" if gap >= -margin else "loss"
    above_floor = None if floor is None else (model > floor if higher else model < floor)
    return {"result": result, "model": model, "best_baseline_value": best, "floor": floor, "above_floor": above_floor}


def _classify(m: dict) -> dict:
    base = {k: v["test_accuracy"] for k, v in m["baselines"].items()}
    best = max((k for k in base if k != "majority"), key=base.get, default="majority")
    return {"metric": "test accuracy", "best_baseline": best,
            **_verdict(m["test_accuracy"], base[best], base.get("majority"), 0.02, True, False)}


def _forecast(m: dict) -> dict:
    base = {k: v["test_mase"] for k, v in m["baselines"].items()}
    best = min((k for k in base if k in ("ets", "arima")), key=base.get, default=min(base, key=base.get))
    return {"metric": "test MASE", "best_baseline": best,
            **_verdict(m["test_mase"], base[best], base.get("seasonal_naive"), 0.10, False, True)}


def _charlm(m: dict) -> dict:
    base = {k: v["test_bpc"] for k, v in m["baselines"].items()}
    best = min(base, key=base.get)
    return {"metric": "test bpc", "best_baseline": best,
            **_verdict(m["test_bpc"], base[best], base.get("unigram"), 0.02, False, True)}


def _regress(m: dict) -> dict:
    base = {k: v["test_rmse"] for k, v in m["baselines"].items()}
    best = min(base, key=base.get)
    return {"metric": "test RMSE", "best_baseline": best,
            **_verdict(m["test_rmse"], base[best], base.get("mean"), 0.10, False, True)}


def _seq2seq(m: dict) -> dict:
    copy = m["baselines"]["copy source"]["test_exact_match"]
    return {"metric": "test exact match", "best_baseline": "copy source",
            **_verdict(m["test_exact_match"], copy, copy, 0.0, True, False)}


VERDICTS: dict[str, Callable[[dict], dict]] = {"classify": _classify, "forecast": _forecast, "charlm": _charlm,
                                               "regress": _regress, "seq2seq": _seq2seq}


# --------------------------------------------------------------------------- running

@dataclass
class SuiteResult:
    suite: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_entry(entry: Entry, out: Path) -> dict[str, Any]:
    """Train the one-command default on one set (as ``rnnkit train``) and read its verdict."""
    from rnnkit.estimators import estimator_class
    from rnnkit.tasks import make_run_config, resolve_defaults

    sets = [s for s in entry.sets if not s.endswith("=auto")] + ["train.num_threads=1"]
    cfg = make_run_config(entry.task, sets, entry.source)
    cfg, raw, chosen = resolve_defaults(cfg)
    if "data.dtw_window=auto" in entry.sets:
        from rnnkit.config import apply_overrides

        longest = max(len(x) for x in raw.train_x)
        cfg = apply_overrides(cfg, [f"data.dtw_window={max(1, longest // 10)}"])
    run_dir = out / entry.name
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)  # a run stopped part-way is started again
    t0 = time.monotonic()
    est = estimator_class(cfg.task)(recipe=cfg, verbose=0)
    est.fit_dataset(cfg.data.source, out=run_dir, data=raw, defaults=chosen)
    row = {"task": entry.task, "source": entry.source, "note": entry.note, "minutes": (time.monotonic() - t0) / 60,
           **VERDICTS[entry.task](est.metrics_)}
    row["vs_baselines_on_validation"] = est.metrics_.get("vs_baselines")
    return row


def run_suite(suite: str, out: str | Path = "runs/quality", only: list[str] | None = None,
              progress: Callable[[str, dict | None], None] | None = None) -> SuiteResult:
    """Run (or resume) a suite; every finished set is saved to ``<out>/<suite>.json`` at once."""
    if suite not in SUITES:
        from rnnkit.errors import ConfigError

        raise ConfigError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)}")
    out = Path(out)
    path = out / f"{suite}.json"
    result = SuiteResult(suite, json.loads(path.read_text())["rows"] if path.is_file() else {})
    for entry in SUITES[suite]:
        done = entry.name in result.rows and result.rows[entry.name].get("result") != "error"
        if (only and entry.name not in only) or done:  # a set that failed runs again
            continue
        if progress:
            progress(entry.name, None)
        try:
            row = run_entry(entry, out / suite)
        except Exception as e:  # noqa: BLE001 - one failing set is a result to report, not the end of the suite
            log.exception("%s failed", entry.name)
            row = {"task": entry.task, "source": entry.source, "result": "error", "error": f"{type(e).__name__}: {e}"}
        result.rows[entry.name] = row
        from rnnkit.checkpoint import atomic_write_json

        atomic_write_json(path, {"suite": suite, "rows": result.rows})
        if progress:
            progress(entry.name, row)
    return result


def markdown(result: SuiteResult) -> str:
    """The suite's table and its win / tie / loss counts."""
    lines = ["| set | task | metric | default | best baseline | floor | result | floor passed | minutes |",
             "|---|---|---|---|---|---|---|---|---|"]
    counted = {"win": 0, "tie": 0, "loss": 0, "error": 0}
    floors = [0, 0]
    order = {e.name: i for i, e in enumerate(SUITES.get(result.suite, []))}  # the suite's order, not the runs'
    for name, r in sorted(result.rows.items(), key=lambda kv: order.get(kv[0], len(order))):
        if r.get("result") == "error":
            lines.append(f"| {name} | {r['task']} | | error: {r['error'][:80]} | | | error | | |")
            counted["error"] += 1
            continue
        note = f" ({r['note']})" if r.get("note") else ""
        floor = "" if r.get("floor") is None else f"{r['floor']:.4g}"
        passed = {True: "yes", False: "**no**", None: ""}[r.get("above_floor")]
        lines.append(f"| {name}{note} | {r['task']} | {r['metric']} | {r['model']:.4g} | {r['best_baseline']} "
                     f"{r['best_baseline_value']:.4g} | {floor} | {r['result']} | {passed} | {r['minutes']:.1f} |")
        if not r.get("note"):
            counted[r["result"]] += 1
            floors[0] += bool(r.get("above_floor"))
            floors[1] += r.get("above_floor") is not None
    summary = (f"\n{counted['win']} wins, {counted['tie']} ties, {counted['loss']} losses"
               f"{', ' + str(counted['error']) + ' errors' if counted['error'] else ''} against the best baseline; "
               f"the floor (majority / seasonal naive / mean / unigram) passed on {floors[0]} of {floors[1]} "
               "(sets with a note are not counted).")
    return "\n".join(lines) + "\n" + summary


__all__ = ["SUITES", "VERDICTS", "Entry", "SuiteResult", "markdown", "run_entry", "run_suite"]
