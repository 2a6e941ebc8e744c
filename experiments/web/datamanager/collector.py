"""Market data collection from Tradier into the Data Manager's database: bars (and option-chain snapshots),
incrementally and idempotently: each pass starts from the newest stored bar and stores only what is new."""
from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from experiments.web.datamanager.bars import last_bar_time, store_bars, store_chain
from trader.broker.tradier_client import TradierClient
from trader.errors import DataError
from trader.market.tradier_history import TradierHistorySource
from trader.market.validate import interval_minutes

log = logging.getLogger("gaussian.datamanager")
NY = "America/New_York"
_EVERY = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)$")


def parse_every(text: str) -> float:
    """`30s`, `15m`, `1h` -> seconds (at least one second)."""
    m = _EVERY.match(text.strip().lower())
    if not m:
        raise DataError(f"--every {text!r} is not a duration like 30s, 15m or 1h")
    seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
    if seconds < 1:
        raise DataError(f"--every {text!r} is under one second")
    return seconds


def check_interval(interval: str) -> str:
    """The interval if Tradier's history can give it (1min, 5min, 15min, their multiples, 1day)."""
    try:
        interval_minutes(interval)
    except DataError:
        raise DataError(f"--interval {interval!r} is not a bar interval like 1min, 5min, 15min or 1day") from None
    return interval


def collect_once(engine: Engine, client: TradierClient, symbols: list[str], interval: str, *, chains: bool = False,
                 days: int = 5, expirations: int = 2) -> list[dict[str, Any]]:
    """One collection pass: per symbol, the bars since the newest stored one (or the last `days` sessions when
    none is stored) and, with `chains`, one snapshot of the nearest `expirations` option chains. Returns what
    was added per symbol."""
    clock = client.clock()
    today = clock.date or pd.Timestamp.now(NY).date()
    source = TradierHistorySource(client)
    out = []
    for symbol in symbols:
        last = last_bar_time(engine, symbol, interval)
        start = last.tz_convert(NY).date() if last is not None else today - dt.timedelta(days=max(1, days) - 1)
        try:
            bars = source.fetch(symbol, start, today, interval)
        except DataError as exc:
            log.info("no bars for %s: %s", symbol, exc)
            bars = pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
        if last is not None and len(bars):
            bars = bars[pd.DatetimeIndex(bars.index).tz_convert("UTC") > last]
        added = store_bars(engine, symbol, interval, bars)
        chain_rows = 0
        if chains:
            stamp = pd.Timestamp(clock.timestamp) if clock.timestamp is not None else pd.Timestamp.now(NY)
            if stamp.tzinfo is None:
                stamp = stamp.tz_localize("UTC")
            for expiry in client.option_expirations(symbol)[:expirations]:
                chain_rows += store_chain(engine, symbol, client.option_chain_frame(symbol, expiry, stamp))
        out.append({"symbol": symbol, "interval": interval, "bars_added": added, "chain_rows_added": chain_rows,
                    "from": str(start), "to": str(today)})
    return out
