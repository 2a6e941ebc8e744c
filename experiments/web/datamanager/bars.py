"""Collected market data in the Data Manager's database: store bars and chain snapshots once, read bars back."""
from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from sqlalchemy import Engine, func, select

from experiments.web.datamanager.store import insert_ignoring, writing
from experiments.web.datamanager.tables import market_bars, option_snapshots

BAR_COLUMNS = ("open", "high", "low", "close", "volume")
CHAIN_FLOATS = ("bid", "ask", "volume", "open_interest", "iv", "delta", "gamma", "theta", "vega")


def last_bar_time(engine: Engine, symbol: str, interval: str) -> pd.Timestamp | None:
    """The newest stored bar of symbol at interval (UTC), None when none is stored."""
    with engine.connect() as conn:
        ts = conn.execute(select(func.max(market_bars.c.ts)).where(
            market_bars.c.symbol == symbol, market_bars.c.interval == interval)).scalar()
    if ts is None:
        return None
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def store_bars(engine: Engine, symbol: str, interval: str, bars: pd.DataFrame) -> int:
    """Insert bars (index = bar start, tz-aware) that are not stored yet; the number added."""
    if not len(bars):
        return 0
    idx = pd.DatetimeIndex(bars.index).tz_convert("UTC")
    rows = [{"symbol": symbol, "interval": interval, "ts": t.to_pydatetime(),
             **{c: float(bars[c].iloc[k]) for c in BAR_COLUMNS[:4]}, "volume": int(bars["volume"].iloc[k])}
            for k, t in enumerate(idx)]
    stmt = insert_ignoring(engine, market_bars, ["symbol", "interval", "ts"])
    count = select(func.count()).select_from(market_bars).where(market_bars.c.symbol == symbol,
                                                                market_bars.c.interval == interval)
    with writing(engine) as conn:  # a bulk insert's rowcount is not reliable: count before and after
        before = conn.execute(count).scalar_one()
        conn.execute(stmt, rows)
        return int(conn.execute(count).scalar_one() - before)


def store_chain(engine: Engine, underlying: str, chain: pd.DataFrame) -> int:
    """Insert one option-chain snapshot (the project's option columns, stamped `timestamp`) once; rows added."""
    if not len(chain):
        return 0
    rows = []
    for rec in chain.to_dict("records"):
        rows.append({"underlying": underlying, "taken_at": pd.Timestamp(rec["timestamp"]).tz_convert("UTC")
                     .to_pydatetime(), "option_symbol": rec["symbol"],
                     "expiry": f"{pd.Timestamp(rec['expiry']):%Y-%m-%d}", "strike": float(rec["strike"]),
                     "right": rec["right"],
                     **{c: (None if rec.get(c) is None or math.isnan(float(rec[c])) else float(rec[c]))
                        for c in CHAIN_FLOATS}})
    stmt = insert_ignoring(engine, option_snapshots, ["underlying", "taken_at", "option_symbol"])
    count = select(func.count()).select_from(option_snapshots).where(option_snapshots.c.underlying == underlying)
    with writing(engine) as conn:
        before = conn.execute(count).scalar_one()
        conn.execute(stmt, rows)
        return int(conn.execute(count).scalar_one() - before)


def read_bars(engine: Engine, symbol: str, interval: str, start: dt.datetime | None, end: dt.datetime | None,
              limit: int) -> pd.DataFrame:
    """Stored bars of symbol at interval with start <= bar start <= end (UTC index named `timestamp`), at most
    `limit` + 1 rows (so a caller can tell the range was too long)."""
    q = select(market_bars.c.ts, *[market_bars.c[c] for c in BAR_COLUMNS]).where(
        market_bars.c.symbol == symbol, market_bars.c.interval == interval)
    if start is not None:
        q = q.where(market_bars.c.ts >= start)
    if end is not None:
        q = q.where(market_bars.c.ts <= end)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(market_bars.c.ts).limit(limit + 1)).all()
    index = pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], utc=True), name="timestamp")
    return pd.DataFrame([tuple(r)[1:] for r in rows], columns=list(BAR_COLUMNS), index=index)
