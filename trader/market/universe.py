"""The market as a universe: the traded underlying plus context series, and when each context bar is known.

A market's ``context`` maps a symbol to its bars (the bar schema: open, high, low, close, volume; index = bar
start, tz-aware). Each symbol has a role that says which feature family reads it:

==========  =====================================================================
role        symbols
==========  =====================================================================
sector      XLK XLF XLE XLV XLI XLY XLP XLU XLB XLRE (the macro family)
bond        TLT (macro)
dollar      UUP (macro)
vol         VIX9D VIX VIX3M, the VIX term structure (macro; VIX may instead be the bars' vix column)
crypto      BTC-USD, trading 24/7 (crypto)
constituent any other symbol: the panel breadth is computed from (breadth)
==========  =====================================================================

Known-at times (the as-of rule)
    A context bar is known at its close: bar start + interval for intraday bars; for daily bars the session's
    16:00 New York close (an early close is treated as 16:00, which only delays what is known), or start +
    24 hours for a series that trades every day (crypto). An underlying bar's decision time is its own close
    the same way. `asof_positions` gives, for each underlying bar, the last context bar closed at or before that
    time, so a weekend of BTC trading reaches Monday's first bar and nothing later than a bar's close ever does.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import TZ

SECTORS: tuple[str, ...] = ("XLK", "XLF", "XLE", "XLV", "XLI", "XLY", "XLP", "XLU", "XLB", "XLRE")
CYCLICALS: tuple[str, ...] = ("XLK", "XLF", "XLE", "XLI", "XLY", "XLB")
DEFENSIVES: tuple[str, ...] = ("XLV", "XLP", "XLU", "XLRE")
BONDS: tuple[str, ...] = ("TLT",)
DOLLAR: tuple[str, ...] = ("UUP",)
VOL_TERM: tuple[str, ...] = ("VIX9D", "VIX", "VIX3M")
CRYPTO: tuple[str, ...] = ("BTC-USD",)
NAMED = {**{s: "sector" for s in SECTORS}, **{s: "bond" for s in BONDS}, **{s: "dollar" for s in DOLLAR},
         **{s: "vol" for s in VOL_TERM}, **{s: "crypto" for s in CRYPTO}}
CONTINUOUS: frozenset[str] = frozenset(CRYPTO)
"""Symbols that trade every day around the clock."""

SESSION_CLOSE = pd.Timedelta(hours=16)


def role_of(symbol: str) -> str:
    """The role of a context symbol: sector, bond, dollar, vol, crypto, or constituent for anything else."""
    return NAMED.get(symbol, "constituent")


def constituents(symbols: list[str] | set[str]) -> list[str]:
    """The symbols of a universe that belong to the breadth panel, sorted."""
    return sorted(s for s in symbols if role_of(s) == "constituent")


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bar length of an index: the smallest spacing between consecutive bars (one day when 12 hours or more)."""
    ns = pd.DatetimeIndex(index).as_unit("ns").asi8
    if len(ns) < 2:
        return pd.Timedelta(days=1)
    step = pd.Timedelta(int(np.diff(ns).min()), unit="ns")
    return step if step < pd.Timedelta(hours=12) else pd.Timedelta(days=1)


def close_times(index: pd.DatetimeIndex, continuous: bool = False,
                step: pd.Timedelta | None = None) -> pd.DatetimeIndex:
    """When each bar of an index is complete (see the module notes): start + step, or the daily close."""
    idx = pd.DatetimeIndex(index).as_unit("ns")
    if idx.tz is None:
        raise DataError("context bars need tz-aware timestamps")
    step = infer_step(idx) if step is None else step
    if step < pd.Timedelta(hours=12) or continuous:
        return idx + step
    local = idx.tz_convert(TZ)
    return (local.tz_localize(None).normalize() + SESSION_CLOSE).tz_localize(TZ)


def asof_positions(known_at: pd.DatetimeIndex, decide_at: pd.DatetimeIndex) -> np.ndarray:
    """For each decision time, the position of the last `known_at` time at or before it (-1 when none)."""
    a = pd.DatetimeIndex(known_at).as_unit("ns").asi8
    b = pd.DatetimeIndex(decide_at).tz_convert(pd.DatetimeIndex(known_at).tz).as_unit("ns").asi8
    return np.searchsorted(a, b, side="right") - 1


def aligned_close(context: dict[str, pd.DataFrame], symbol: str, bar_index: pd.DatetimeIndex,
                  decide: pd.DatetimeIndex | None = None) -> np.ndarray:
    """The context symbol's last known close at each underlying bar's close (NaN before its first bar);
    `decide` is `close_times(bar_index)` when the caller already has it."""
    frame = context[symbol]
    known = close_times(pd.DatetimeIndex(frame.index), continuous=symbol in CONTINUOUS)
    decide = close_times(pd.DatetimeIndex(bar_index)) if decide is None else decide
    pos = asof_positions(known, decide)
    close = frame["close"].to_numpy(dtype=float)
    return np.where(pos >= 0, close[np.clip(pos, 0, None)], np.nan)


def aligned_closes(context: dict[str, pd.DataFrame], symbols: list[str] | tuple[str, ...],
                   bar_index: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """`aligned_close` of several symbols against the same underlying bars."""
    decide = close_times(pd.DatetimeIndex(bar_index))
    return {s: aligned_close(context, s, bar_index, decide) for s in symbols}


def truncate_context(context: dict[str, pd.DataFrame], until: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Each context series cut to the bars closed at or before `until` (what is known then)."""
    out = {}
    for symbol, frame in context.items():
        known = close_times(pd.DatetimeIndex(frame.index), continuous=symbol in CONTINUOUS)
        out[symbol] = frame.iloc[: int(asof_positions(known, pd.DatetimeIndex([until]))[0]) + 1]
    return out
