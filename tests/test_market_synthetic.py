"""The synthetic market: determinism, speed, calendar, regime persistence, the planted edge, chains."""
from __future__ import annotations

import datetime as dt
import time

import numpy as np
import pandas as pd
import pytest

from trader.market import generate_synthetic
from trader.market.base import BAR_COLUMNS, OPTION_COLUMNS
from trader.market.synthetic import DURATIONS
from trader.market.validate import find_gaps, validate_bars


@pytest.fixture(scope="module")
def market():
    return generate_synthetic(sessions=60, seed=3)


def test_same_seed_identical_frames():
    a = generate_synthetic(sessions=5, seed=11)
    b = generate_synthetic(sessions=5, seed=11)
    pd.testing.assert_frame_equal(a.bars, b.bars)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.chains, b.chains)
    assert a.meta == b.meta


def test_different_seed_different_frames():
    a = generate_synthetic(sessions=5, seed=11)
    b = generate_synthetic(sessions=5, seed=12)
    assert not np.allclose(a.bars["close"].to_numpy(), b.bars["close"].to_numpy())
    assert not a.truth.equals(b.truth)


def test_sixty_sessions_generate_in_a_few_seconds():
    generate_synthetic(sessions=2, seed=0)  # warm imports and the calendar cache
    t0 = time.perf_counter()
    m = generate_synthetic(sessions=60, seed=5)
    assert time.perf_counter() - t0 < 5.0
    assert len(m.bars) == 60 * 390  # no early close among the first 60 sessions of 2024


def test_schema_and_validation(market):
    bars = market.bars
    assert list(bars.columns[:5]) == list(BAR_COLUMNS)
    assert {"vix", "spread", "quote_size"} <= set(bars.columns)
    assert str(bars.index.tz) == "America/New_York" and bars.index.name == "timestamp"
    assert all(bars[c].dtype == np.float64 for c in bars.columns)
    validate_bars(bars)  # raises on any violation
    assert find_gaps(bars, "1min") == []
    assert list(market.truth.columns) == ["trend", "volatility", "liquidity", "label"]
    assert market.truth.index.equals(bars.index)
    t = market.truth
    assert (t["label"] == t["trend"] * 9 + t["volatility"] * 3 + t["liquidity"]).all()
    assert market.meta["options_modeled"] is True and market.meta["interval"] == "1min"


def test_calendar_holiday_absent_and_early_close_has_210_bars():
    m = generate_synthetic(sessions=5, start="2024-11-25", seed=0)
    days = pd.Series(m.bars.index.date).value_counts().sort_index()
    assert dt.date(2024, 11, 28) not in days.index  # Thanksgiving
    assert days[dt.date(2024, 11, 29)] == 210  # early close 13:00
    assert days[dt.date(2024, 11, 27)] == 390
    last = m.bars.index[m.bars.index.date == dt.date(2024, 11, 29)][-1]
    assert (last.hour, last.minute) == (12, 59)
    m2 = generate_synthetic(sessions=3, start="2024-07-03", seed=0)
    dates = sorted(set(m2.bars.index.date))
    assert dates == [dt.date(2024, 7, 3), dt.date(2024, 7, 5), dt.date(2024, 7, 8)]
    assert (m2.bars.index.date == dt.date(2024, 7, 3)).sum() == 210


def _runs(x: np.ndarray) -> np.ndarray:
    change = np.flatnonzero(np.diff(x) != 0) + 1
    return np.diff(np.r_[0, change, len(x)])


@pytest.mark.parametrize("axis", ["trend", "volatility", "liquidity"])
def test_regimes_are_persistent(axis):
    states = np.concatenate([generate_synthetic(sessions=40, seed=s).truth[axis].to_numpy() for s in range(3)])
    runs = _runs(states)
    assert runs.mean() > 50  # hours, not single bars
    trans = np.zeros((3, 3))
    np.add.at(trans, (states[:-1], states[1:]), 1)
    probs = trans / trans.sum(axis=1, keepdims=True)
    assert np.all(np.diag(probs) > 0.97)
    # Mean run length near the documented expected durations (occupancy-weighted harmonic mix).
    d = np.array(DURATIONS[axis])
    assert 0.5 * d.min() < runs.mean() < 2.0 * d.max()


def _trend_t(m) -> float:
    r = np.diff(np.log(m.bars["close"].to_numpy()))
    s = m.truth["trend"].to_numpy()[1:] - 1.0
    return float(np.sum(s * r) / np.sqrt(np.sum(s * s * r * r)))


def _momentum_t(m, past: int = 390, ahead: int = 30) -> float:
    lc = np.log(m.bars["close"].to_numpy())
    t = np.arange(past, len(lc) - ahead, ahead)
    x = lc[t] - lc[t - past]
    y = lc[t + ahead] - lc[t]
    x = x - x.mean()
    return float(np.sum(x * y) / np.sqrt(np.sum(x * x * y * y)))


def test_planted_edge_vanishes_at_zero_and_shows_when_large():
    seeds = [21, 22, 23, 24]
    null_trend = [_trend_t(generate_synthetic(sessions=60, seed=s, edge=0.0)) for s in seeds]
    null_mom = [_momentum_t(generate_synthetic(sessions=60, seed=s, edge=0.0)) for s in seeds]
    strong = [generate_synthetic(sessions=60, seed=s, edge=2.0) for s in seeds]
    assert all(abs(t) < 3.5 for t in null_trend), null_trend
    assert abs(np.mean(null_trend)) < 2.0
    assert abs(np.mean(null_mom)) < 2.0, null_mom
    assert all(_trend_t(m) > 8 for m in strong)
    assert np.mean([_momentum_t(m) for m in strong]) > 3


def test_null_market_same_noise_different_drift():
    """edge only moves the drift: the regime paths are the same and returns differ by the drift term alone."""
    a = generate_synthetic(sessions=10, seed=8, edge=0.0)
    b = generate_synthetic(sessions=10, seed=8, edge=1.0)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    ra = np.diff(np.log(a.bars["close"].to_numpy()))
    rb = np.diff(np.log(b.bars["close"].to_numpy()))
    sign = a.truth["trend"].to_numpy()[1:] - 1.0
    assert np.mean((rb - ra)[sign > 0]) > 0 > np.mean((rb - ra)[sign < 0])
    assert np.allclose((rb - ra)[sign == 0], 0.0, atol=1e-4)  # only cent rounding


def test_vix_follows_vol_regime_and_sits_above_realized(market):
    vix = market.bars["vix"].to_numpy()
    vol = market.truth["volatility"].to_numpy()
    means = [vix[vol == k].mean() for k in range(3)]
    assert means[0] < means[1] < means[2]
    r = np.diff(np.log(market.bars["close"].to_numpy()))
    same_day = market.bars.index.date[1:] == market.bars.index.date[:-1]
    for k in range(3):  # implied above realized in every volatility state (regular-hours returns, annualised)
        pick = same_day & (vol[1:] == k)
        realized = r[pick].std() * np.sqrt(252 * 390 / 0.85)
        assert vix[1:][pick].mean() / 100 > realized


def test_intraday_u_shape_and_liquidity_columns(market):
    bars = market.bars
    minute = (bars.index.hour - 9) * 60 + bars.index.minute - 30
    r = np.abs(np.r_[0.0, np.diff(np.log(bars["close"].to_numpy()))])
    open_, mid = (minute >= 1) & (minute < 30), (minute >= 165) & (minute < 225)
    assert r[open_].mean() > 1.3 * r[mid].mean()
    vol = bars["volume"].to_numpy()
    assert vol[open_].mean() > 1.5 * vol[mid].mean()
    liq = market.truth["liquidity"].to_numpy()
    spread = bars["spread"].to_numpy()
    assert spread[liq == 2].mean() > 2 * spread[liq == 0].mean()
    size = bars["quote_size"].to_numpy()
    assert size[liq == 0].mean() > 3 * size[liq == 2].mean()


def test_daily_chains(market):
    chains = market.chains
    assert list(chains.columns) == list(OPTION_COLUMNS)
    assert chains["timestamp"].nunique() == 60
    first_bars = market.bars.index[np.r_[True, market.bars.index.date[1:] != market.bars.index.date[:-1]]]
    assert set(chains["timestamp"]) == set(first_bars)
    snap = chains[chains["timestamp"] == chains["timestamp"].iloc[0]]
    day = snap["timestamp"].iloc[0].date()
    dte = (snap["expiry"].dt.date - day).map(lambda d: d.days)
    assert dte.min() == 0 and dte.max() <= 5
    exp_days = sorted(set(snap["expiry"].dt.date))
    assert all(d.weekday() < 5 for d in exp_days)
    assert snap["strike"].nunique() == 41 and np.allclose(np.diff(np.sort(snap["strike"].unique())), 1.0)
    assert (chains["bid"] <= chains["ask"]).all() and (chains["bid"] >= 0).all()
    cents = chains[["bid", "ask"]].to_numpy() * 100
    assert np.allclose(cents, np.round(cents))
    assert (chains["open_interest"] > 0).all() and (chains["volume"] >= 0).all()
    by_day = chains.groupby(["timestamp", "right"])["volume"].sum().unstack()
    pcr = by_day["P"] / by_day["C"]
    assert pcr.std() > 0.05  # put/call ratios vary
    atm = snap.loc[(snap["strike"] - snap["strike"].median()).abs() < 0.5]
    assert atm["iv"].between(0.03, 1.5).all()


def test_bad_arguments_raise_clear_errors():
    from trader.errors import DataError

    with pytest.raises(DataError, match="sessions"):
        generate_synthetic(sessions=0)
    with pytest.raises(DataError, match="edge"):
        generate_synthetic(sessions=1, edge=-1)
