"""Crypto risk appetite: BTC-USD returns, realised volatility and its correlation with the underlying.

BTC trades around the clock; each underlying bar sees the last BTC bar closed at or before its own close, so
the first bar of a session carries the whole overnight (or weekend, or holiday) move and nothing after it.

* `crypto_ret_<k>`: BTC log return over the last k underlying bars (k = 1, 15, 60);
* `crypto_since_close`: BTC log return since the previous session's last bar (the overnight move, held through
  the session; for daily bars the previous bar);
* `crypto_rv_24h`: BTC realised volatility (per bar, from its own bars) over the 24 hours before its last
  closed bar, annualised to 365 days;
* `crypto_corr`: rolling correlation of BTC's and the underlying's one-bar returns over `CORR_BARS` bars.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.families.common import finish, log_change, session_reference, session_starts
from trader.market.base import Market
from trader.market.universe import CONTINUOUS, asof_positions, close_times

SYMBOL = "BTC-USD"
RETURN_BARS = (1, 15, 60)
CORR_BARS = 120


def inputs(market: Market) -> list[str]:
    """Missing symbols."""
    return [] if SYMBOL in market.context else [SYMBOL]


def build(market: Market, intraday: bool) -> pd.DataFrame:
    """The crypto columns for every bar of the market (causal)."""
    index = pd.DatetimeIndex(market.bars.index)
    btc = market.context[SYMBOL]
    stamps = pd.DatetimeIndex(btc.index)
    known = close_times(stamps, continuous=SYMBOL in CONTINUOUS)
    pos = asof_positions(known, close_times(index))
    close = btc["close"].to_numpy(dtype=float)
    logb_all = np.log(close)
    r_all = np.r_[np.nan, np.diff(logb_all)]
    # Realised vol over the trailing 24 hours of BTC's own bars, annualised by the bar count of a day.
    r_series = pd.Series(r_all * r_all, index=stamps)
    day_mean = r_series.rolling("24h", min_periods=2).mean().to_numpy()
    step_s = float(np.median(np.diff(stamps.asi8))) / 1e9 if len(stamps) > 1 else 86400.0
    rv_all = np.sqrt(day_mean * (365.0 * 86400.0 / max(step_s, 1.0)))
    ok = pos >= 0
    take = np.clip(pos, 0, None)
    logb = np.where(ok, logb_all[take], np.nan)
    out: dict[str, np.ndarray] = {f"crypto_ret_{k}": log_change(logb, k) for k in RETURN_BARS}
    first = session_starts(index, intraday)
    ref = session_reference(logb, first) if intraday else np.r_[np.nan, logb[:-1]]
    out["crypto_since_close"] = logb - ref
    out["crypto_rv_24h"] = np.where(ok, rv_all[take], np.nan)
    spy = np.log(market.bars["close"].to_numpy(dtype=float))
    r_spy = pd.Series(np.r_[np.nan, np.diff(spy)])
    r_btc = pd.Series(np.r_[np.nan, np.diff(logb)])
    out["crypto_corr"] = r_btc.rolling(CORR_BARS, min_periods=10).corr(r_spy).to_numpy()
    return finish(out, index)
