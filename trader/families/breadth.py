"""Market breadth from the constituent panel (every context symbol without a named role).

Each constituent's close is aligned to the underlying's bar closes (as of that time), then per bar:

* `breadth_adv_dec`: (advancers - decliners) / constituents, against the previous session's last close
  (intraday) or the previous bar (daily); a constituent with no reference yet counts as neither;
* `breadth_above_ma`: share of constituents above their own `MA_BARS`-bar moving average, centred at 0
  (share - 0.5);
* `breadth_new_hi_lo`: (share at a `HL_BARS`-bar closing high) - (share at such a low);
* `breadth_oscillator`: a McClellan-like oscillator, EWMA(19) - EWMA(39) of `breadth_adv_dec`;
* `breadth_dispersion`: cross-sectional standard deviation of the constituents' 15-bar log returns.

Intraday windows: MA 60 bars, highs/lows 390 bars (one session); daily: MA 50, highs/lows 252.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from trader.families.common import finish, log_change, session_reference, session_starts
from trader.market.base import Market
from trader.market.universe import aligned_closes, constituents

MIN_CONSTITUENTS = 5
DISPERSION_BARS = 15


def inputs(market: Market) -> list[str]:
    """Missing inputs: a panel of at least MIN_CONSTITUENTS constituent series."""
    have = constituents(list(market.context))
    if len(have) >= MIN_CONSTITUENTS:
        return []
    return [f"at least {MIN_CONSTITUENTS} constituent series (found {len(have)})"]


def panel(market: Market) -> np.ndarray:
    """Aligned closes of the constituents, [bars, constituents]."""
    closes = aligned_closes(market.context, constituents(list(market.context)), pd.DatetimeIndex(market.bars.index))
    return np.column_stack(list(closes.values()))


def build(market: Market, intraday: bool) -> pd.DataFrame:
    """The breadth columns for every bar of the market (causal)."""
    index = pd.DatetimeIndex(market.bars.index)
    closes = panel(market)
    ma_bars, hl_bars = (60, 390) if intraday else (50, 252)
    logp = np.log(closes)
    first = session_starts(index, intraday)
    ref = session_reference(logp, first) if intraday else np.vstack([np.full(logp.shape[1], np.nan), logp[:-1]])
    have = np.isfinite(logp)
    count = np.maximum(have.sum(axis=1), 1)
    move = logp - ref
    adv = (move > 0).sum(axis=1)
    dec = (move < 0).sum(axis=1)
    adv_dec = (adv - dec) / count
    frame = pd.DataFrame(closes)
    ma = frame.rolling(ma_bars, min_periods=1).mean().to_numpy()
    above = ((closes > ma) & have).sum(axis=1) / count - 0.5
    hi = frame.rolling(hl_bars, min_periods=1).max().to_numpy()
    lo = frame.rolling(hl_bars, min_periods=1).min().to_numpy()
    warm = np.arange(len(index)) >= min(hl_bars, 20) - 1
    new_hi = ((closes >= hi) & have).sum(axis=1) / count
    new_lo = ((closes <= lo) & have).sum(axis=1) / count
    series = pd.Series(adv_dec)
    osc = series.ewm(span=19, adjust=False).mean() - series.ewm(span=39, adjust=False).mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows before any 15-bar return exist: NaN, then 0
        disp = np.nanstd(log_change(logp, DISPERSION_BARS), axis=1)
    return finish({
        "breadth_adv_dec": adv_dec, "breadth_above_ma": above,
        "breadth_new_hi_lo": np.where(warm, new_hi - new_lo, 0.0), "breadth_oscillator": osc.to_numpy(),
        "breadth_dispersion": disp,
    }, index)
