"""User files: CSV and Parquet bars and option snapshots, the example files, the SnapshotQuoter."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from trader.errors import DataError
from trader.market import (
    MissingQuoteError,
    SnapshotQuoter,
    load_bars_file,
    load_market_files,
    load_options_file,
)
from trader.market.files import EXAMPLES_DIR

BARS = EXAMPLES_DIR / "spy_bars_1min.csv"
OPTIONS = EXAMPLES_DIR / "spy_options_snapshot.csv"


def test_example_files_load():
    bars = load_bars_file(BARS)
    assert len(bars) == 10 and str(bars.index.tz) == "America/New_York"
    assert bars.index[0] == pd.Timestamp("2024-01-02 09:30", tz="America/New_York")
    assert {"open", "high", "low", "close", "volume", "vix"} <= set(bars.columns)
    opts = load_options_file(OPTIONS)
    assert len(opts) == 12 and set(opts["right"]) == {"C", "P"}


def test_market_with_snapshots_quotes_the_latest_snapshot():
    m = load_market_files(BARS, OPTIONS)
    assert m.meta["options_modeled"] is False and m.truth is None
    assert isinstance(m.quoter, SnapshotQuoter)
    row = m.chains.iloc[0]
    for i in (0, 5, 9):  # every bar of the session sees the 09:30 snapshot
        q = m.quoter.quote(i, row["expiry"].date(), row["strike"], row["right"])
        assert (q.bid, q.ask, q.iv) == (row["bid"], row["ask"], row["iv"])
    assert m.quoter.expiries(3) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    chain = m.quoter.chain(3, 0)
    assert len(chain) == 6 and (chain["dte"] == 0).all()
    with pytest.raises(MissingQuoteError, match="No quote for C 999 expiring 2024-01-02"):
        m.quoter.quote(3, dt.date(2024, 1, 2), 999.0, "C")
    assert m.meta["gaps"] and m.meta["gaps"][0]["kind"] == "intraday"  # only 10 minutes of the session


def test_snapshot_before_first_bar_is_missing(tmp_path):
    opts = load_options_file(OPTIONS)
    later = opts.assign(timestamp=opts["timestamp"] + pd.Timedelta(minutes=5))
    q = SnapshotQuoter(load_bars_file(BARS), later)
    with pytest.raises(MissingQuoteError, match="No option snapshot at or before bar 2"):
        q.quote(2, dt.date(2024, 1, 2), 470.0, "C")
    assert q.quote(5, dt.date(2024, 1, 2), 470.0, "C").bid > 0


def test_market_without_snapshots_models_options(tmp_path):
    path = tmp_path / "bars.csv"
    load_bars_file(BARS).drop(columns="vix").reset_index().to_csv(path, index=False)
    m = load_market_files(path)
    assert m.meta["options_modeled"] is True and "fallback" in m.meta["vix_source"]
    q = m.quoter.quote(3, dt.date(2024, 1, 3), 470.0, "C")
    assert 0 < q.bid < q.ask


def test_naive_csv_needs_zone(tmp_path):
    path = tmp_path / "naive.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2024-03-04 09:30,10,11,9,10.5,100\n"
                    "2024-03-04 09:31,10.5,11,10,10.2,50\n")
    with pytest.raises(DataError, match=r"naive\.csv: column Date has naive timestamps.*tz="):
        load_bars_file(path)
    bars = load_bars_file(path, tz="America/New_York")
    assert bars.index[0] == pd.Timestamp("2024-03-04 09:30", tz="America/New_York")
    utc = load_bars_file(path, tz="UTC")
    assert utc.index[0] == pd.Timestamp("2024-03-04 04:30", tz="America/New_York")


def test_daily_dates_placed_at_the_open(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text("datetime,open,high,low,close,volume\n2024-03-04,10,11,9,10.5,100\n2024-03-05,10.5,11,10,10.2,50\n")
    bars = load_bars_file(path, tz="America/New_York")
    assert [t.strftime("%Y-%m-%d %H:%M") for t in bars.index] == ["2024-03-04 09:30", "2024-03-05 09:30"]
    m = load_market_files(path, tz="America/New_York")
    assert m.meta["interval"] == "1day" and m.quoter.params()["expiry_rule"] == "weekly"


def test_malformed_csv_gets_a_clear_error(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("timestamp,open,high,low,close,volume\n2024-03-04T09:30:00-05:00,1,2,1,1,5\n"
                      "2024-03-04T09:31:00-05:00,1,2,1,1,5,7,8\n")
    with pytest.raises(DataError, match=r"ragged\.csv: malformed CSV"):
        load_bars_file(ragged)
    bad_value = tmp_path / "bad.csv"
    bad_value.write_text("timestamp,open,high,low,close,volume\n2024-03-04T09:30:00-05:00,1,2,1,1,5\n"
                         "2024-03-04T09:31:00-05:00,1,2,1,oops,5\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3 \(2024-03-04 09:31:00-05:00\): column close value "
                                        r"'oops' is not a number"):
        load_bars_file(bad_value)
    no_time = tmp_path / "notime.csv"
    no_time.write_text("when,open,high,low,close,volume\nx,1,1,1,1,1\n")
    with pytest.raises(DataError, match="no timestamp column"):
        load_bars_file(no_time)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        load_bars_file(empty)
    with pytest.raises(DataError, match="unknown file type"):
        load_bars_file(tmp_path / "x.json") if (tmp_path / "x.json").write_text("{}") else None
    with pytest.raises(DataError, match="no such file"):
        load_bars_file(tmp_path / "missing.csv")


def test_parquet_round_trip(tmp_path):
    bars = load_bars_file(BARS)
    path = tmp_path / "bars.parquet"
    bars.to_parquet(path)
    pd.testing.assert_frame_equal(load_bars_file(path), bars)
    opts = load_options_file(OPTIONS)
    opath = tmp_path / "opts.parquet"
    opts.to_parquet(opath)
    pd.testing.assert_frame_equal(load_options_file(opath), opts)
