"""Bar and option-snapshot validation: every refusal is one sentence naming the place and the value."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError
from trader.market.validate import find_gaps, infer_interval, validate_bars, validate_options


def _bars(n: int = 5, tz: str | None = "America/New_York") -> pd.DataFrame:
    ts = pd.date_range("2024-03-05 09:30", periods=n, freq="1min", tz=tz)
    close = 500.0 + np.arange(n)
    return pd.DataFrame({"timestamp": ts, "open": close - 0.5, "high": close + 1, "low": close - 1,
                         "close": close, "volume": 100.0})


def test_good_bars_normalised():
    out = validate_bars(_bars(), source="t")
    assert out.index.name == "timestamp" and str(out.index.tz) == "America/New_York"
    assert list(out.columns) == ["open", "high", "low", "close", "volume"]
    assert out.index.dtype.unit == "ns"


def test_index_form_accepted_and_utc_converted():
    df = _bars(tz="UTC").set_index("timestamp")
    out = validate_bars(df)
    assert out.index[0].hour == 4  # 09:30 UTC is 04:30 New York in March (EST)
    assert str(out.index.tz) == "America/New_York"


def test_unsorted_refused():
    df = _bars().iloc[[0, 2, 1, 3, 4]].reset_index(drop=True)
    with pytest.raises(DataError, match=r"bars\.csv: row 3 .*earlier than the row before"):
        validate_bars(df, source="bars.csv")


def test_duplicate_refused():
    df = _bars().iloc[[0, 1, 1, 2]].reset_index(drop=True)
    with pytest.raises(DataError, match=r"row 3 .*duplicate timestamp"):
        validate_bars(df, source="x")


def test_negative_price_refused():
    df = _bars()
    df.loc[2, "low"] = -1.0
    with pytest.raises(DataError, match=r"row 3 .*column low value -1 is not a positive price"):
        validate_bars(df)


def test_high_below_low_refused():
    df = _bars()
    df.loc[1, ["high", "low"]] = [499.0, 502.0]
    with pytest.raises(DataError, match=r"row 2 .*high 499 is below low 502"):
        validate_bars(df)


def test_high_below_close_and_low_above_open_refused():
    df = _bars()
    df.loc[0, "high"] = 499.9  # close is 500
    with pytest.raises(DataError, match="high 499.9 is below open 499.5 or close 500"):
        validate_bars(df)
    df = _bars()
    df.loc[4, "low"] = 503.8  # open is 503.5
    with pytest.raises(DataError, match="low 503.8 is above open 503.5"):
        validate_bars(df)


def test_naive_refused_without_zone_and_accepted_with_one():
    df = _bars(tz=None)
    with pytest.raises(DataError, match="naive timestamps.*tz="):
        validate_bars(df, source="f.csv")
    out = validate_bars(df, tz="America/New_York")
    assert out.index[0] == pd.Timestamp("2024-03-05 09:30", tz="America/New_York")
    text = df.assign(timestamp=df["timestamp"].astype(str))
    with pytest.raises(DataError, match="naive"):
        validate_bars(text)
    assert validate_bars(text, tz="America/New_York").index.equals(out.index)


def test_missing_column_and_non_numeric_value():
    with pytest.raises(DataError, match="missing column.*volume"):
        validate_bars(_bars().drop(columns="volume"), source="f")
    df = _bars().astype({"close": object})
    df.loc[3, "close"] = "abc"
    with pytest.raises(DataError, match=r"row 4 .*column close value 'abc' is not a number"):
        validate_bars(df)
    df = _bars().assign(timestamp=lambda d: d["timestamp"].astype(str))
    df.loc[1, "timestamp"] = "not a time"
    with pytest.raises(DataError, match=r"row 2: column timestamp value 'not a time' is not a timestamp"):
        validate_bars(df)


def test_interval_inference():
    assert infer_interval(validate_bars(_bars()).index) == "1min"
    daily = pd.DatetimeIndex(pd.to_datetime(["2024-03-04 09:30", "2024-03-05 09:30"]).tz_localize("America/New_York"))
    assert infer_interval(daily) == "1day"


def test_gaps_reported_not_fatal():
    ts = pd.date_range("2024-03-04 09:30", "2024-03-04 15:59", freq="1min", tz="America/New_York")
    ts = ts.append(pd.date_range("2024-03-06 09:30", "2024-03-06 15:59", freq="1min", tz="America/New_York"))
    keep = np.ones(len(ts), dtype=bool)
    keep[[10, 11, 12, 100]] = False
    ts = ts[keep]
    bars = pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=ts)
    gaps = find_gaps(validate_bars(bars))
    kinds = [(g.kind, g.bars) for g in gaps]
    assert kinds == [("intraday", 3), ("intraday", 1), ("session", 390)]
    assert gaps[0].start.strftime("%H:%M") == "09:40" and gaps[0].end.strftime("%H:%M") == "09:42"
    assert "missing session 2024-03-05" == str(gaps[2])
    assert gaps[0].to_dict()["kind"] == "intraday"


def _options() -> pd.DataFrame:
    return pd.DataFrame({
        "timestamp": ["2024-03-05T09:30:00-05:00"] * 2, "expiry": ["2024-03-08"] * 2, "strike": [500, 500],
        "right": ["call", "P"], "bid": [1.0, 2.0], "ask": [1.1, 2.1],
    })


def test_options_normalised():
    out = validate_options(_options(), source="o.csv")
    assert list(out["right"]) == ["C", "P"]
    assert list(out["symbol"]) == ["SPY240308C00500000", "SPY240308P00500000"]
    assert out["expiry"].dtype == "datetime64[ns]" and str(out["timestamp"].dt.tz) == "America/New_York"


def test_options_refusals():
    df = _options()
    df.loc[1, "ask"] = 1.5
    with pytest.raises(DataError, match=r"row 2 .*ask 1.5 is below bid 2"):
        validate_options(df)
    df = _options()
    df.loc[0, "right"] = "X"
    with pytest.raises(DataError, match="right value 'X' is not C or P"):
        validate_options(df)
    df = _options()
    df.loc[1, "right"] = "C"
    with pytest.raises(DataError, match="duplicate contract SPY240308C00500000"):
        validate_options(df)
    with pytest.raises(DataError, match="missing column.*bid"):
        validate_options(_options().drop(columns="bid"))


@pytest.mark.parametrize("text", ["7sec", "30s", "90s", "0min", "-5min", "8h", "fortnightly", ""])
def test_an_interval_that_is_not_whole_minutes_is_refused_not_read_as_daily(text: str) -> None:
    from trader.market.validate import interval_minutes

    with pytest.raises(DataError, match="Unsupported bar interval"):
        interval_minutes(text)
    assert [interval_minutes(t) for t in ("1min", "5min", "15min", "1h", "1day")] == [1, 5, 15, 60, 0]
