"""pmdarima's series (number literals in pmdarima/datasets/*.py): the literal reader on small module
texts written here in the same form (no network), and (marked network) the pinned wheel through the
public loader against values read by hand from pmdarima 2.0.4's own modules.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data import archive, pmdarima_series, registry
from rnnkit.data.archive import DatasetError
from rnnkit.data.containers import Series
from rnnkit.data.pmdarima_series import FORMATS, parse_pmdarima, read_literal, time_labels

NAMES = ["wineind", "woolyrnq", "ausbeer", "austres", "taylor"]


def module(body: str, function: str = "load_wineind") -> str:
    return (f'import numpy as np\n\n\ndef {function}(as_series=False, dtype=DTYPE):\n    """Doc with an example\n'
            f'    >>> {function}()\n    array([1, 2, 3])\n    """\n    {body}\n    if not as_series:\n'
            f'        return rslt\n    return pd.Series(rslt)\n')


def wheel(tmp_path: Path, files: dict[str, str], name: str = "pmdarima-9-py3-none-any.whl") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, text in files.items():
            z.writestr(member, text)
    return path


def test_literal_is_read_with_ast_not_imported():
    src = module("rslt = np.array([\n        15136, 16733,\n        20016.5, None]).astype(dtype)")
    assert read_literal(src, "load_wineind") == [15136, 16733, 20016.5, None]
    assert read_literal(module("rslt = np.array([1., 2.])"), "load_wineind") == [1.0, 2.0]
    with pytest.raises(DatasetError, match=r"m\.py: no function load_taylor\(\)"):
        read_literal(src, "load_taylor", where="m.py")
    with pytest.raises(DatasetError, match=r"m\.py:9: rslt is not np\.array\(\[\.\.\.\]\) of a list literal"):
        read_literal(module("rslt = fetch_from_web_or_disk(url, 'gasoline')"), "load_wineind", where="m.py")
    with pytest.raises(DatasetError, match=r"m\.py:9: the rslt list is not a literal"):
        read_literal(module("rslt = np.array([1, x])"), "load_wineind", where="m.py")
    with pytest.raises(DatasetError, match=r"m\.py:9: not a number 'a' in rslt"):
        read_literal(module("rslt = np.array([1, 'a'])"), "load_wineind", where="m.py")
    with pytest.raises(DatasetError, match=r"m\.py:1: not valid Python"):
        read_literal("def (", "load_wineind", where="m.py")


def test_series_length_and_trailing_missing_values(tmp_path, monkeypatch):
    fmt = pmdarima_series.LiteralFormat("pmdarima/datasets/x.py", "load_wineind", "Q", 4, "1956Q1", 3)
    monkeypatch.setitem(FORMATS, "x", fmt)
    arc = wheel(tmp_path, {fmt.member: module("rslt = np.array([284., 213., 227., None]).astype(dtype)")})
    s = parse_pmdarima(arc, fmt.member)  # as ausbeer: one None after the documented last quarter
    assert isinstance(s, Series) and s.name == "x" and s.columns == ["x"]
    assert s.values.tolist() == [284.0, 213.0, 227.0] and s.time == ["1956Q1", "1956Q2", "1956Q3"]
    assert (s.freq, s.seasonal_period, s.meta["dropped_after_end"], s.meta["missing_count"]) == ("Q", 4, 1, 0)
    arc = wheel(tmp_path, {fmt.member: module("rslt = np.array([284., 213., 227., 5.])")}, "b.whl")
    with pytest.raises(DatasetError, match=r"x\.py: load_wineind\(\) holds 4 values, expected 3"):
        parse_pmdarima(arc, fmt.member)
    arc = wheel(tmp_path, {fmt.member: module("rslt = np.array([284., None, 227.])")}, "c.whl")
    s = parse_pmdarima(arc, fmt.member)  # a gap inside the range is reported, not dropped
    assert np.isnan(s.values[1]) and s.meta["missing_count"] == 1 and s.meta["missing_times"] == ["1956Q2"]
    assert parse_pmdarima(arc, fmt.member, interpolate=True).values.tolist() == [284.0, 255.5, 227.0]
    with pytest.raises(DatasetError, match="no pmdarima series format for a/b.py"):
        parse_pmdarima(arc, "a/b.py")


def test_time_labels():
    assert time_labels("1980-01", 14, "M")[-2:] == ["1981-01", "1981-02"]
    assert time_labels("1971Q2", 4, "Q") == ["1971Q2", "1971Q3", "1971Q4", "1972Q1"]
    assert time_labels("2000-06-05 00:00", 3, "30min") == ["2000-06-05 00:00", "2000-06-05 00:30", "2000-06-05 01:00"]


def test_registry_rows_and_pinned_platform_wheel():
    pkg = registry.PACKAGES["pmdarima"]
    assert (pkg.version, pkg.licence.split(";")[0]) == ("2.0.4", "MIT")
    assert pkg.filename == ("pmdarima-2.0.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64."
                            "manylinux_2_28_x86_64.whl")
    assert archive._wheel_platform_args(pkg.filename) == [
        "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
        "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11", "--implementation", "cp",
        "--abi", "cp311"]
    rows = {r["name"]: r for r in registry.list_datasets()}
    for name in NAMES:
        spec = registry.get_spec(name.upper())  # any case
        assert (spec.name, spec.task, spec.package, spec.filename) == (name, "forecast", "pmdarima", pkg.filename)
        assert spec.sha256 == pkg.sha256 and spec.members == (f"pmdarima/datasets/{name}.py",)
        assert rows[name]["source"] == "pmdarima==2.0.4" and rows[name]["size"] and rows[name]["description"]
    assert registry.__doc__ and "pmdarima 2.0.4   wineind, woolyrnq, ausbeer, austres, taylor" in registry.__doc__


# Read by hand from pmdarima 2.0.4's pmdarima/datasets/<name>.py (docstrings, index code, literals):
# name: (length, freq, period, first time, last time, first three values, last three values)
REAL = {
    "wineind": (176, "M", 12, "1980-01", "1994-08", [15136, 16733, 20016], [27549, 29660, 23356]),
    "woolyrnq": (119, "Q", 4, "1965Q1", "1994Q3", [6172, 6709, 6633], [4837, 6135, 6396]),
    "ausbeer": (211, "Q", 4, "1956Q1", "2008Q3", [284, 213, 227], [420, 390, 410]),
    "austres": (89, "Q", 4, "1971Q2", "1993Q2", [13067.3, 13130.5, 13198.4], [17568.7, 17627.1, 17661.5]),
    "taylor": (4032, "30min", 48, "2000-06-05 00:00", "2000-08-27 23:30", [22262, 21756, 22247],
               [25996, 24610, 23132]),
}


@pytest.mark.network
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_pmdarima_series(name):
    n, freq, period, first, last, head, tail = REAL[name]
    s = registry.load_dataset(name)
    assert isinstance(s, Series) and s.name == name and s.values.shape == (n,) and s.values.dtype == np.float64
    assert (s.freq, s.seasonal_period, s.time[0], s.time[-1], len(s.time)) == (freq, period, first, last, n)
    assert s.values[:3].tolist() == head and s.values[-3:].tolist() == tail
    assert not np.isnan(s.values).any() and s.meta["missing_count"] == 0
    assert s.meta["dropped_after_end"] == (1 if name == "ausbeer" else 0)  # ausbeer's trailing None (2008Q4)
    assert s.source.endswith(f".whl:pmdarima/datasets/{name}.py")


@pytest.mark.network
def test_real_wineind_and_taylor_calendar():
    w = registry.load_dataset("wineind")
    assert w.time[11:13] == ["1980-12", "1981-01"] and w.values[12] == 15028  # Jan 1981
    t = registry.load_dataset("taylor")
    assert t.time[47:49] == ["2000-06-05 23:30", "2000-06-06 00:00"] and len(t.values) == 12 * 7 * 48
