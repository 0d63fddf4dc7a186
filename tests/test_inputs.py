"""Input data is checked before the first training step: encodings detected (never a
UnicodeDecodeError), missing labels named or dropped, .npz splits checked whole, forecast cells
named, and resource limits (memory, file size, generation length) refused with the option to raise."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from rnnkit.apps.charlm import perplexity
from rnnkit.apps.forecast import ForecastDataConfig
from rnnkit.data.charlm import load_corpus
from rnnkit.data.classify_sources import load_raw
from rnnkit.data.forecast import load_frame
from rnnkit.data.seq2seq import read_pairs
from rnnkit.data.tables import decode_bytes, read_text
from rnnkit.errors import ConfigError, DataError
from rnnkit.limits import check_generate_length
from rnnkit.tasks import make_run_config

TEXT = "café,señor,Ärger,naïve"


# ----------------------------------------------------------------------------- encodings

@pytest.mark.parametrize("encoding,prefix", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""),
                                             ("cp1252", b""), ("latin-1", b"")])
def test_encodings_are_detected(tmp_path, caplog, encoding: str, prefix: bytes) -> None:
    p = tmp_path / "t.txt"
    p.write_bytes(prefix + (TEXT + "\r\n").encode(encoding))
    with caplog.at_level(logging.WARNING):
        assert read_text(p) == TEXT + "\n"
    fallback = encoding in ("cp1252", "latin-1")
    assert ("t.txt: not UTF-8 text (byte 0xe9 at offset 3, line 1); read as cp1252" in caplog.text) == fallback


def test_binary_and_broken_bom_files_are_refused(tmp_path) -> None:
    p = tmp_path / "zeros.txt"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"zeros.txt: a binary file, not text \(NUL byte at offset 0\)"):
        read_text(p)
    with pytest.raises(DataError, match="not valid UTF-16 text after its byte-order mark"):
        decode_bytes(b"\xff\xfeA", "odd.txt")  # three bytes: half a UTF-16 code unit left over


def test_non_utf8_tables_work_for_classify_forecast_and_seq2seq(tmp_path) -> None:
    rows = "text,label\n" + "".join(f"très bien {i},oui\nà éviter {i},non\n" for i in range(10))
    (tmp_path / "c.csv").write_bytes(rows.encode("cp1252"))
    raw = load_raw(str(tmp_path / "c.csv"))
    assert any("très" in t for t in raw.train_x + raw.test_x)
    series = "month,ventes €\n" + "".join(f"2020-{m:02d},{m * 3}\n" for m in range(1, 13))
    (tmp_path / "f.csv").write_bytes(series.encode("cp1252"))
    frame = load_frame(ForecastDataConfig(source=str(tmp_path / "f.csv")))
    assert frame.target_names == ["ventes €"] and frame.targets.shape == (12, 1)
    (tmp_path / "p.tsv").write_bytes("été\tsummer\nhiver\twinter\n".encode("latin-1"))
    assert read_pairs(tmp_path / "p.tsv")[0][0] == list("été")


def test_hidden_folders_are_not_corpus_text(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main", encoding="utf-8")
    (tmp_path / ".git" / "index").write_bytes(b"DIRC\x00\x00\x00\x02")
    assert load_corpus(str(tmp_path), valid=0.0, test=0.0).train == "hello"


# ----------------------------------------------------------------------------- labels and .npz

def _csv(tmp_path, labels: list[str]) -> str:
    p = tmp_path / "l.csv"
    p.write_text("text,label\n" + "".join(f"text {i},{v}\n" for i, v in enumerate(labels)), encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("missing", ["NaN", "", "NA", "null"])
def test_missing_labels_are_named_or_dropped(tmp_path, caplog, missing: str) -> None:
    from rnnkit.apps.classify import prepare_data

    src = _csv(tmp_path, ["a", "b"] * 10 + [missing])
    with pytest.raises(DataError, match=r"l.csv:22: missing label \(1 row\(s\)\); fill them in or set "
                                        r"data.missing_labels=drop"):
        prepare_data(make_run_config("classify-rt", data=src))
    with caplog.at_level(logging.WARNING):
        bundle = prepare_data(make_run_config("classify-rt", ["data.missing_labels=drop"], data=src))
    assert bundle.labels.names == ["a", "b"] and "dropped 1 example(s) with a missing label" in caplog.text


def _npz(tmp_path, **arrays) -> str:
    p = tmp_path / "d.npz"
    np.savez(p, **arrays)
    return str(p)


X = np.random.default_rng(0).normal(size=(12, 8)).astype(np.float32)
Y = np.array([0, 1] * 6)


@pytest.mark.parametrize("arrays,needle", [
    (dict(X=X, y=Y[:10]), "X has 12 examples but y has 10 targets"),
    (dict(X=X, y=np.r_[Y, 0]), "X has 12 examples but y has 13 targets"),
    (dict(X=X.astype(str), y=Y), "X must hold numbers, got dtype <U"),
    (dict(X=X, y=Y.reshape(6, 2)), "X has 12 examples but y has 6 targets"),
    (dict(X_train=X, y_train=Y, X_test=X[:, :, None].repeat(2, 2), y_test=Y), "X_train has 1 feature(s) per step "
                                                                             "but X_test has 2"),
    (dict(X_train=X, y_train=Y, X_test=X, y_test=Y[:5]), "X_test has 12 examples but y_test has 5 targets"),
    (dict(X=X[:0], y=Y[:0]), "must be (N, T) or (N, T, F) with N, T >= 1"),
])
def test_npz_splits_are_checked_before_training(tmp_path, arrays: dict, needle: str) -> None:
    with pytest.raises(DataError) as e:
        load_raw(_npz(tmp_path, **arrays))
    assert needle in str(e.value)


def test_object_npz_and_nan_labels(tmp_path) -> None:
    p = tmp_path / "o.npz"
    np.savez(p, X=np.array([[1.0], "a"], dtype=object), y=Y[:2])
    with pytest.raises(DataError, match=r"o.npz: not a readable .npz of numeric arrays \(it holds Python objects"):
        load_raw(str(p))
    from rnnkit.apps.classify import prepare_data

    src = _npz(tmp_path, X=X, y=np.r_[Y[:-1].astype(float), np.nan])
    with pytest.raises(DataError, match=r"d.npz:X\[\d+\]: missing label"):
        prepare_data(make_run_config("classify-italypower", data=src))


# ----------------------------------------------------------------------------- forecast cells

def _series(tmp_path, cells: list[str]) -> ForecastDataConfig:
    p = tmp_path / "s.csv"
    p.write_text("month,y\n" + "".join(f"2020-{m + 1:02d},{c}\n" for m, c in enumerate(cells)), encoding="utf-8")
    return ForecastDataConfig(source=str(p))


def test_forecast_cells_are_named(tmp_path) -> None:
    with pytest.raises(DataError, match=r"s.csv:4: column 'y' holds 'abc', not a number"):
        load_frame(_series(tmp_path, ["1", "2", "abc", "4"]))
    with pytest.raises(DataError, match=r"no numeric column besides the time column 'month' \(e.g. row 2 holds 'x'"):
        load_frame(_series(tmp_path, ["x", "y", "z"]))
    with pytest.raises(DataError, match=r"infinite value in column 'y' at '2020-02'"):
        load_frame(_series(tmp_path, ["1", "inf", "3", "4"]))


# ----------------------------------------------------------------------------- resource limits

def test_seq2seq_memory_is_estimated_before_training(tmp_path) -> None:
    from rnnkit.apps.seq2seq import prepare_data

    p = tmp_path / "long.tsv"
    lines = [f"ab{i}\tba{i}\n" for i in range(40)] + [f"{i}" + "x" * 9_999 + f"\t{i}" + "y" * 9_999 + "\n"
                                                    for i in range(10)]
    p.write_text("".join(lines), encoding="utf-8")
    cfg = make_run_config("seq2seq", ["data.max_len=20000", "data.valid_fraction=0.2", "data.test_fraction=0.2"],
                          data=str(p))
    with pytest.raises(ConfigError, match=r"a seq2seq training batch of 30 pairs of up to 10000 source and 10001 "
                                          r"target .* GB limit; lower train.batch_size or data.max_len, or raise "
                                          r"train.max_memory_gb"):
        prepare_data(cfg)


def test_file_size_limit_names_its_variable(tmp_path, monkeypatch) -> None:
    p = tmp_path / "big.txt"
    p.write_text("x" * 3_000_000, encoding="utf-8")
    monkeypatch.setenv("RNNKIT_MAX_FILE_MB", "1")
    with pytest.raises(DataError, match=r"big.txt: 3 MB is over the 1 MB file limit; raise it with the "
                                        r"environment variable RNNKIT_MAX_FILE_MB"):
        read_text(p)


def test_generation_length_and_perplexity_overflow() -> None:
    for bad in (-5, 0, 10**9):
        with pytest.raises(ConfigError, match=rf"length \(--length\)={bad} is out of range; allowed: \[1, 1000000\]"):
            check_generate_length(bad, "length (--length)")
    assert perplexity(1e6) == math.inf and perplexity(1.0) == 2.0


def test_forecast_time_axis_faults_are_data_errors(tmp_path) -> None:
    """Found by the fuzzer: an index beyond int64 raised OverflowError; a stray far timestamp would fill
    billions of rows under data.impute=interpolate."""
    p = tmp_path / "t.csv"
    p.write_text("t,y\n1,1\n9.223372036854776e+18,2\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot parse the time column for freq 'I'"):
        load_frame(ForecastDataConfig(source=str(p), freq="I"))
    p.write_text("t,y\n1,1\n2,2\n3,3\n100000000,4\n", encoding="utf-8")
    with pytest.raises(DataError, match="filling the gaps for freq 'I' would turn 4 rows into 100000000"):
        load_frame(ForecastDataConfig(source=str(p), freq="I", impute="interpolate"))


def test_scaler_json_round_trips_including_empty_covariates() -> None:
    """A forecast run without covariates saves an empty covariate scaler; it must load (a regression of the
    scaler.json checks, fixed in f0acf01)."""
    from rnnkit.data.forecast_scaler import Scaler

    empty = Scaler("standard", (), (), ())
    assert Scaler.from_dict(empty.to_dict()) == empty
    full = Scaler("minmax", (0.5, 1.0), (2.0, 3.0), ("y", "z"))
    assert Scaler.from_dict(full.to_dict()) == full
    with pytest.raises(DataError, match="scaler.json b: expected positive numbers"):
        Scaler.from_dict({**full.to_dict(), "b": [0.0, 1.0]})
