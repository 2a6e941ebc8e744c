"""The real daily market from the arch package's S&P 500 and VIX data."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from trader.errors import DataError
from trader.market import load_real_daily
from trader.market.validate import validate_bars


def test_loads_window_with_recorded_vix():
    m = load_real_daily("2015-01-01", "2015-12-31")
    bars = m.bars
    assert 250 <= len(bars) <= 253 and m.truth is None and m.chains is None
    assert m.meta["interval"] == "1day" and m.meta["options_modeled"] is True and m.meta["source"] == "real_daily"
    assert all((t.hour, t.minute) == (9, 30) for t in bars.index[:5])
    assert str(bars.index.tz) == "America/New_York"
    validate_bars(bars)
    from arch.data import sp500

    raw = sp500.load()
    assert bars["close"].iloc[0] == pytest.approx(raw.loc["2015-01-02", "Close"] * 0.1)
    assert m.meta["vix_source"]["fallback_days"] == 0
    assert bars["vix"].between(9, 60).all()
    assert m.meta["gaps"] == []


def test_fallback_vix_before_2014():
    m = load_real_daily("2008-01-01", "2014-06-30")
    src = m.meta["vix_source"]
    assert src["fallback_days"] > 0 and src["recorded_days"] > 0
    assert src["fallback_range"][1] < src["recorded_range"][0] == "2014-01-03"
    vix = m.bars["vix"]
    assert vix.loc["2008-10-01":"2008-12-31"].mean() > 2 * vix.loc["2013-01-01":"2013-12-31"].mean()
    assert np.isfinite(vix).all() and (vix >= 8).all()


def test_modeled_options():
    m = load_real_daily("2016-01-01", "2016-03-31")
    q = m.quoter
    i = 20
    exps = q.expiries(i)
    assert all(e.weekday() == 4 or e.weekday() == 3 for e in exps)  # weekly (Thursday before a Friday holiday)
    assert (exps[-1] - m.bars.index[i].date()).days <= 45
    chain = q.chain(i, 45)
    assert len(chain) == len(exps) * 41 * 2
    spot = m.bars["close"].iloc[i]
    atm = chain[(chain["strike"] == round(spot)) & (chain["right"] == "C")].sort_values("dte")
    assert atm["ask"].is_monotonic_increasing  # longer expiry, more value
    # the ATM IV of the ~30-day expiry is near the VIX level
    near30 = atm.iloc[(atm["dte"] - 30).abs().argmin()]
    assert near30["iv"] == pytest.approx(m.bars["vix"].iloc[i] / 100, rel=0.25)
    q.quote(i, exps[0], float(round(spot)), "P")


def test_bad_window():
    with pytest.raises(DataError, match="covers 1999-01-04 to 2018-12-31"):
        load_real_daily("2020-01-01", "2020-12-31")


def test_dates_match_exchange_calendar():
    m = load_real_daily("2012-10-01", "2012-11-30")
    dates = set(m.bars.index.date)
    assert dt.date(2012, 10, 29) not in dates and dt.date(2012, 10, 30) not in dates  # hurricane Sandy
    assert isinstance(m.bars.index, pd.DatetimeIndex)
