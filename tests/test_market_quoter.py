"""ModelQuoter: only bar-i data, consistent with its chains, put-call parity, spreads, speed."""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError
from trader.market import ModelQuoter, generate_synthetic
from trader.market.base import OPTION_COLUMNS, OptionQuoter
from trader.options import bs_price


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=20, seed=7)


def test_is_an_option_quoter(market):
    assert isinstance(market.quoter, OptionQuoter)


def test_quote_uses_only_bar_i(market):
    i = 2000
    expiry = market.quoter.expiries(i)[1]
    strike = float(round(market.bars["close"].iloc[i]))
    before = [market.quoter.quote(i, expiry, strike + d, r) for d in (-3, 0, 3) for r in ("C", "P")]
    chain_before = market.quoter.chain(i, 5)
    later = market.bars.copy()
    later.iloc[i + 1:, :] = later.iloc[i + 1:, :].to_numpy() * 1.3  # every later bar changes
    q2 = ModelQuoter(later, **{k: v for k, v in market.quoter.params().items() if k != "kind"})
    after = [q2.quote(i, expiry, strike + d, r) for d in (-3, 0, 3) for r in ("C", "P")]
    assert before == after
    pd.testing.assert_frame_equal(chain_before, q2.chain(i, 5))
    earlier = market.bars.copy()
    earlier.iloc[i, earlier.columns.get_loc("close")] *= 1.01  # bar i itself does matter
    q3 = ModelQuoter(earlier, **{k: v for k, v in market.quoter.params().items() if k != "kind"})
    assert q3.quote(i, expiry, strike, "C") != before[2]


def test_quote_matches_chain_and_schema(market):
    q = market.quoter
    i = 1234
    chain = q.chain(i, 5)
    assert list(chain.columns) == [*OPTION_COLUMNS, "dte"]
    assert chain["dte"].between(0, 5).all()
    assert sorted(set(chain["expiry"].dt.date)) == q.expiries(i)
    for _, row in chain.sample(20, random_state=0).iterrows():
        quote = q.quote(i, row["expiry"].date(), row["strike"], row["right"])
        assert quote.bid == pytest.approx(row["bid"]) and quote.ask == pytest.approx(row["ask"])
        assert quote.delta == pytest.approx(row["delta"], abs=1e-9)
        assert quote.vega == pytest.approx(row["vega"], abs=1e-9)
    assert q.chain(i, 0)["dte"].eq(0).all()


def test_put_call_parity_in_mid_quotes(market):
    q = market.quoter
    for i in (10, 3000, 5555, 7700):
        chain = q.chain(i, 5)
        chain["mid"] = (chain["bid"] + chain["ask"]) / 2
        chain["half"] = (chain["ask"] - chain["bid"]) / 2
        calls = chain[chain["right"] == "C"].set_index(["expiry", "strike"])
        puts = chain[chain["right"] == "P"].set_index(["expiry", "strike"])
        spot = market.bars["close"].iloc[i]
        strikes = calls.index.get_level_values("strike")
        gap = (calls["mid"] - puts["mid"]) - (spot - strikes)
        assert (gap.abs() <= calls["half"] + puts["half"] + 0.01).all()
        assert gap.abs().median() < 0.02


def test_iv_and_price_consistent(market):
    q = market.quoter
    i = 4000
    e = q.expiries(i)[2]
    k = float(round(market.bars["close"].iloc[i])) + 2
    quote = q.quote(i, e, k, "C")
    end = market.bars.index[i] + pd.Timedelta(minutes=1)
    t = (pd.Timestamp(e.isoformat() + " 16:00", tz="America/New_York") - end).total_seconds() / (365 * 86400)
    theo = float(bs_price(market.bars["close"].iloc[i], k, t, quote.iv, "C"))
    assert quote.bid <= theo <= quote.ask
    assert quote.mid == pytest.approx((quote.bid + quote.ask) / 2)


def test_spreads_wider_in_low_liquidity(market):
    q, truth = market.quoter, market.truth
    minute = (market.bars.index.hour - 9) * 60 + market.bars.index.minute - 30
    widths = {0: [], 2: []}
    for i in range(0, len(market.bars), 7):
        liq = int(truth["liquidity"].iloc[i])
        if liq == 1 or not 30 <= minute[i] < 330:
            continue
        e = q.expiries(i)[1]
        k = float(round(market.bars["close"].iloc[i]))
        quote = q.quote(i, e, k, "C")
        widths[liq].append(quote.ask - quote.bid)
    assert len(widths[0]) > 20 and len(widths[2]) > 5
    assert np.mean(widths[2]) > 1.5 * np.mean(widths[0])


def _flat_bars(spread: float = 0.01) -> pd.DataFrame:
    idx = pd.date_range("2024-03-05 09:30", "2024-03-05 15:59", freq="1min", tz="America/New_York", name="timestamp")
    n = len(idx)
    return pd.DataFrame({"open": 500.0, "high": 500.0, "low": 500.0, "close": 500.0, "volume": 1e5,
                         "vix": 16.0, "spread": spread}, index=idx).astype(float).iloc[:n]


def test_spreads_widen_into_the_close_and_with_the_underlying_spread():
    q = ModelQuoter(_flat_bars())
    noon, last = 150, 389
    e = dt.date(2024, 3, 8)
    w_noon = q.quote(noon, e, 450.0, "C")
    w_last = q.quote(last, e, 450.0, "C")  # deep ITM: theo barely moves
    assert (w_last.ask - w_last.bid) > (w_noon.ask - w_noon.bid)
    wide = ModelQuoter(_flat_bars(spread=0.05)).quote(noon, e, 450.0, "C")
    assert (wide.ask - wide.bid) > 3 * (w_noon.ask - w_noon.bid)


def test_expiry_behaviour_and_errors():
    q = ModelQuoter(_flat_bars())
    today = dt.date(2024, 3, 5)
    last = q.quote(389, today, 490.0, "C")  # at 16:00 the 0DTE call is worth its intrinsic value
    assert last.bid <= 10.0 <= last.ask and last.delta == 1.0
    past = q.quote(10, dt.date(2024, 3, 1), 490.0, "P")
    assert past.bid == 0.0 and np.isnan(past.iv)
    assert q.expiries(0)[0] == today and q.expiries(0)[-1] <= today + dt.timedelta(days=5)
    with pytest.raises(DataError, match="right"):
        q.quote(0, today, 500.0, "X")
    with pytest.raises(DataError, match="outside"):
        q.quote(10_000, today, 500.0, "C")
    with pytest.raises(DataError, match="vix"):
        ModelQuoter(_flat_bars().drop(columns="vix"))


def test_quote_is_cheap(market):
    q = market.quoter
    e = q.expiries(100)[1]
    k = float(round(market.bars["close"].iloc[100]))
    q.quote(100, e, k, "C")
    n = 3000
    t0 = time.perf_counter()
    for j in range(n):
        q.quote(100 + j % 1000, e, k, "P")
    per_quote = (time.perf_counter() - t0) / n
    assert per_quote < 100e-6  # target: tens of microseconds
