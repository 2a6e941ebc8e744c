"""The universe around the underlying: synthetic context series, user files with several symbols, storage."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError
from trader.market.base import Market
from trader.market.context_files import load_context
from trader.market.store import load_market, save_market
from trader.market.synthetic import generate_synthetic
from trader.market.synthetic_context import context_symbols, generate_context
from trader.market.universe import SECTORS, constituents, role_of

LONG = """symbol,timestamp,open,high,low,close,volume
XLK,2024-01-02T09:30:00-05:00,200,201,199,200.5,100
TLT,2024-01-02T09:30:00-05:00,95,95.5,94.8,95.1,50
XLK,2024-01-02T09:31:00-05:00,200.5,201,200,200.8,120
TLT,2024-01-02T09:31:00-05:00,95.1,95.2,95.0,95.0,40
"""


@pytest.fixture(scope="module")
def market() -> Market:
    m = generate_synthetic(sessions=8, seed=5)
    m.context = generate_context(m, seed=5)
    return m


def test_the_universe_has_fifteen_series_and_a_panel(market: Market) -> None:
    assert set(market.context) == set(context_symbols())
    named = [s for s in market.context if role_of(s) != "constituent"]
    assert len(named) == 15 and set(SECTORS) <= set(named)
    assert len(constituents(list(market.context))) == 40
    btc = market.context["BTC-USD"]
    days = set(btc.index.tz_convert("America/New_York").dayofweek)
    assert {5, 6} <= days  # trades on weekends
    for sym, frame in market.context.items():
        assert (frame[["open", "high", "low", "close"]] > 0).all().all(), sym
        assert (frame["high"] >= frame[["open", "close"]].max(axis=1) - 1e-9).all(), sym


def test_context_is_seeded_and_carries_the_regime(market: Market) -> None:
    again = generate_context(market, seed=5)
    pd.testing.assert_frame_equal(again["XLY"], market.context["XLY"])
    assert not generate_context(market, seed=6)["XLY"].equals(market.context["XLY"])
    r = {s: np.diff(np.log(market.context[s]["close"].to_numpy())) for s in ("XLY", "XLP")}
    trend = market.truth["trend"].to_numpy()[1:]
    spread = r["XLY"] - r["XLP"]
    # cyclicals beat defensives in bull trends and lag in bear trends
    assert spread[trend == 2].mean() > 0 > spread[trend == 0].mean()
    vol = market.truth["volatility"].to_numpy()
    ratio = np.log(market.context["VIX9D"]["close"].to_numpy() / market.context["VIX3M"]["close"].to_numpy())
    assert ratio[vol == 2].mean() > ratio[vol == 0].mean()


def test_planted_lead_lag_has_its_stated_strength(market: Market) -> None:
    lead = 5
    r_spy = np.diff(np.log(market.bars["close"].to_numpy()))
    for rho, low, high in ((0.0, -0.05, 0.05), (0.5, 0.4, 0.6)):
        ctx = generate_context(market, seed=5, lead_lag=rho, lead_bars=lead)
        r_ctx = np.diff(np.log(ctx["XLK"]["close"].to_numpy()))
        shock = r_ctx - np.polyfit(r_spy, r_ctx, 1)[0] * r_spy  # the series' own shock: its market move removed
        corr = np.corrcoef(shock[:-lead], r_spy[lead:])[0, 1]
        assert low < corr < high, (rho, corr)
    with pytest.raises(DataError, match="lead_lag"):
        generate_context(market, lead_lag=1.0)


def test_long_file_and_folder_load_the_same_series(tmp_path: Path) -> None:
    long = tmp_path / "context.csv"
    long.write_text(LONG)
    got = load_context(long)
    assert sorted(got) == ["TLT", "XLK"] and len(got["XLK"]) == 2
    folder = tmp_path / "ctx"
    folder.mkdir()
    for sym, frame in got.items():
        frame.reset_index().to_csv(folder / f"{sym}.csv", index=False)
    again = load_context(folder)
    for sym in got:
        pd.testing.assert_frame_equal(again[sym], got[sym], check_freq=False)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("XLK,2024-01-02T09:31", "XLK,2024-01-02T09:30"),
     r"context\.csv: line 4 \(2024-01-02 09:30:00-05:00\): XLK: duplicate timestamp"),
    (lambda t: t.replace("TLT,2024-01-02T09:31:00", "TLT,2024-01-02T09:31:30"),
     r"context\.csv: line 5 .*TLT: timestamp is misaligned"),
    (lambda t: t.replace("XLK,2024-01-02T09:31", "XLK,2024-01-02T09:29"),
     r"line 4 .*XLK: timestamp is earlier than the symbol's row before it"),
    (lambda t: t.replace("95.1,95.2,95.0,95.0", "95.1,95.2,95.0,-1"),
     r"line 5 .*column close value -1 is not a positive price"),
    (lambda t: t.replace("symbol,", "ticker,"), r"missing column\(s\) symbol"),
])
def test_bad_context_files_name_the_file_and_first_bad_row(tmp_path: Path, edit, message: str) -> None:
    path = tmp_path / "context.csv"
    path.write_text(edit(LONG))
    with pytest.raises(DataError, match=message):
        load_context(path)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no .csv or .parquet files"):
        load_context(tmp_path)


def test_a_stored_market_keeps_its_context(tmp_path: Path, market: Market) -> None:
    small = Market(bars=market.bars, chains=market.chains, truth=market.truth, meta=market.meta,
                   quoter=market.quoter, context={k: market.context[k] for k in ("XLK", "BTC-USD")})
    loaded = load_market(save_market(small, tmp_path / "m"))
    assert sorted(loaded.context) == ["BTC-USD", "XLK"]
    pd.testing.assert_frame_equal(loaded.context["BTC-USD"], small.context["BTC-USD"], check_freq=False,
                                  check_names=False)
