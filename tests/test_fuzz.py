"""Fuzzed loaders: every parser of user input, fed generated malformed input, either succeeds or raises
rnnkit's own error (an ``RnnkitError`` subclass) with a non-empty one-line message — never a
traceback from inside Python, numpy or the csv/json/zip modules.

Each test runs ``EXAMPLES`` generated inputs, derandomised so CI sees the same ones every time;
``COUNTS`` records how many each parser really ran and the last test checks that every parser got
at least ``EXAMPLES`` (the numbers are quoted in docs/reliability.md, "Fuzzed loaders").
"""

from __future__ import annotations

import atexit
import codecs
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.apps.forecast import ForecastDataConfig
from rnnkit.config import apply_overrides, parse_overrides
from rnnkit.data import classify as classify_data
from rnnkit.data import forecast_scaler, regress, seq2seq
from rnnkit.data.charlm import load_corpus, tokenizer_from_dict
from rnnkit.data.classify_sources import load_raw
from rnnkit.data.forecast import load_frame
from rnnkit.data.sequences import InputEncoder
from rnnkit.data.tables import read_rows
from rnnkit.data.ucr import read_ts
from rnnkit.errors import RnnkitError
from rnnkit.tasks import make_run_config

EXAMPLES = int(os.environ.get("RNNKIT_FUZZ_EXAMPLES", "200"))  # more for a deeper run: RNNKIT_FUZZ_EXAMPLES=2000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
COUNTS: Counter[str] = Counter()  # inputs run per parser
REFUSED: Counter[str] = Counter()  # of those, answered with an RnnkitError (the rest parsed)
WORK = Path(tempfile.mkdtemp(prefix="rnnkit-fuzz-"))  # one folder, files rewritten per input
atexit.register(shutil.rmtree, WORK, True)


def outcome(parser: str, read: Callable[[], Any]) -> None:
    """Run one parse: success, or an RnnkitError whose message is one non-empty line."""
    COUNTS[parser] += 1
    try:
        read()
    except RnnkitError as e:
        REFUSED[parser] += 1
        message = str(e)
        assert message.strip() and "\n" not in message, repr(message)


def write(name: str, data: bytes) -> Path:
    p = WORK / name
    p.write_bytes(data)
    return p


# ----------------------------------------------------------------------------- strategies

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252", "latin-1", "utf-32")
CELL = st.one_of(st.sampled_from(["", "NaN", "nan", "NA", "inf", "-inf", "1e400", "abc", "\"", "\"\"", "a,b",
                                  "1", "2.5", "-3", "0", "null", "\t", "\r", "\x00", "é", "2020-01", "2020-13"]),
                 st.text(max_size=8), st.integers(-10**6, 10**6).map(str), st.floats().map(str))


@st.composite
def encoded(draw: Any, text: st.SearchStrategy[str]) -> bytes:
    """Text in a random encoding (undecodable characters replaced), sometimes damaged at a random byte."""
    enc = draw(st.sampled_from(ENCODINGS))
    data = draw(text).encode(enc, errors="replace")
    if draw(st.booleans()) and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + draw(st.binary(max_size=4)) + data[i + 1:]
    return data


@st.composite
def table(draw: Any, sep: str, header: list[str]) -> str:
    cols = draw(st.lists(st.sampled_from(header + ["x", ""]), min_size=1, max_size=4))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=5), max_size=12))
    return "\n".join([sep.join(cols)] + [sep.join(r) for r in rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=6),
                    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
                    max_leaves=15)


@st.composite
def jsonl(draw: Any) -> str:
    lines = draw(st.lists(st.one_of(
        st.fixed_dictionaries({"text": st.one_of(st.text(max_size=10), JSON), "label": JSON}),
        JSON.map(json.dumps), st.text(max_size=12)), max_size=10))
    return "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)


# ----------------------------------------------------------------------------- the parsers

@FUZZ
@given(data=st.one_of(encoded(st.text(max_size=200)), st.binary(max_size=200)),
       bom=st.sampled_from([b"", codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]))
def test_text_corpora(data: bytes, bom: bytes) -> None:
    path = write("corpus.txt", bom + data)
    outcome("text corpus (load_corpus)", lambda: load_corpus(str(path), 0.1, 0.1))


@FUZZ
@given(kind=st.sampled_from([".csv", ".tsv"]), data=st.data())
def test_csv_tsv_tables(kind: str, data: Any) -> None:
    text = data.draw(table("," if kind == ".csv" else "\t", ["text", "label"]))
    path = write("t" + kind, data.draw(encoded(st.just(text))))
    outcome("CSV/TSV table (read_rows + load_raw)", lambda: (read_rows(path), load_raw(str(path))))


@FUZZ
@given(text=jsonl())
def test_jsonl_tables(text: str) -> None:
    path = write("t.jsonl", text.encode("utf-8"))
    outcome("JSONL table (load_raw)", lambda: load_raw(str(path)))


NUMBER = st.one_of(st.integers(-100, 1000).map(str), st.floats(-1e3, 1e3).map(lambda v: f"{v:.3f}"))


@st.composite
def series_csv(draw: Any) -> str:
    """A monthly series of numbers with a few cells from CELL (text, NaN, inf, empty, ...), rows maybe lost."""
    n = draw(st.integers(2, 30))
    rows = [f"{2000 + m // 12}-{m % 12 + 1:02d},{draw(NUMBER)},{draw(st.one_of(NUMBER, CELL))}" for m in range(n)]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, n - 1))
        rows[i] = draw(st.sampled_from([",".join(draw(st.lists(CELL, max_size=4))), "", rows[i] + ",9"]))
    return "time,y,z\n" + "\n".join(rows) + "\n"


@FUZZ
@given(data=st.data())
def test_forecast_csv(data: Any) -> None:
    text = data.draw(st.one_of(table(",", ["time", "y", "z"]), series_csv()))
    path = write("f.csv", data.draw(encoded(st.just(text))))
    target = data.draw(st.sampled_from([(), ("y",), ("nope",)]))
    outcome("forecast CSV (load_frame)",
            lambda: load_frame(ForecastDataConfig(source=str(path), target_columns=target)))


@FUZZ
@given(data=st.data())
def test_seq2seq_pairs(data: Any) -> None:
    kind = data.draw(st.sampled_from([".tsv", ".csv", ".txt"]))
    text = data.draw(table("\t" if kind != ".csv" else ",", ["#", "src"]))
    path = write("p" + kind, data.draw(encoded(st.just(text))))
    max_len = data.draw(st.sampled_from([None, 1, 5, 200]))
    outcome("seq2seq pairs (read_pairs)", lambda: seq2seq.read_pairs(path, "char", "word", max_len))


TS_HEADERS = ["@problemName x", "@timeStamps false", "@timeStamps true", "@univariate true", "@univariate maybe",
              "@classLabel true a b", "@classLabel false", "@classLabel true", "@targetLabel true",
              "@dimensions 2", "@dimensions x", "@equalLength true", "@missing true", "@data", "@bogus"]


VALID_TS = ["@problemName x", "@univariate true", "@equalLength true", "@classLabel true a b", "@data"]


@FUZZ
@given(head=st.one_of(st.lists(st.sampled_from(TS_HEADERS), max_size=6), st.just(VALID_TS)),
       rows=st.lists(st.one_of(
           st.lists(st.lists(CELL, max_size=4).map(",".join), max_size=3).map(":".join),
           st.tuples(st.lists(NUMBER, min_size=1, max_size=5).map(",".join), st.sampled_from(["a", "b", "c", ""]))
           .map(":".join)), max_size=6))
def test_ts_files(head: list[str], rows: list[str]) -> None:
    text = "\n".join(head + rows) + "\n"
    outcome(".ts (read_ts)", lambda: read_ts(text, allow_missing=True, source="fuzz.ts"))


ARRAY = st.one_of(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=24).map(np.asarray),
    st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(0, 3)).map(lambda s: np.zeros(s, np.float32)),
    st.tuples(st.integers(0, 6), st.integers(0, 5)).map(lambda s: np.ones(s)),
    st.lists(st.text(max_size=3), max_size=6).map(lambda v: np.asarray(v, dtype=str)),
    st.lists(st.integers(-3, 3), max_size=8).map(lambda v: np.asarray(v, dtype=np.int64)),
    st.just(np.asarray(3.0)), st.just(np.asarray([True, False])), st.just(np.zeros((2, 2), np.complex64)))


@st.composite
def near_valid_npz(draw: Any) -> dict[str, np.ndarray]:
    """X (N, T[, F]) numbers and N labels (maybe a test split too), then 0-2 arrays swapped for any ARRAY."""
    n, t, f = draw(st.integers(2, 12)), draw(st.integers(1, 6)), draw(st.sampled_from([None, 1, 2]))
    shape = (n, t) if f is None else (n, t, f)
    x = np.asarray(draw(st.lists(st.floats(-5, 5, width=32), min_size=int(np.prod(shape)),
                                 max_size=int(np.prod(shape)))), np.float32).reshape(shape)
    y = np.asarray(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=n, max_size=n)))
    out = {"X": x, "y": y} if draw(st.booleans()) else {"X_train": x, "y_train": y, "X_test": x[: n // 2 + 1],
                                                         "y_test": y[: n // 2 + 1]}
    for _ in range(draw(st.integers(0, 2))):
        out[draw(st.sampled_from(sorted(out)))] = draw(ARRAY)
    return out


@FUZZ
@given(arrays=st.one_of(near_valid_npz(), st.dictionaries(
           st.sampled_from(["X", "y", "X_train", "y_train", "X_test", "y_test", "other"]), ARRAY, max_size=5)),
       damage=st.one_of(st.none(), st.none(), st.integers(0, 400)), numeric=st.booleans())
def test_npz(arrays: dict[str, np.ndarray], damage: int | None, numeric: bool) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if damage is not None:  # a truncated or corrupted archive
        data = data[:damage] if damage % 2 else data[:damage] + b"\xff" + data[damage + 1:]
    path = write("d.npz", data)
    outcome(".npz (load_raw)", lambda: load_raw(str(path), test_fraction=0.3, numeric=numeric))


KEYS = {"model": ["cell", "hidden_size", "num_layers", "dropout", "nope"],
        "data": ["source", "valid_fraction", "test_fraction", "eval_seq_len", "level"],
        "train": ["lr", "batch_size", "betas", "grad_clip", "max_steps", "max_minutes", "schedule", "seed"]}
TOML_VALUE = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "true", "\"x\"", "[1, 2]",
                                        "[2.0, 0.5]", "{a = 1}", "\"lstm\"", "1_000", "0x10", "'''x'''", "", "["]),
                       st.integers(-10**9, 10**9).map(str), st.floats().map(repr), st.text(max_size=6).map(json.dumps))


SANE = {"hidden_size": st.integers(1, 64).map(str), "num_layers": st.sampled_from(["1", "2"]),
        "dropout": st.sampled_from(["0.0", "0.5"]), "lr": st.sampled_from(["1e-3", "0.1"]),
        "batch_size": st.sampled_from(["4", "32"]), "cell": st.sampled_from(['"gru"', '"lstm"', '"bogus"']),
        "valid_fraction": st.sampled_from(["0.1", "0.5"]), "seed": st.sampled_from(["0", "7"])}


@st.composite
def toml_recipe(draw: Any) -> str:
    lines = [draw(st.sampled_from(['task = "charlm"', 'task = "charlm"', 'task = "classify"', 'task = "nope"',
                                   "task = 3", "", 'description = "d"']))]
    for section in draw(st.lists(st.sampled_from([*KEYS, "optim", "model.sub"]), max_size=3)):
        lines.append(f"[{section}]")
        for _ in range(draw(st.integers(0, 3))):
            key = draw(st.sampled_from(KEYS.get(section, ["x"]) + ["="]))
            lines.append(f"{key} = {draw(st.one_of(TOML_VALUE, SANE.get(key, TOML_VALUE)))}")
    if draw(st.booleans()):
        lines.append(draw(st.text(max_size=10)))
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=toml_recipe(), encoding=st.sampled_from(["utf-8", "utf-16", "cp1252"]))
def test_toml_recipes(text: str, encoding: str) -> None:
    path = write("r.toml", text.encode(encoding, errors="replace"))
    outcome("TOML recipe (make_run_config)", lambda: make_run_config(str(path)))


@st.composite
def mutated(draw: Any, valid: Any) -> Any:
    """A valid JSON document with 0-3 random edits: a key dropped or added, a value replaced by any JSON,
    a list shortened or extended; nested dicts are edited too."""
    d = json.loads(json.dumps(valid))
    for _ in range(draw(st.integers(0, 3))):
        target = d
        while isinstance(target, dict) and target and draw(st.booleans()):
            inner = [k for k, v in target.items() if isinstance(v, dict)]
            if not inner:
                break
            target = target[draw(st.sampled_from(inner))]
        if not isinstance(target, dict):
            continue
        key = draw(st.sampled_from([*target, "extra"]))
        op = draw(st.sampled_from(["drop", "replace", "resize"]))
        if op == "drop":
            target.pop(key, None)
        elif op == "resize" and isinstance(target.get(key), list):
            target[key] = target[key][: draw(st.integers(0, 2))] + draw(st.lists(JSON, max_size=2))
        else:
            target[key] = draw(JSON)
    return d


SERIES = {"scaler.json": {"mode": "global", "mean": [0.5, 1.0], "std": [2.0, 1.0]},
          "labels.json": {"kind": "series", "input_size": 2, "names": ["a", "b"], "train_counts": [3, 4]}}
#: reader name -> (read the parsed JSON, a valid document to mutate, use the result as training/predict would)
READERS: dict[str, tuple[Callable[[Any], Any], Any, Callable[[Any], Any]]] = {
    "tokenizer.json (char-LM)": (tokenizer_from_dict, {"type": "char", "version": 1, "unk": "<unk>",
                                                       "chars": ["a", "b", "c"]}, lambda t: t.encode("abcd")),
    "tokenizer.json (classify vocab)": (classify_data.Vocab.from_dict,
                                        {"type": "vocab", "mode": "word", "lowercase": True,
                                         "itos": ["<pad>", "<unk>", "a", "b"]}, lambda v: v.encode("a b c")),
    "tokenizer.json (seq2seq vocab)": (seq2seq.Vocab.from_dict,
                                       {"tokens": ["<pad>", "<bos>", "<eos>", "<unk>", "a"], "level": "char"},
                                       lambda v: v.decode(v.encode(["a", "z"]))),
    "scaler.json (classify)": (classify_data.Scaler.from_dict, SERIES["scaler.json"],
                               lambda sc: sc.transform(np.ones((3, len(sc.mean) if sc.mean is not None else 2)))),
    "scaler.json (forecast)": (forecast_scaler.Scaler.from_dict,
                               {"kind": "standard", "a": [0.0, 1.0], "b": [1.0, 2.0], "columns": ["y", "z"]},
                               lambda sc: sc.inverse(sc.transform(np.ones((3, len(sc.a)))))),
    "targets.json (regress)": (regress.TargetScaler.from_dict, {"mean": [1.0], "std": [2.0]},
                               lambda sc: sc.inverse(sc.transform(np.ones((3, len(sc.mean)))))),
    "labels.json (input encoder)": (lambda d: InputEncoder.from_artifacts(d, d.get("labels.json") if isinstance(d, dict)
                                                                         else d), SERIES,
                                    lambda enc: enc.encode([np.ones((4, enc.input_size or 2))], ["row 1"])),
}


@pytest.mark.parametrize("reader", READERS)
@FUZZ
@given(data=st.data())
def test_artifact_json(reader: str, data: Any) -> None:
    read, valid, use = READERS[reader]
    d = data.draw(st.one_of(mutated(valid), JSON))
    outcome(reader, lambda: use(read(d)))


@FUZZ
@given(items=st.lists(st.one_of(
    st.tuples(st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks] + ["x.y", "train", ".lr", "lr."]),
              st.one_of(TOML_VALUE, CELL)).map("=".join),
    st.text(max_size=12)), min_size=1, max_size=3))
def test_set_overrides(items: list[str]) -> None:
    base = make_run_config("charlm")
    outcome("--set values (parse_overrides + apply_overrides)",
            lambda: (parse_overrides(items), apply_overrides(base, items)))


def test_every_parser_ran_its_examples() -> None:
    """Runs last (file order): every parser above got at least EXAMPLES generated inputs."""
    if not COUNTS:
        pytest.skip("run with the fuzz tests above")
    for parser, n in sorted(COUNTS.items()):
        print(f"\n{parser}: {n} inputs, {REFUSED[parser]} refused with an RnnkitError, {n - REFUSED[parser]} parsed")
    assert len(COUNTS) == 9 + len(READERS) and min(COUNTS.values()) >= EXAMPLES, COUNTS
