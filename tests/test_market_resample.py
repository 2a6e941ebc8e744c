"""Resampling 1-minute bars within sessions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError
from trader.market import generate_synthetic, resample_bars, resample_positions
from trader.market.validate import validate_bars


@pytest.fixture(scope="module")
def bars():
    return generate_synthetic(sessions=3, start="2024-11-27", seed=2).bars  # includes the 11-29 early close


def test_counts_and_labels(bars):
    five = resample_bars(bars, "5min")
    per_day = pd.Series(five.index.date).value_counts().sort_index().tolist()
    assert per_day == [78, 42, 78]
    hour = resample_bars(bars, "1h")
    labels = [t.strftime("%H:%M") for t in hour.index[hour.index.date == hour.index[0].date()]]
    assert labels == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    day = resample_bars(bars, "1day")
    assert len(day) == 3 and all(t.strftime("%H:%M") == "09:30" for t in day.index)
    validate_bars(five)
    validate_bars(hour)


def test_aggregates(bars):
    fifteen = resample_bars(bars, "15min")
    first = bars.iloc[:15]
    row = fifteen.iloc[0]
    assert row["open"] == first["open"].iloc[0] and row["close"] == first["close"].iloc[-1]
    assert row["high"] == first["high"].max() and row["low"] == first["low"].min()
    assert row["volume"] == first["volume"].sum() and row["vix"] == first["vix"].iloc[-1]
    assert list(fifteen.columns) == list(bars.columns)


def test_positions_point_at_last_source_bar(bars):
    pos = resample_positions(bars, "30min")
    thirty = resample_bars(bars, "30min")
    assert len(pos) == len(thirty)
    assert np.array_equal(bars["close"].to_numpy()[pos], thirty["close"].to_numpy())
    assert bars.index[pos[0]].strftime("%H:%M") == "09:59"


def test_bad_interval(bars):
    with pytest.raises(DataError, match="Unsupported bar interval"):
        resample_bars(bars, "9h")
