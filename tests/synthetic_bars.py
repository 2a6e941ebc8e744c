"""Small seeded bar frames for the feature and predictor tests (independent of the market generator)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def minute_bars(
    sessions: int = 6, seed: int = 0, drift: float = 0.0, extras: bool = True, short_last: bool = True
) -> pd.DataFrame:
    """1-minute RTH bars (390 a session, the last one 210 if short_last) with overnight gaps.

    drift > 0 plants a persistent signal: a hidden +-1 trend (switching with probability 1/200 a bar) adds
    drift * sd to each bar's return, and the volatility alternates between 1x and 2.5x regimes.
    """
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-03-04", periods=sessions)
    stamps, first = [], []
    for k, day in enumerate(days):
        length = 210 if short_last and k == sessions - 1 and sessions > 1 else 390
        start = pd.Timestamp(day.date()).tz_localize("America/New_York") + pd.Timedelta(hours=9, minutes=30)
        stamps.append(start + pd.to_timedelta(np.arange(length), unit="min"))
        first.append(np.r_[True, np.zeros(length - 1, dtype=bool)])
    index = stamps[0].append(stamps[1:]).rename("timestamp")
    is_first = np.concatenate(first)
    n = len(index)
    trend = np.where(np.cumsum(rng.random(n) < 1 / 200) % 2 == 0, 1.0, -1.0)
    vol = np.where(np.cumsum(rng.random(n) < 1 / 300) % 2 == 0, 1.0, 2.5)
    sd = 4e-4 * vol
    r = drift * sd * trend + sd * rng.standard_normal(n)
    gap = np.where(is_first, 3e-3 * rng.standard_normal(n), 0.0)
    gap[0] = 0.0
    log_close = np.log(450.0) + np.cumsum(gap + r)
    close = np.exp(log_close)
    open_ = np.exp(log_close - r)
    wiggle = np.abs(rng.standard_normal((2, n))) * sd * 0.5
    high = np.maximum(open_, close) * np.exp(wiggle[0])
    low = np.minimum(open_, close) * np.exp(-wiggle[1])
    bars = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close,
         "volume": np.round(1e5 * vol * rng.lognormal(0, 0.3, n))},
        index=index,
    )
    if extras:
        bars["vix"] = 15.0 * vol * np.exp(0.02 * rng.standard_normal(n))
        bars["spread"] = 0.01 + 0.01 * (rng.random(n) < 0.3)
        bars["quote_size"] = 100.0 * rng.integers(1, 40, n)
    return bars


def daily_bars(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Daily bars stamped at 09:30 New York time."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2023-01-02", periods=n)
    index = pd.DatetimeIndex([pd.Timestamp(d.date()).tz_localize("America/New_York") + pd.Timedelta(hours=9.5)
                              for d in days], name="timestamp")
    r = 0.01 * rng.standard_normal(n)
    close = 400.0 * np.exp(np.cumsum(r))
    open_ = close * np.exp(-0.5 * r + 0.002 * rng.standard_normal(n))
    high = np.maximum(open_, close) * 1.003
    low = np.minimum(open_, close) * 0.997
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close,
                         "volume": rng.lognormal(17, 0.3, n)}, index=index)
