"""Real daily history: the S&P 500 index and VIX series shipped with the `arch` package, as an SPY stand-in.

The bars are the S&P 500 index's daily open/high/low/close (``arch.data.sp500``, 1999-01-04 to 2018-12-31)
divided by 10 so the level looks like SPY (an index, not the ETF: no dividends, no tracking error); volume
is the index's reported volume, unscaled. Each bar is stamped 09:30 New York of its session (interval
"1day"). The ``vix`` column is the CBOE VIX close (``arch.data.vix``, from 2014-01-03) where available; on
earlier dates it falls back to ``1.15 x`` the trailing 20-session realized volatility of closes (see
``trader.market.model.trailing_vol_index``), and ``meta["vix_source"]`` says which dates got which.
Options are modeled, not recorded: the ModelQuoter prices them from the ``vix`` column as ATM volatility
(weekly expiries up to 45 days, $1 strikes +-20 around the session's open). There is no hidden truth.
Context series (`load_real_context`): of the universe's symbols only ``VIX`` exists in this history (the CBOE
close as a daily level, from 2014-01-03); the other families' symbols are missing from it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import TZ, Market
from trader.market.model import VOL_INDEX_PREMIUM, VOL_INDEX_WINDOW, trailing_vol_index
from trader.market.quoter import ModelQuoter
from trader.market.validate import find_gaps, validate_bars

SCALE = 0.1


def _arch_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The raw sp500 and vix frames of the arch package."""
    try:
        from arch.data import sp500, vix
    except ImportError as exc:
        raise DataError("The real daily market needs the 'arch' package (pip install arch).") from exc
    return sp500.load(), vix.load()


def load_real_daily(start: str | None = None, end: str | None = None, *, scale: float = SCALE,
                    symbol: str = "SPY", max_dte: int = 45, strikes_each_side: int = 20) -> Market:
    """The arch S&P 500 daily history (scaled by `scale`) with VIX, windowed to [start, end], options modeled."""
    spx, vix = _arch_frames()
    spx = spx.sort_index()
    lo = pd.Timestamp(start) if start else spx.index[0]
    hi = pd.Timestamp(end) if end else spx.index[-1]
    inside = (spx.index >= lo) & (spx.index <= hi)
    if inside.sum() < 2:
        raise DataError(
            f"The arch S&P 500 data has {int(inside.sum())} session(s) between {lo.date()} and {hi.date()}; "
            f"it covers {spx.index[0].date()} to {spx.index[-1].date()}."
        )
    days = pd.DatetimeIndex(spx.index).as_unit("ns").normalize()
    stamps = (days + pd.Timedelta(hours=9, minutes=30)).tz_localize(TZ)
    frame = pd.DataFrame({
        "timestamp": stamps,
        "open": spx["Open"].to_numpy(dtype=float) * scale,
        "high": spx["High"].to_numpy(dtype=float) * scale,
        "low": spx["Low"].to_numpy(dtype=float) * scale,
        "close": spx["Close"].to_numpy(dtype=float) * scale,
        "volume": spx["Volume"].to_numpy(dtype=float),
    })
    full = validate_bars(frame, source="arch.data.sp500")
    # The fallback runs over the whole history first, so a window's first weeks have a full trailing window.
    fallback = trailing_vol_index(full)
    vix_close = vix["vix"].copy()
    vix_close.index = pd.DatetimeIndex(vix_close.index).as_unit("ns").normalize()
    recorded = vix_close.reindex(days).to_numpy(dtype=float)
    has_all = np.isfinite(recorded) & (recorded > 0)
    full["vix"] = np.where(has_all, recorded, fallback)
    bars = full[inside].copy()
    has = has_all[inside]
    dates = bars.index.date
    vix_source: dict[str, Any] = {
        "recorded_days": int(has.sum()),
        "fallback_days": int((~has).sum()),
        "recorded_range": [str(dates[has][0]), str(dates[has][-1])] if has.any() else None,
        "fallback_range": [str(dates[~has][0]), str(dates[~has][-1])] if (~has).any() else None,
        "fallback_rule": f"{VOL_INDEX_PREMIUM:g} x {VOL_INDEX_WINDOW}-session realized volatility of closes",
    }
    gaps = find_gaps(bars, "1day")
    quoter = ModelQuoter(bars, interval="1day", underlying=symbol, max_dte=max_dte, expiry_rule="weekly",
                         strikes_each_side=strikes_each_side, strike_step=1.0, seed=0)
    meta: dict[str, Any] = {
        "source": "real_daily", "symbol": symbol, "interval": "1day", "scale": scale,
        "start": str(dates[0]), "end": str(dates[-1]), "sessions": len(bars),
        "description": (f"S&P 500 index daily bars x {scale:g} (an {symbol} stand-in) from the arch package, "
                        f"{dates[0]} to {dates[-1]}; options are modeled from the VIX column, not recorded."),
        "options_modeled": True, "vix_source": vix_source, "quoter": quoter.params(),
        "gaps": [g.to_dict() for g in gaps],
    }
    return Market(bars=bars, chains=None, truth=None, meta=meta, quoter=quoter)


def load_real_context(start: str | None = None, end: str | None = None) -> dict[str, pd.DataFrame]:
    """The context series the shipped history has: VIX as daily level bars (09:30 stamps), windowed."""
    _, vix = _arch_frames()
    level = vix["vix"].dropna()
    days = pd.DatetimeIndex(level.index).as_unit("ns").normalize()
    lo = pd.Timestamp(start) if start else days[0]
    hi = pd.Timestamp(end) if end else days[-1]
    keep = (days >= lo) & (days <= hi) & (level.to_numpy(dtype=float) > 0)
    if not keep.any():
        return {}
    values = level.to_numpy(dtype=float)[keep]
    stamps = (days[keep] + pd.Timedelta(hours=9, minutes=30)).tz_localize(TZ)
    frame = pd.DataFrame({"open": values, "high": values, "low": values, "close": values,
                          "volume": np.zeros(len(values))}, index=pd.DatetimeIndex(stamps, name="timestamp"))
    return {"VIX": frame}
