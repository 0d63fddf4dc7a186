"""Forecast data: windows never leak the future, scalers see only training rows, bad inputs fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.apps.forecast import ForecastDataConfig
from rnnkit.data.forecast import load_frame, window_indices
from rnnkit.data.forecast_bundle import prepare
from rnnkit.data.forecast_scaler import Scaler
from rnnkit.data.forecast_time import calendar_features, infer_freq, ordinal_to_str, to_ordinal
from rnnkit.errors import DataError


def write_csv(path, times, cols: dict[str, list]) -> str:
    lines = ["date," + ",".join(cols)]
    for i, t in enumerate(times):
        lines.append(t + "," + ",".join("" if np.isnan(v[i]) else repr(float(v[i])) for v in cols.values()))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def months(n: int, start_year: int = 2000) -> list[str]:
    return [f"{start_year + i // 12}-{i % 12 + 1:02d}" for i in range(n)]


@pytest.fixture
def csv_path(tmp_path):
    t = np.arange(60)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12)
    return write_csv(tmp_path / "s.csv", months(60), {"y": list(y), "price": list(t * 0.1)})


def test_window_indices_context_strictly_before_origin() -> None:
    ctx, hor = window_indices(np.array([5, 9]), context=3, horizon=2)
    np.testing.assert_array_equal(ctx, [[2, 3, 4], [6, 7, 8]])
    np.testing.assert_array_equal(hor, [[5, 6], [9, 10]])
    assert (ctx.max(1) < hor.min(1)).all()


def test_batch_rows_and_splits_leak_nothing(csv_path) -> None:
    cfg = ForecastDataConfig(source=csv_path, target_columns=("y",), known_covariates=("price",), horizon=4,
                             context=6, test_size=8, val_size=4, scaler="standard")
    b = prepare(cfg)
    T, n_train, n_fit = 60, 52, 48
    assert b.windows.n_fit == n_fit
    # training targets end before the validation rows, validation before the test rows
    assert b.train_origins.max() + cfg.horizon <= n_fit
    assert b.val_origins.min() >= n_fit and b.val_origins.max() + cfg.horizon <= n_train
    np.testing.assert_array_equal(b.test_origins, [52, 56])
    assert b.test_origins.max() + cfg.horizon == T
    # the context of a window holds exactly the scaled target of the rows before its origin
    batch = b.windows.batch(np.array([20]), np.array([0]))
    z = b.target_scaler.transform(b.frame.targets[:, 0], 0)
    np.testing.assert_allclose(batch["x"][0, :, 0].numpy(), z[14:20], rtol=1e-6)
    np.testing.assert_allclose(batch["y"][0].numpy(), z[20:24], rtol=1e-6)
    # known covariates of the horizon rows are in xf (they are known in advance); calendar follows
    assert batch["xf"].shape == (1, 4, 1 + 4)


def test_scaler_fitted_on_training_rows_only(csv_path, tmp_path) -> None:
    cfg = ForecastDataConfig(source=csv_path, target_columns=("y",), horizon=4, context=6, test_size=8,
                             scaler="standard")
    a = prepare(cfg)
    frame = load_frame(cfg)
    frame.targets[52:] *= 1000.0  # wildly different test tail: the scaler must not notice
    b = prepare(cfg, frame=frame)
    assert a.target_scaler == b.target_scaler
    np.testing.assert_allclose(a.target_scaler.a[0], frame.targets[:52, 0].mean())


@pytest.mark.parametrize("kind", ["standard", "minmax", "log1p", "none"])
def test_scaler_roundtrip(kind) -> None:
    x = np.random.default_rng(0).uniform(1, 50, size=(30, 2))
    s = Scaler.fit(x, kind)
    np.testing.assert_allclose(s.inverse(s.transform(x)), x, rtol=1e-10)
    assert Scaler.from_dict(s.to_dict()) == s
    if kind == "minmax":
        z = s.transform(x)
        np.testing.assert_allclose([z.min(), z.max()], [0, 1])


def test_calendar_and_time_axis() -> None:
    o = to_ordinal(months(25), "M")
    feats, names = calendar_features(o, "M")
    np.testing.assert_allclose(feats[0], feats[12])  # the same month a year later
    assert not np.allclose(feats[0], feats[6]) and names[0] == "month_sin1"
    assert ordinal_to_str(o[-1] + 1, "M") == "2002-02"
    assert ordinal_to_str(to_ordinal(["1970Q4"], "Q")[0] + 1, "Q") == "1971Q1"
    assert ordinal_to_str(to_ordinal(["2020-01-31"], "D")[0] + 1, "D") == "2020-02-01"


def test_yearly_and_quarterly_dates_as_pandas_writes_them() -> None:
    """A yearly or quarterly index written as dates (pandas' to_csv of a DatetimeIndex) reads as the plain
    years and quarters do; these raised 'cannot parse the time column' before."""
    years = ["1950-01-01", "1951-01-01", "1952-01-01"]
    assert infer_freq(years) == "Y"
    assert to_ordinal(years, "Y").tolist() == to_ordinal(["1950", "1951", "1952"], "Y").tolist()
    assert ordinal_to_str(to_ordinal(years, "Y")[-1] + 1, "Y") == "1953"
    quarters = ["2019-10-01", "2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01"]
    assert infer_freq(quarters) == "Q"
    assert to_ordinal(quarters, "Q").tolist() == to_ordinal(["2019Q4", "2020Q1", "2020Q2", "2020Q3", "2020Q4"],
                                                             "Q").tolist()
    with pytest.raises(DataError, match="not a quarter"):
        to_ordinal(["spring 2020"], "Q")


def test_long_format_with_an_id_column_is_one_series_per_id(tmp_path) -> None:
    """data.id_column: rows (id, time, value) become one target column per id, equal to pandas' pivot of the
    same file; a time one series lacks is a missing value (data.impute decides); a repeated (id, time) and a
    missing id column are one line each."""
    import pandas as pd

    from rnnkit.apps.forecast import ForecastDataConfig
    from rnnkit.data.forecast import load_frame

    rng = np.random.default_rng(0)
    lines = ["store,month,sales,price"]
    for s in ("b", "a"):
        for i in range(24):
            if s == "a" and i == 5:
                continue  # store a lacks one month
            lines.append(f"{s},{2018 + i // 12}-{i % 12 + 1:02d},{rng.normal(50, 5):.3f},{rng.integers(1, 4)}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines[:1] + lines[1:][::-1]) + "\n")  # any row order
    cfg = ForecastDataConfig(source=str(path), time_column="month", id_column="store", target_columns=("sales",),
                             impute="interpolate")
    frame = load_frame(cfg)
    ref = pd.read_csv(path).pivot(index="month", columns="store", values="sales").sort_index()
    assert frame.target_names == ["a", "b"] and frame.times == list(ref.index)  # ids as they first appear
    np.testing.assert_allclose(frame.targets[:, 1], ref["b"].to_numpy())
    np.testing.assert_allclose(frame.targets[:, 0], ref["a"].interpolate().to_numpy())  # the month a lacks
    with pytest.raises(DataError, match="missing"):
        load_frame(ForecastDataConfig(source=str(path), time_column="month", id_column="store",
                                      target_columns=("sales",)))
    path.write_text("\n".join(lines + [lines[3]]) + "\n")
    with pytest.raises(DataError, match=r"long.csv:49: series 'b' has time '2018-03' twice"):
        load_frame(cfg)
    with pytest.raises(DataError, match="id column 'shop' not in header"):
        load_frame(ForecastDataConfig(source=str(path), time_column="month", id_column="shop"))


def test_the_estimator_takes_long_format_as_its_wide_pivot() -> None:
    """Forecaster.fit(df, id_column=...) forecasts exactly as the same data pivoted to one column per series
    (same seed), and predict(data=...) takes the long layout fit was given."""
    import pandas as pd

    from rnnkit.estimators import Forecaster

    rng = np.random.default_rng(0)
    long = pd.DataFrame([{"store": s, "month": f"{2018 + i // 12}-{i % 12 + 1:02d}", "sales": b + i + rng.normal()}
                         for s, b in (("b", 100), ("a", 40)) for i in range(30)])
    kw = dict(horizon=3, max_steps=5, ensemble=1, hidden_size=4, random_state=0, verbose=0, combine="none")
    by_id = Forecaster(**kw).fit(long, time="month", target="sales", id_column="store")
    wide = Forecaster(**kw).fit(long.pivot(index="month", columns="store", values="sales")[["b", "a"]])
    p = by_id.predict()
    assert list(p["series"].unique()) == ["b", "a"]  # ids as they first appear
    np.testing.assert_allclose(p["mean"], wide.predict()["mean"], rtol=1e-6)
    np.testing.assert_allclose(by_id.predict(data=long)["mean"], p["mean"], rtol=1e-6)
    with pytest.raises(DataError, match="series 'b' has time '2018-01' twice"):
        Forecaster(**kw).fit(pd.concat([long, long.iloc[:1]]), time="month", target="sales", id_column="store")


def test_series_stacked_in_long_format_get_a_pivot_hint(tmp_path) -> None:
    from rnnkit.data.forecast_time import check_regular

    times = ["2020-01", "2020-02", "2020-03"] * 2  # two stores, one after the other
    with pytest.raises(DataError, match=r"6 rows hold 3 distinct times.*one column per series"):
        check_regular(to_ordinal(times, "M"), times)
    with pytest.raises(DataError, match="sort the file and drop duplicates"):  # one slip in one series
        check_regular(to_ordinal(["2020-01", "2020-03", "2020-02"], "M"), ["2020-01", "2020-03", "2020-02"])


@pytest.mark.parametrize("times,values,match", [
    (["2000-01", "2000-02", "2000-02", "2000-03"], [1, 2, 3, 4], "duplicate timestamp"),
    (["2000-01", "2000-03", "2000-02", "2000-04"], [1, 2, 3, 4], "not strictly increasing"),
    (["2000-01", "2000-02", "2000-05", "2000-06"], [1, 2, 3, 4], "missing timestamps"),
    (["2000-01", "2000-02", "2000-03", "2000-04"], [1, np.nan, 3, 4], r"missing \(NaN\).*'y'.*2000-02"),
])
def test_bad_time_and_values(tmp_path, times, values, match) -> None:
    p = write_csv(tmp_path / "bad.csv", times, {"y": values})
    with pytest.raises(DataError, match=match):
        load_frame(ForecastDataConfig(source=p, horizon=1, context=1))


def test_interpolate_when_asked(tmp_path) -> None:
    p = write_csv(tmp_path / "gap.csv", ["2000-01", "2000-02", "2000-04"], {"y": [1.0, np.nan, 4.0]})
    f = load_frame(ForecastDataConfig(source=p, horizon=1, context=1, impute="interpolate"))
    np.testing.assert_allclose(f.targets[:, 0], [1, 2, 3, 4])  # NaN row and the missing month filled


def test_other_bad_inputs(csv_path, tmp_path) -> None:
    with pytest.raises(DataError, match="series too short"):
        prepare(ForecastDataConfig(source=csv_path, target_columns=("y",), horizon=30, context=24))
    with pytest.raises(DataError, match="longer than the held-out tail"):
        prepare(ForecastDataConfig(source=csv_path, horizon=12, test_size=6))
    with pytest.raises(DataError, match="'units' not found"):
        load_frame(ForecastDataConfig(source=csv_path, target_columns=("units",)))
    with pytest.raises(DataError, match="time column 'when' not in header"):
        load_frame(ForecastDataConfig(source=csv_path, time_column="when"))
    p = write_csv(tmp_path / "neg.csv", months(40), {"y": list(np.linspace(-5, 5, 40))})
    with pytest.raises(DataError, match="log1p.*'y'"):
        prepare(ForecastDataConfig(source=p, horizon=3, context=6, scaler="log1p"))
    with pytest.raises(DataError, match="not found"):
        load_frame(ForecastDataConfig(source=str(tmp_path / "nope.csv")))


def test_future_labels_keep_the_weekday() -> None:
    from rnnkit.data.forecast_time import step_labels

    times = ["1958-03-29", "1958-04-05"]  # Saturdays
    o = to_ordinal(times, "W")
    assert step_labels(times, o, "W", np.array([1, 2, 3])) == ["1958-04-05", "1958-04-12", "1958-04-19"]
    m = months(3)
    assert step_labels(m, to_ordinal(m, "M"), "M", np.array([3])) == ["2000-04"]
