"""Parsers for text classification, CMUdict and forecasting series, on fixtures made here.

Network-marked tests check the real archives against the counts in ../shared/DATASETS.md.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.archive import DatasetError
from rnnkit.data.series import interpolate_missing, parse_series
from rnnkit.data.text_sources import read_cmudict, read_orange_tab


def test_orange_tab_skips_three_header_lines_and_blank_lines():
    data = b"Category\tText\nd\tstring\nclass\t\nearn\tprofit up\nacq\tbuys stake\n\n"
    assert read_orange_tab(data, "r8.tab") == (["earn", "acq"], ["profit up", "buys stake"])
    with pytest.raises(DatasetError, match=r"r8\.tab:5: expected 2 tab-separated fields \(Category, Text\), got 3"):
        read_orange_tab(data.replace(b"acq\tbuys", b"acq\tbuys\tx"), "r8.tab")


def test_cmudict_every_pronunciation_in_order_and_comments():
    text = "a AH0\na(2) EY1\nabc EY1 B IY1 S IY1 # an abbreviation\n;;; nothing\n"
    got = read_cmudict(text.replace(";;; nothing\n", ""))
    assert got == {"a": [["AH0"], ["EY1"]], "abc": [["EY1", "B", "IY1", "S", "IY1"]]}
    with pytest.raises(DatasetError, match=r"x\.dict:4: word ';;;'"):
        read_cmudict(text.replace(";;; nothing", ";;;"), "x.dict")


def make_archive(tmp_path: Path, member: str, text: str) -> Path:
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, text)
    return path


CO2 = "date,co2\n19580329,316.1\n19580405,\n19580412,317.5\n19580419,\n"


def test_series_missing_values_reported_then_interpolated(tmp_path):
    member = "statsmodels/datasets/co2/co2.csv"
    arc = make_archive(tmp_path, member, CO2)
    s = parse_series(arc, member)
    assert s.time == ["1958-03-29", "1958-04-05", "1958-04-12", "1958-04-19"]
    assert s.meta["missing_count"] == 2 and s.meta["missing_times"] == ["1958-04-05", "1958-04-19"]
    assert np.isnan(s.values[1]) and s.freq == "W" and s.seasonal_period == 52
    f = parse_series(arc, member, interpolate=True)
    np.testing.assert_allclose(f.values, [316.1, 316.8, 317.5, 317.5])  # midpoint; edge = nearest
    assert f.meta["interpolated"] == 2


def test_multivariate_series_columns_and_quarters(tmp_path):
    member = "sktime/datasets/data/Uschange/Uschange.csv"
    text = (",Quarter,Consumption,Income,Production,Savings,Unemployment\n"
            "0,1970 Q1,0.6,0.9,-2.4,4.8,0.9\n1,1970 Q2,0.4,1.1,-0.5,7.2,0.5\n")
    s = parse_series(make_archive(tmp_path, member, text), member)
    assert s.values.shape == (2, 5) and s.time == ["1970Q1", "1970Q2"] and s.columns[-1] == "Unemployment"
    np.testing.assert_array_equal(s.values[:, 1], [0.9, 1.1])


def test_interpolation_matches_numpy_reference():
    v = np.array([[1.0, np.nan], [np.nan, 4.0], [3.0, 6.0]])
    np.testing.assert_allclose(interpolate_missing(v), [[1.0, 4.0], [2.0, 4.0], [3.0, 6.0]])


# name -> expected (len, shape, first time, last time) from DATASETS.md / the package docs
SERIES = {
    "airline": (144, "1949-01", "1960-12"),
    "lynx": (114, "1821", "1934"),
    "shampoo": (36, "1991-01", "1993-12"),
    "uschange": (187, "1970Q1", "2016Q3"),
    "co2": (2284, "1958-03-29", "2001-12-29"),
    "macrodata": (203, "1959Q1", "2009Q3"),
    "elec_equip": (257, "1995-01", "2016-05"),
}


@pytest.mark.network
def test_real_series():
    from rnnkit.data.registry import load_dataset

    for name, (n, first, last) in SERIES.items():
        s = load_dataset(name)
        assert (len(s.values), s.time[0], s.time[-1]) == (n, first, last), name
    assert load_dataset("airline").values.sum() == 40363  # total passengers, Box & Jenkins series G
    assert load_dataset("co2").meta["missing_count"] == 59
    assert load_dataset("uschange").values.shape == (187, 5)


@pytest.mark.network
def test_real_text_sets():
    from rnnkit.data.registry import load_dataset

    rt = load_dataset("rt-sentiment")
    assert (len(rt.train_texts), len(rt.test_texts)) == (10246, 2562)
    assert sum(rt.train_labels) + sum(rt.test_labels) == 7403  # fresh = 1
    r8, r52 = load_dataset("reuters-r8"), load_dataset("reuters-r52")
    assert (len(r8.train_texts), len(r8.test_texts), len(r8.label_names)) == (5485, 2189, 8)
    assert (len(r52.train_texts), len(r52.test_texts), len(r52.label_names)) == (6532, 2568, 52)
    c = load_dataset("cmudict")
    assert (len(c.train), len(c.valid), len(c.test)) == (113448, 6302, 6302)
    assert not {w for w, _ in c.train} & {w for w, _ in c.test}
