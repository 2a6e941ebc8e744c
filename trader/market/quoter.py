"""ModelQuoter: Black-Scholes option quotes on the model IV surface and spread model, from bar i's data only.

A quote at bar i is priced at the bar's close time (bar start + interval; the session's close for daily bars)
from ``close[i]``, ``vix[i]`` (the VIX-like index, required), ``spread[i]`` (the underlying's spread, optional)
and the time of day; the listing (expiries, strikes) depends only on the calendar and the open of bar i's
session, which is known at bar i. See ``trader.market.model`` for the surface and spread formulas.
"""
from __future__ import annotations

import bisect
import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market import model
from trader.market.base import OPTION_COLUMNS, TZ, OptionQuote
from trader.market.calendar import expiry_dates, schedule
from trader.market.validate import infer_interval, interval_minutes
from trader.options import (
    SECONDS_PER_YEAR,
    bs_greeks,
    bs_greeks_scalar,
    bs_price,
    bs_price_scalar,
    occ_symbol,
)

_NS = 1_000_000_000


class ModelQuoter:
    """Prices any contract at any bar with Black-Scholes on the model surface; cheap per quote, vectorised per chain."""

    def __init__(self, bars: pd.DataFrame, *, interval: str | None = None, underlying: str = "SPY",
                 max_dte: int = 5, expiry_rule: str = "daily", strikes_each_side: int = 20,
                 strike_step: float = 1.0, seed: int = 0) -> None:
        if "vix" not in bars.columns:
            raise DataError(
                "The bars have no vix column; the model quoter needs the VIX-like index "
                "(add one, e.g. trader.market.model.trailing_vol_index)."
            )
        if len(bars) == 0:
            raise DataError("The model quoter needs at least one bar.")
        self.interval = interval or infer_interval(pd.DatetimeIndex(bars.index))
        self.underlying = underlying
        self.max_dte = int(max_dte)
        self.expiry_rule = expiry_rule
        self.strikes_each_side = int(strikes_each_side)
        self.strike_step = float(strike_step)
        self.seed = int(seed)

        idx = pd.DatetimeIndex(bars.index).tz_convert(TZ).as_unit("ns")
        n = len(idx)
        dates = idx.date
        first, last = dates[0], dates[-1]
        sched = schedule(first, last + dt.timedelta(days=self.max_dte + 14))
        self._sessions: list[dt.date] = list(sched.index)
        opens = sched["open"].reindex(list(dates))
        closes = sched["close"].reindex(list(dates))
        # Days outside the calendar (user data on odd dates) get regular hours.
        fallback_open = idx.normalize() + pd.Timedelta(hours=9, minutes=30)
        fallback_close = idx.normalize() + pd.Timedelta(hours=16)
        open_ns = np.where(opens.isna().to_numpy(), fallback_open.asi8, pd.DatetimeIndex(opens).as_unit("ns").asi8)
        close_ns = np.where(closes.isna().to_numpy(), fallback_close.asi8,
                            pd.DatetimeIndex(closes).as_unit("ns").asi8)
        minutes = interval_minutes(self.interval)
        if minutes == 0:
            end_ns = close_ns.copy()
        else:
            end_ns = np.minimum(idx.asi8 + minutes * 60 * _NS, close_ns)
        frac = np.clip((end_ns - open_ns) / np.maximum(close_ns - open_ns, 1), 0.0, 1.0)
        var_left = (1.0 - model.OVERNIGHT_SHARE) * model.variance_left_fraction(frac)
        minutes_left = (close_ns - end_ns) / (60 * _NS)
        tod = np.ones(n) if minutes == 0 else model.close_factor(minutes_left)
        spread = bars["spread"].to_numpy(dtype=float) if "spread" in bars.columns else np.full(n, model.LIQ_REF)
        widen = model.liquidity_factor(spread) * tod

        day_change = np.r_[True, dates[1:] != dates[:-1]]
        first_bar = np.maximum.accumulate(np.where(day_change, np.arange(n), 0))
        self._dates: list[dt.date] = list(dates)
        self._timestamps = idx
        self._end_ns: list[int] = end_ns.tolist()
        self._var_left: list[float] = var_left.tolist()
        self._widen: list[float] = widen.tolist()
        self._close: list[float] = bars["close"].to_numpy(dtype=float).tolist()
        self._vix: list[float] = bars["vix"].to_numpy(dtype=float).tolist()
        self._open_spot: list[float] = bars["open"].to_numpy(dtype=float)[first_bar].tolist()
        self._first_bar: list[int] = first_bar.tolist()
        self._ord: list[int] = [self._ordinal(d) for d in dates]
        self._expiry_cache: dict[dt.date, tuple[int, int]] = {}
        listing_end = last + dt.timedelta(days=self.max_dte)
        self._listing: list[dt.date] = expiry_dates(first, listing_end, expiry_rule)
        self._symbols: dict[tuple[dt.date, str, float], str] = {}
        self._strikes: dict[float, np.ndarray] = {}
        self._times_at: tuple[int, Any, tuple[float, float]] = (-1, None, (0.0, 0.0))

    # ------------------------------------------------------------------ helpers
    def _ordinal(self, day: dt.date) -> int:
        """Index of the last calendar session on or before day (trading days elapsed)."""
        return bisect.bisect_right(self._sessions, day) - 1

    def _expiry(self, expiry: dt.date) -> tuple[int, int]:
        """(session ordinal, 16:00 New York close in ns) of an expiry date, cached."""
        hit = self._expiry_cache.get(expiry)
        if hit is None:
            key = expiry
            if isinstance(expiry, dt.datetime) or not isinstance(expiry, dt.date):
                expiry = pd.Timestamp(expiry).date()
            if expiry > self._sessions[-1]:
                self._sessions = list(schedule(self._sessions[0], expiry + dt.timedelta(days=14)).index)
            close = pd.Timestamp(year=expiry.year, month=expiry.month, day=expiry.day, hour=16, tz=TZ)
            hit = (self._ordinal(expiry), int(close.value))
            self._expiry_cache[expiry] = hit
            self._expiry_cache[key] = hit
        return hit

    def _times(self, i: int, expiry: dt.date) -> tuple[float, float]:
        """Calendar time (ACT/365) and variance time (trading years) from bar i's close to expiry (the last pair
        kept: a bar's quotes of one expiry share it)."""
        last = self._times_at
        if last[0] == i and type(expiry) is dt.date and last[1] == expiry:
            return last[2]
        exp_ord, exp_ns = self._expiry(expiry)
        t_cal = (exp_ns - self._end_ns[i]) / _NS / SECONDS_PER_YEAR
        if t_cal <= 0.0:
            times = (0.0, 0.0)
        else:
            times = (t_cal, (self._var_left[i] + max(exp_ord - self._ord[i], 0)) / model.TRADING_DAYS)
        self._times_at = (i, expiry, times)
        return times

    def _check_bar(self, i: int) -> int:
        i = int(i)
        if not 0 <= i < len(self._close):
            raise DataError(f"Bar position {i} is outside the market's {len(self._close)} bars.")
        return i

    # ------------------------------------------------------------------ protocol
    def _theo(self, i: int, expiry: dt.date, strike: float, right: str) -> tuple[float, float, float, float]:
        """(spot, calendar time, model IV, theoretical price) of one contract at bar i."""
        i = self._check_bar(i)
        if right not in ("C", "P"):
            raise DataError(f"Option right {right!r} is not C or P.")
        if not strike > 0:
            raise DataError(f"Option strike {strike!r} is not positive.")
        spot = self._close[i]
        t_cal, t_var = self._times(i, expiry)
        if t_cal > 0.0 and t_var > 0.0:
            sigma = model.surface_vol_scalar(self._vix[i], spot, strike, t_var)
            iv = sigma * math.sqrt(t_var / t_cal)
        else:
            iv = 0.0
        return spot, t_cal, iv, bs_price_scalar(spot, strike, t_cal, iv, right)

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """Quote one contract at bar i (bid/ask on the tick grid, model IV, BS greeks)."""
        spot, t_cal, iv, theo = self._theo(i, expiry, strike, right)
        g = bs_greeks_scalar(spot, strike, t_cal, iv, right)
        bid, ask = model.bid_ask_scalar(theo, self._widen[int(i)])
        return OptionQuote(bid, ask, (bid + ask) / 2.0, iv if iv > 0.0 else math.nan,
                           g["delta"], g["gamma"], g["theta"], g["vega"])

    def mid(self, i: int, expiry: dt.date, strike: float, right: str) -> float:
        """The mid of `quote` without the greeks (marking a held position needs nothing else)."""
        theo = self._theo(i, expiry, strike, right)[3]
        bid, ask = model.bid_ask_scalar(theo, self._widen[int(i)])
        return (bid + ask) / 2.0

    def expiries(self, i: int) -> list[dt.date]:
        """Listed expiries at bar i: per the expiry rule, from the bar's date to max_dte calendar days later."""
        i = self._check_bar(i)
        day = self._dates[i]
        lo = bisect.bisect_left(self._listing, day)
        hi = bisect.bisect_right(self._listing, day + dt.timedelta(days=self.max_dte))
        return self._listing[lo:hi]

    def strikes(self, i: int) -> np.ndarray:
        """Listed strikes at bar i: strike_step apart around the open of bar i's session."""
        i = self._check_bar(i)
        center = round(self._open_spot[i] / self.strike_step) * self.strike_step
        listed = self._strikes.get(center)  # the same for every bar of a session: built once, read-only
        if listed is None:
            k = center + self.strike_step * np.arange(-self.strikes_each_side, self.strikes_each_side + 1)
            listed = np.round(k[k > 0], 3)
            listed.flags.writeable = False
            self._strikes[center] = listed
        return listed

    def _symbol(self, expiry: dt.date, right: str, strike: float) -> str:
        key = (expiry, right, strike)
        sym = self._symbols.get(key)
        if sym is None:
            sym = occ_symbol(self.underlying, expiry, right, strike)
            self._symbols[key] = sym
        return sym

    def chain(self, i: int, dte_max: int | None = None) -> pd.DataFrame:
        """All listed contracts at bar i with dte (calendar days) <= dte_max, quoted (snapshot columns + dte)."""
        i = self._check_bar(i)
        day = self._dates[i]
        exps = [e for e in self.expiries(i) if dte_max is None or (e - day).days <= dte_max]
        strikes = self.strikes(i)
        if not exps or len(strikes) == 0:
            return pd.DataFrame(columns=[*OPTION_COLUMNS, "dte"])
        times = np.array([self._times(i, e) for e in exps])  # (E, 2)
        n_e, n_k = len(exps), len(strikes)
        e_idx = np.repeat(np.arange(n_e), 2 * n_k)
        k = np.tile(np.repeat(strikes, 2), n_e)
        is_call = np.tile(np.array([True, False]), n_e * n_k)
        t_cal, t_var = times[e_idx, 0], times[e_idx, 1]
        spot = self._close[i]
        live = (t_cal > 0) & (t_var > 0)
        sigma = model.surface_vol(self._vix[i], spot, k, np.where(live, t_var, 1.0))
        iv = np.where(live, sigma * np.sqrt(np.where(live, t_var, 0.0) / np.where(live, t_cal, 1.0)), 0.0)
        theo = bs_price(spot, k, t_cal, iv, is_call)
        greeks = bs_greeks(spot, k, t_cal, iv, is_call)
        bid, ask = model.bid_ask(theo, self._widen[i])
        dte = np.array([(e - day).days for e in exps])[e_idx]
        rights = np.where(is_call, "C", "P")
        first = self._first_bar[i]
        volume, oi = model.activity(self.seed, day.toordinal(), self._vix[first], self._open_spot[i], k, ~is_call, dte)
        expiry_col = np.array([np.datetime64(e, "ns") for e in exps])[e_idx]
        return pd.DataFrame({
            "timestamp": pd.DatetimeIndex([self._timestamps[i]] * len(k)),
            "symbol": [self._symbol(exps[a], r, s) for a, r, s in zip(e_idx, rights, k.tolist(), strict=True)],
            "underlying": self.underlying,
            "expiry": expiry_col,
            "strike": k,
            "right": rights.astype(object),
            "bid": bid, "ask": ask, "volume": volume, "open_interest": oi,
            "iv": np.where(iv > 0, iv, np.nan),
            "delta": greeks["delta"], "gamma": greeks["gamma"], "theta": greeks["theta"], "vega": greeks["vega"],
            "dte": dte,
        })

    def params(self) -> dict[str, Any]:
        """The constructor arguments (besides the bars) as JSON, to rebuild this quoter from a stored market."""
        return {"kind": "model", "interval": self.interval, "underlying": self.underlying, "max_dte": self.max_dte,
                "expiry_rule": self.expiry_rule, "strikes_each_side": self.strikes_each_side,
                "strike_step": self.strike_step, "seed": self.seed}

    def session_chains(self, dte_max: int | None = None) -> pd.DataFrame:
        """One chain per session at its first bar (the daily snapshots of a modeled market), concatenated."""
        starts = sorted(set(self._first_bar))
        frames = [self.chain(s, dte_max) for s in starts]
        out = pd.concat(frames, ignore_index=True)
        return out[list(OPTION_COLUMNS)]
