"""Synthetic context series for a synthetic market, driven by the same hidden regimes as the underlying.

Made from the market's bars and hidden truth (trend sign ``s`` = -1/0/+1, volatility state ``v``), seeded:

* Every series' one-bar log return is ``beta * r + drift + sd_v * e``, with ``r`` the underlying's return,
  ``sd_v`` the underlying's per-bar standard deviation in the current volatility state and ``e`` the series'
  own shock (scaled per series). Loadings (beta, regime drift per bar in units of ``sd_v``):

  =================  ==========  ===========================================================
  series             beta        drift
  =================  ==========  ===========================================================
  cyclical sectors   1.1 - 1.3   ``+0.04 s``: they lead in bull trends, lag in bear trends
  defensive sectors  0.5 - 0.7   ``-0.04 s``
  TLT                -0.3        ``-0.03 s + 0.03 [v = high]`` (flight to quality)
  UUP                -0.1        ``-0.02 s + 0.02 [v = high]``
  constituents       0.6 - 1.4   ``0.04 s`` times a random tilt in [-0.5, 1.5]
  BTC-USD            0.8         ``+0.05 s`` (risk appetite), own volatility 60 % a year
  =================  ==========  ===========================================================

* VIX term structure: ``VIX9D = vix * exp(0.10 (v - 1) + n)`` and ``VIX3M = vix * exp(0.04 - 0.07 (v - 1) + n)``
  (``n`` a small AR(1) noise): contango in calm states, backwardation when volatility is high.
* The planted lead-lag component (``lead_lag = rho`` in [0, 1), ``lead_bars = L``): each sector's,
  constituent's and BTC's shock is ``sqrt(1 - rho**2) z + rho z_fut`` with ``z_fut`` the underlying's
  standardised return L bars later, so a context shock correlates ``rho`` with the underlying's move L bars
  ahead. ``rho = 0`` (the default) plants nothing: context series then describe the regime, never the future.
* Sectors, bonds, dollar, VIX9D/VIX3M and constituents share the underlying's bar index (1-minute RTH).
  BTC-USD has 5-minute bars around the clock, every calendar day (weekends and holidays included); outside
  regular hours it moves on its own shocks and the last known regime.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from trader.errors import DataError
from trader.market.base import TZ, Market
from trader.market.universe import CYCLICALS, SECTORS

CONSTITUENTS = 40
DRIFT = 0.04
BTC_STEP = pd.Timedelta(minutes=5)
BTC_ANNUAL_VOL = 0.60
BTC_BETA = 0.8
BTC_DRIFT = 0.05
PRICE0 = {"XLK": 200.0, "XLF": 40.0, "XLE": 90.0, "XLV": 140.0, "XLI": 110.0, "XLY": 175.0, "XLP": 75.0,
          "XLU": 65.0, "XLB": 85.0, "XLRE": 40.0, "TLT": 95.0, "UUP": 28.0, "BTC-USD": 42000.0}


def _bars_from_returns(r: np.ndarray, index: pd.DatetimeIndex, price0: float, rng: np.random.Generator,
                       volume: float) -> pd.DataFrame:
    """OHLCV bars from one-bar log returns: open = previous close, a small wick either side."""
    close = price0 * np.exp(np.cumsum(r))
    open_ = np.r_[price0, close[:-1]]
    wick = np.abs(rng.standard_normal((2, len(r)))) * np.maximum(np.abs(r), 1e-5) * 0.5
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    vol = np.round(volume * rng.lognormal(0.0, 0.4, len(r)))
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": vol}, index=index)


def _level_bars(level: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Bars of an index level (open = high = low = close, no volume)."""
    return pd.DataFrame({"open": level, "high": level, "low": level, "close": level,
                         "volume": np.zeros(len(level))}, index=index)


def generate_context(market: Market, seed: int = 0, lead_lag: float = 0.0, lead_bars: int = 5,
                     constituents: int = CONSTITUENTS) -> dict[str, pd.DataFrame]:
    """The 15 context series plus a constituent panel for a synthetic market with hidden truth (module notes)."""
    if market.truth is None:
        raise DataError("synthetic context series need a synthetic market with its hidden regimes")
    if not 0.0 <= lead_lag < 1.0:
        raise DataError(f"lead_lag must be in [0, 1), got {lead_lag}")
    if lead_bars < 1:
        raise DataError(f"lead_bars must be at least 1, got {lead_bars}")
    bars = market.bars
    index = pd.DatetimeIndex(bars.index)
    n = len(index)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), 21]).spawn(6)]
    logc = np.log(bars["close"].to_numpy(dtype=float))
    r = np.r_[0.0, np.diff(logc)]
    trend = market.truth["trend"].to_numpy()
    vol = market.truth["volatility"].to_numpy()
    sign = trend.astype(float) - 1.0
    sd_state = np.array([np.std(r[vol == k]) if (vol == k).sum() > 1 else np.std(r) for k in range(3)])
    sd_state = np.where(sd_state > 0, sd_state, max(float(np.std(r)), 1e-6))
    sd = sd_state[vol]
    z_now = r / sd
    z_fut = np.zeros(n)
    z_fut[: max(0, n - lead_bars)] = z_now[lead_bars:]
    keep = math.sqrt(1.0 - lead_lag * lead_lag)

    def shock(rng: np.random.Generator, scale: float) -> np.ndarray:
        return scale * sd * (keep * rng.standard_normal(n) + lead_lag * z_fut)

    out: dict[str, pd.DataFrame] = {}
    rng = rngs[0]
    for k, sym in enumerate(SECTORS):
        cyc = sym in CYCLICALS
        beta = (1.1 + 0.04 * k) if cyc else (0.5 + 0.05 * k)
        drift = (DRIFT if cyc else -DRIFT) * sign * sd
        ret = beta * r + drift + shock(rng, 0.6)
        out[sym] = _bars_from_returns(ret, index, PRICE0[sym], rng, 20_000.0)
    high = (vol == 2).astype(float)
    rng = rngs[1]
    tlt = -0.3 * r + (-0.03 * sign + 0.03 * high) * sd + 0.5 * sd * rng.standard_normal(n)
    out["TLT"] = _bars_from_returns(tlt, index, PRICE0["TLT"], rng, 15_000.0)
    uup = -0.1 * r + (-0.02 * sign + 0.02 * high) * sd + 0.2 * sd * rng.standard_normal(n)
    out["UUP"] = _bars_from_returns(uup, index, PRICE0["UUP"], rng, 5_000.0)

    rng = rngs[2]
    vix = bars["vix"].to_numpy(dtype=float) if "vix" in bars.columns else np.full(n, 18.0)
    phi = math.exp(-1.0 / 390.0)
    noise = lfilter([math.sqrt(1.0 - phi * phi) * 0.03], [1.0, -phi], rng.standard_normal((2, n)), axis=1)
    v = vol.astype(float) - 1.0
    out["VIX9D"] = _level_bars(np.round(vix * np.exp(0.10 * v + noise[0]), 2), index)
    out["VIX3M"] = _level_bars(np.round(vix * np.exp(0.04 - 0.07 * v + noise[1]), 2), index)

    rng = rngs[3]
    betas = rng.uniform(0.6, 1.4, constituents)
    tilts = rng.uniform(-0.5, 1.5, constituents)
    for j in range(constituents):
        ret = betas[j] * r + DRIFT * tilts[j] * sign * sd + shock(rng, 1.5)
        out[f"S{j + 1:03d}"] = _bars_from_returns(ret, index, float(rng.uniform(20.0, 300.0)), rng, 3_000.0)

    out["BTC-USD"] = _btc(index, r, sign, sd, z_fut, lead_lag, rngs[4])
    return out


def _btc(index: pd.DatetimeIndex, r: np.ndarray, sign: np.ndarray, sd: np.ndarray, z_fut: np.ndarray,
         lead_lag: float, rng: np.random.Generator) -> pd.DataFrame:
    """BTC-USD 5-minute bars on every calendar day from the first session's midnight to the last bar's close."""
    local = index.tz_convert(TZ)
    start = local[0].normalize()
    end = local[-1] + pd.Timedelta(minutes=1)
    grid = pd.date_range(start, end, freq=BTC_STEP, inclusive="left", tz=TZ)
    m = len(grid)
    bucket = np.searchsorted(grid.asi8, local.asi8, side="right") - 1
    spy = np.zeros(m)
    np.add.at(spy, bucket, r)
    fut = np.zeros(m)
    np.add.at(fut, bucket, z_fut)
    known = np.clip(np.searchsorted(local.asi8, grid.asi8, side="right") - 1, 0, None)
    own = BTC_ANNUAL_VOL / math.sqrt(365.0 * 288.0)
    keep = math.sqrt(1.0 - lead_lag * lead_lag)
    ret = (BTC_BETA * spy + BTC_DRIFT * sign[known] * sd[known] * 5.0
           + own * (keep * rng.standard_normal(m) + lead_lag * fut / np.sqrt(np.maximum(1.0, _counts(bucket, m)))))
    return _bars_from_returns(ret, grid, PRICE0["BTC-USD"], rng, 50.0)


def _counts(bucket: np.ndarray, m: int) -> np.ndarray:
    """How many underlying bars fall into each BTC bucket."""
    return np.bincount(bucket, minlength=m).astype(float)


def context_symbols() -> list[str]:
    """The symbols `generate_context` makes (constituents S001.. last)."""
    return [*SECTORS, "TLT", "UUP", "VIX9D", "VIX3M", "BTC-USD"] + [f"S{j + 1:03d}" for j in range(CONSTITUENTS)]

