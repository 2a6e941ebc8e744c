"""Market data of the local Tradier server: a Market seen at bar i, rendered as Tradier payloads.

Nothing after bar i is ever read: quotes price at bar i, time & sales and history end with bar i (a coarser
bucket or today's daily bar is built from the bars seen so far), and the clock reads bar i's close time.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from trader.broker.tradier_sim_shapes import Reply, envelope, error_reply, json_reply, num
from trader.errors import DataError, OptionSymbolError
from trader.market.base import TZ, Market
from trader.market.resample import resample_bars
from trader.market.validate import infer_interval, interval_minutes
from trader.options import parse_occ


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _third_friday(day: dt.date) -> bool:
    return day.weekday() == 4 and 15 <= day.day <= 21


def _describe(root: str, expiry: dt.date, strike: float, right: str) -> str:
    return f"{root} {expiry:%b} {expiry.day} {expiry.year} ${strike:,.2f} {'Call' if right == 'C' else 'Put'}"


class SimMarketView:
    """Renders a Market's data at a bar position the way Tradier's market endpoints answer."""

    def __init__(self, market: Market, empty_style: str | None = None) -> None:
        bars = market.bars
        if len(bars) == 0:
            raise DataError("The local Tradier server needs a market with at least one bar.")
        self.market = market
        self.quoter = market.quoter
        self.symbol = str(market.meta.get("symbol", "SPY")).upper()
        self.empty_style = empty_style
        self.idx = pd.DatetimeIndex(bars.index).tz_convert(TZ)
        self.n = len(bars)
        self.interval = str(market.meta.get("interval") or infer_interval(self.idx))
        self.minutes = interval_minutes(self.interval)
        self.bars = bars
        self._open = bars["open"].to_numpy(dtype=float)
        self._close = bars["close"].to_numpy(dtype=float)
        self._spread = (bars["spread"].to_numpy(dtype=float) if "spread" in bars.columns
                        else np.full(self.n, 0.01))
        self._size = (bars["quote_size"].to_numpy(dtype=float) if "quote_size" in bars.columns
                      else np.full(self.n, 1000.0))
        self.dates = np.array(self.idx.date)
        by_day = pd.DataFrame({"d": self.dates, "h": bars["high"].to_numpy(float), "l": bars["low"].to_numpy(float),
                               "v": bars["volume"].to_numpy(float)})
        self._hi = by_day.groupby("d")["h"].cummax().to_numpy()
        self._lo = by_day.groupby("d")["l"].cummin().to_numpy()
        self._cumvol = by_day.groupby("d")["v"].cumsum().to_numpy()
        starts = np.flatnonzero(np.r_[True, self.dates[1:] != self.dates[:-1]])
        ends = np.r_[starts[1:] - 1, self.n - 1]
        lengths = np.diff(np.r_[starts, self.n])
        self._session_start = np.repeat(starts, lengths)
        self._session_end = np.repeat(ends, lengths)
        self._run_hi = np.maximum.accumulate(bars["high"].to_numpy(float))
        self._run_lo = np.minimum.accumulate(bars["low"].to_numpy(float))
        self._chain_cache: tuple[int, pd.DataFrame, dict[str, int]] | None = None

    # ------------------------------------------------------------------------------------------- time
    def now(self, i: int) -> pd.Timestamp:
        """The time at bar i: its close (bar start + interval; 16:00 for daily bars)."""
        ts = self.idx[i]
        if self.minutes == 0:
            return ts.normalize() + pd.Timedelta(hours=16)
        return ts + pd.Timedelta(minutes=self.minutes)

    def session_close(self, i: int) -> pd.Timestamp:
        """The close time of bar i's session (the end of its last bar)."""
        return self.now(int(self._session_end[i]))

    def _empty(self, default: str) -> str:
        return self.empty_style or default

    def last_close_on_or_before(self, day: dt.date, i: int) -> float:
        """The last close at or before bar i on or before `day` (expiry settlement price)."""
        j = int(np.searchsorted(self.dates[: i + 1], day, side="right")) - 1
        return float(self._close[max(j, 0)])

    def clock(self, i: int, exhausted: bool) -> Reply:
        """GET /markets/clock."""
        now = self.now(i)
        close = self.session_close(i)
        state = "closed" if exhausted else ("open" if now <= close else "postmarket")
        return json_reply({"clock": {
            "date": f"{self.dates[i]:%Y-%m-%d}", "description": f"Market is open from 09:30 to {close:%H:%M}",
            "state": state, "timestamp": int(now.timestamp()),
            "next_change": "09:30" if exhausted else f"{close:%H:%M}",
            "next_state": "premarket" if exhausted else "postmarket"}})

    # ------------------------------------------------------------------------------------------ quotes
    def _chain(self, i: int) -> tuple[pd.DataFrame, dict[str, int]]:
        if self._chain_cache is not None and self._chain_cache[0] == i:
            return self._chain_cache[1], self._chain_cache[2]
        if self.quoter is None:
            frame = pd.DataFrame(columns=["symbol"])
        else:
            try:
                frame = self.quoter.chain(i, 3660).reset_index(drop=True)
            except DataError:
                frame = pd.DataFrame(columns=["symbol"])
        lookup = {s: k for k, s in enumerate(frame["symbol"].tolist())}
        self._chain_cache = (i, frame, lookup)
        return frame, lookup

    def option_bid_ask(self, i: int, symbol: str) -> tuple[float, float] | None:
        """(bid, ask) of a listed, unexpired contract at bar i, or None when it cannot be quoted."""
        row = self._option_row(i, symbol)
        return None if row is None else (float(row["bid"]), float(row["ask"]))

    def _option_row(self, i: int, symbol: str) -> dict[str, Any] | None:
        try:
            c = parse_occ(symbol)
        except OptionSymbolError:
            return None
        if c.root != self.symbol or self.quoter is None or c.expiry < self.dates[i]:
            return None
        frame, lookup = self._chain(i)
        k = lookup.get(symbol)
        if k is not None:
            return frame.iloc[k].to_dict()
        try:
            if c.expiry not in self.quoter.expiries(i):
                return None
            q = self.quoter.quote(i, c.expiry, c.strike, c.right)
        except DataError:
            return None
        return {"symbol": symbol, "bid": q.bid, "ask": q.ask, "iv": q.iv, "delta": q.delta, "gamma": q.gamma,
                "theta": q.theta, "vega": q.vega, "volume": 0.0, "open_interest": 0.0}

    def _greeks(self, row: dict[str, Any], now: pd.Timestamp) -> dict[str, Any]:
        iv = num(row.get("iv")) or 0.0
        return {"delta": num(row.get("delta"), 6) or 0.0, "gamma": num(row.get("gamma"), 6) or 0.0,
                "theta": num(row.get("theta"), 6) or 0.0, "vega": num(row.get("vega"), 6) or 0.0,
                "rho": 0.0, "phi": 0.0, "bid_iv": iv, "mid_iv": iv, "ask_iv": iv, "smv_vol": iv,
                "updated_at": now.tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")}

    def option_quote(self, i: int, symbol: str, greeks: bool) -> dict[str, Any] | None:
        """One option quote object (untraded: last/change/open/... are null), or None when unmatched."""
        row = self._option_row(i, symbol)
        if row is None:
            return None
        c = parse_occ(symbol)
        now_ms = _ms(self.now(i))
        out: dict[str, Any] = {
            "symbol": symbol, "description": _describe(c.root, c.expiry, c.strike, c.right), "exch": "Z",
            "type": "option", "last": None, "change": None, "volume": int(row.get("volume") or 0),
            "open": None, "high": None, "low": None, "close": None,
            "bid": num(row["bid"], 2), "ask": num(row["ask"], 2), "underlying": self.symbol, "strike": c.strike,
            "change_percentage": None, "average_volume": 0, "last_volume": 0, "trade_date": 0, "prevclose": None,
            "week_52_high": 0.0, "week_52_low": 0.0, "bidsize": 10, "bidexch": "X", "bid_date": now_ms,
            "asksize": 10, "askexch": "C", "ask_date": now_ms, "open_interest": int(row.get("open_interest") or 0),
            "contract_size": 100, "expiration_date": f"{c.expiry:%Y-%m-%d}",
            "expiration_type": "standard" if _third_friday(c.expiry) else "weeklys",
            "option_type": "call" if c.right == "C" else "put", "root_symbol": c.root,
        }
        if greeks:
            out["greeks"] = self._greeks(row, self.now(i))
        return out

    def underlying_quote(self, i: int) -> dict[str, Any]:
        """The underlying's quote at bar i (session-to-date open/high/low/volume, bid/ask from the spread)."""
        last = float(self._close[i])
        half = max(float(self._spread[i]), 0.01) / 2.0
        first = int(self._session_start[i])
        prev = float(self._close[first - 1]) if first > 0 else None
        now_ms = _ms(self.now(i))
        lots = max(int(self._size[i] // 100), 1)
        return {
            "symbol": self.symbol, "description": "SPDR S&P 500" if self.symbol == "SPY" else self.symbol,
            "exch": "P", "type": "etf", "last": num(last, 2),
            "change": num(last - prev, 2) if prev else 0.0, "volume": int(self._cumvol[i]),
            "open": num(self._open[first], 2), "high": num(self._hi[i], 2), "low": num(self._lo[i], 2),
            "close": None, "bid": num(last - half, 2), "ask": num(last + half, 2),
            "change_percentage": num((last / prev - 1.0) * 100.0, 2) if prev else 0.0,
            "average_volume": int(self._cumvol[i]), "last_volume": 100, "trade_date": now_ms,
            "prevclose": num(prev, 2), "week_52_high": num(self._run_hi[i], 2), "week_52_low": num(self._run_lo[i], 2),
            "bidsize": lots, "bidexch": "Q", "bid_date": now_ms, "asksize": lots, "askexch": "P", "ask_date": now_ms,
            "root_symbols": self.symbol,
        }

    def quotes(self, i: int, symbols: str, greeks: bool) -> Reply:
        """GET/POST /markets/quotes: known symbols under quote, the rest under unmatched_symbols."""
        found: list[dict[str, Any]] = []
        unmatched: list[str] = []
        for raw in (s.strip().upper() for s in symbols.split(",")):
            if not raw:
                continue
            item = self.underlying_quote(i) if raw == self.symbol else self.option_quote(i, raw, greeks)
            if item is None:
                unmatched.append(raw)
            else:
                found.append(item)
        body: dict[str, Any] = {}
        if found:
            body["quote"] = found[0] if len(found) == 1 else found
        if unmatched:
            body["unmatched_symbols"] = {"symbol": unmatched[0] if len(unmatched) == 1 else unmatched}
        return json_reply({"quotes": body})

    # ----------------------------------------------------------------------------------------- options
    def _expiries(self, i: int) -> list[dt.date]:
        if self.quoter is None:
            return []
        try:
            return [e for e in self.quoter.expiries(i) if e >= self.dates[i]]
        except DataError:
            return []

    def _strikes(self, i: int, expiry: dt.date) -> list[float]:
        frame, _ = self._chain(i)
        if len(frame) == 0:
            return []
        mask = pd.DatetimeIndex(frame["expiry"]).date == expiry
        return sorted({float(k) for k in frame.loc[mask, "strike"]})

    def expirations(self, i: int, symbol: str, detailed: bool) -> Reply:
        """GET /markets/options/expirations (plain dates, or objects with strikes when asked)."""
        dates = self._expiries(i) if symbol.upper() == self.symbol else []
        if not detailed:
            return json_reply({"expirations": envelope("date", [f"{d:%Y-%m-%d}" for d in dates],
                                                       self._empty("null"))})
        items = [{"date": f"{d:%Y-%m-%d}", "contract_size": 100,
                  "expiration_type": "standard" if _third_friday(d) else "weeklys",
                  "strikes": envelope("strike", self._strikes(i, d), "null")} for d in dates]
        return json_reply({"expirations": envelope("expiration", items, self._empty("null"))})

    def strikes(self, i: int, symbol: str, expiration: str) -> Reply:
        """GET /markets/options/strikes."""
        day = _parse_day(expiration)
        ks = self._strikes(i, day) if day is not None and symbol.upper() == self.symbol else []
        return json_reply({"strikes": envelope("strike", ks, self._empty("null"))})

    def chain(self, i: int, symbol: str, expiration: str, greeks: bool) -> Reply:
        """GET /markets/options/chains: one expiration, puts and calls interleaved in strike order."""
        day = _parse_day(expiration)
        if day is None:
            return error_reply(400, f"Invalid parameter, expiration: {expiration!r} is not a YYYY-MM-DD date.")
        items: list[dict[str, Any]] = []
        if symbol.upper() == self.symbol and day >= self.dates[i]:
            frame, _ = self._chain(i)
            if len(frame):
                sel = frame[pd.DatetimeIndex(frame["expiry"]).date == day]
                sel = sel.assign(_r=(sel["right"] == "C").astype(int)).sort_values(["strike", "_r"])
                for sym in sel["symbol"]:
                    q = self.option_quote(i, str(sym), greeks)
                    if q is not None:
                        items.append(q)
        return json_reply({"options": envelope("option", items, self._empty("null"))})

    # --------------------------------------------------------------------------------------- history
    def timesales(self, i: int, symbol: str, interval: str, start: str | None, end: str | None) -> Reply:
        """GET /markets/timesales: bars up to bar i (a coarser interval is aggregated from those bars)."""
        if symbol.upper() != self.symbol:
            try:
                parse_occ(symbol.upper())
            except OptionSymbolError:
                return error_reply(400, f"Invalid parameter, {symbol}: symbol not found.")
            return json_reply({"series": envelope("data", [], self._empty("string"))})
        if interval not in ("1min", "5min", "15min"):
            return error_reply(400, f"Invalid parameter, interval: {interval} is not available here "
                                    "(use 1min, 5min or 15min).")
        want = interval_minutes(interval)
        if self.minutes == 0 or want % self.minutes:
            return json_reply({"series": envelope("data", [], self._empty("string"))})
        lo = _parse_minute(start) if start else self.idx[int(self._session_start[i])].tz_localize(None)
        hi = _parse_minute(end) if end else None
        if lo is None or (end and hi is None):
            return error_reply(400, "Invalid parameter, start/end: use YYYY-MM-DD HH:MM.")
        visible = self.bars.iloc[: i + 1]
        days = self.dates[: i + 1]
        keep = days >= lo.date()
        if hi is not None:
            keep &= days <= hi.date()
        window = visible[keep]
        if want != self.minutes and len(window):
            window = resample_bars(window, interval)
        local = pd.DatetimeIndex(window.index).tz_convert(TZ).tz_localize(None)
        mask = local >= lo
        if hi is not None:
            mask &= local <= hi
        window = window[mask]
        rows = []
        for ts, o, h, lw, c, v in zip(pd.DatetimeIndex(window.index).tz_convert(TZ), window["open"],
                                      window["high"], window["low"], window["close"], window["volume"], strict=True):
            rows.append({"time": ts.strftime("%Y-%m-%dT%H:%M:%S"), "timestamp": int(ts.timestamp()),
                         "price": num(c), "open": num(o), "high": num(h), "low": num(lw), "close": num(c),
                         "volume": int(v), "vwap": num((h + lw + c) / 3.0)})
        return json_reply({"series": envelope("data", rows, self._empty("string"))})

    def history(self, i: int, symbol: str, interval: str, start: str | None, end: str | None) -> Reply:
        """GET /markets/history: daily (weekly, monthly) bars up to bar i; today's bar is the session so far."""
        if interval not in ("daily", "weekly", "monthly"):
            return error_reply(400, f"Invalid parameter, interval: {interval}.")
        if symbol.upper() != self.symbol:
            return json_reply({"history": envelope("day", [], self._empty("null"))})
        visible = self.bars.iloc[: i + 1]
        daily = visible if self.minutes == 0 else resample_bars(visible, "1day")
        dates = np.array(pd.DatetimeIndex(daily.index).tz_convert(TZ).date)
        frame = pd.DataFrame({"o": daily["open"].to_numpy(float), "h": daily["high"].to_numpy(float),
                              "l": daily["low"].to_numpy(float), "c": daily["close"].to_numpy(float),
                              "v": daily["volume"].to_numpy(float)}, index=dates)
        lo, hi = _parse_day(start) if start else None, _parse_day(end) if end else None
        if (start and lo is None) or (end and hi is None):
            return error_reply(400, "Invalid parameter, start/end: use YYYY-MM-DD.")
        keep = np.ones(len(frame), dtype=bool)
        if lo is not None:
            keep &= dates >= lo
        if hi is not None:
            keep &= dates <= hi
        frame = frame[keep]
        if interval != "daily" and len(frame):
            if interval == "weekly":
                labels = [d - dt.timedelta(days=d.weekday()) for d in frame.index]
            else:
                labels = [d.replace(day=1) for d in frame.index]
            frame = frame.groupby(labels).agg({"o": "first", "h": "max", "l": "min", "c": "last", "v": "sum"})
        rows = [{"date": f"{d:%Y-%m-%d}", "open": num(r.o, 2), "high": num(r.h, 2), "low": num(r.l, 2),
                 "close": num(r.c, 2), "volume": int(r.v)} for d, r in zip(frame.index, frame.itertuples(),
                                                                          strict=True)]
        return json_reply({"history": envelope("day", rows, self._empty("null"))})


def _parse_day(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _parse_minute(text: str | None) -> pd.Timestamp | None:
    try:
        ts = pd.Timestamp(str(text))
    except ValueError:
        return None
    return ts.tz_convert(TZ).tz_localize(None) if ts.tzinfo is not None else ts
