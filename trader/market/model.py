"""The option pricing model shared by the synthetic generator and the ModelQuoter.

Everything here is a deterministic function of what is known at one bar (spot, the VIX-like index, the
underlying's spread, the time of day), with a numpy form for chains and a math-module form for single quotes.

Variance clock
    Return variance accrues in trading time: a session carries one "day" of variance, of which
    ``1 - OVERNIGHT_SHARE`` (85 %) accrues over regular hours following the U-shaped intraday profile and
    ``OVERNIGHT_SHARE`` (15 %) overnight, before the next open. ``T_var`` (years, 252 days) is the variance time
    left from a bar's close to the expiry's 16:00 close. Prices use calendar time ``T`` (ACT/365, the convention
    of ``trader.options.year_fraction``) with the quoted IV rescaled so that ``iv**2 * T == sigma**2 * T_var``:
    the quoted IV is thus the number any BS calculator with calendar time gives back, and 0DTE options carry the
    variance that is really left in the session.

IV surface (``sigma`` in trading-time units)
    ATM level ``a(T_var) = v30 * (T_var / T30) ** beta`` with ``v30 = vix / 100``, ``T30 = 21/252`` and a term
    slope ``beta = clip(0.5 * (VBAR - v30) / VBAR, -0.08, 0.08)`` (``VBAR = 0.18``): upward-sloping (contango)
    when the index is low, inverted when it is high; ``T_var`` is floored at 30 trading minutes for the level.
    Smile in standardised moneyness ``x = ln(K/S) / (a * sqrt(T_var))`` clipped to [-4, 4]:
    ``sigma = a * max(0.5, 1 + SKEW * x + CURVATURE * x**2)`` with ``SKEW = -0.08`` (puts richer) and
    ``CURVATURE = 0.015``. Rates and dividends are zero, so put-call parity is ``C - P = S - K``.

Spread model (all prices on a $0.01 tick)
    ``width = tick * ceil((BASE + PCT * theo) * liq * tod / tick)`` with ``BASE = $0.01``, ``PCT = 1 %`` of the
    theoretical price, a liquidity factor ``liq = clip(underlying spread / $0.01, 1, 6)`` (1 without a spread
    column) and a time-of-day factor rising linearly from 1 to 2 over the last 30 minutes of the session (1 for
    daily bars). ``bid = floor((theo - width/2) / tick) * tick`` (at least 0), ``ask = max(ceil((theo +
    width/2) / tick) * tick, bid + tick)``.

Activity model (volume and open interest of a chain)
    Per session a draw seeded by (seed, date): a put/call ratio
    ``pcr = exp(N(ln(1.1 + 0.02 * (vix - 18)), 0.25))`` (more puts when the index is high), open interest
    ``OI = 40000 * exp(-z**2 / 8) * (1 + 2 / (1 + dte)) * side * LN(0.4)``
    with ``z`` the strike's distance from the open spot in one-day standard deviations and ``side = pcr`` for puts,
    1 for calls; volume (the previous session's) ``= OI * 0.6 / (1 + dte) * LN(0.5)``; both rounded.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

TRADING_DAYS = 252.0
OVERNIGHT_SHARE = 0.15
T30 = 21.0 / TRADING_DAYS
VBAR = 0.18
TERM_SLOPE = 0.5
TERM_CLIP = 0.08
SKEW = -0.08
CURVATURE = 0.015
X_CLIP = 4.0
SMILE_FLOOR = 0.5
TVAR_FLOOR = 30.0 / (390.0 * TRADING_DAYS)

TICK = 0.01
SPREAD_BASE = 0.01
SPREAD_PCT = 0.01
LIQ_REF = 0.01
LIQ_MAX = 6.0
CLOSE_MINUTES = 30.0
CLOSE_WIDEN = 1.0

U_MIDDAY = 0.7
U_EDGE = 1.3
_U_GRID = 2000


def _u2_raw(x: np.ndarray) -> np.ndarray:
    """Unnormalised intraday variance profile over the session fraction x in [0, 1] (U-shaped)."""
    return U_MIDDAY + U_EDGE * (2.0 * x - 1.0) ** 2


_U2_MEAN = float(np.mean(_u2_raw((np.arange(_U_GRID) + 0.5) / _U_GRID)))


def intraday_vol_factor(x: np.ndarray) -> np.ndarray:
    """U-shaped volatility multiplier at session fraction x (its square averages 1 over a session)."""
    return np.sqrt(_u2_raw(np.asarray(x, dtype=float)) / _U2_MEAN)


def variance_left_fraction(x: np.ndarray) -> np.ndarray:
    """Share of the session's regular-hours variance still to come after session fraction x (1 at 0, 0 at 1)."""
    x = np.clip(np.asarray(x, dtype=float), 0.0, 1.0)
    # Integral of (U_MIDDAY + U_EDGE (2s-1)^2) ds from x to 1, over the integral from 0 to 1.
    def prim(s: np.ndarray) -> np.ndarray:
        return U_MIDDAY * s + U_EDGE * (2.0 * s - 1.0) ** 3 / 6.0

    return (prim(np.ones_like(x)) - prim(x)) / (prim(np.ones(1)) - prim(np.zeros(1)))[0]


def atm_level(vix: np.ndarray | float, t_var: np.ndarray | float) -> np.ndarray:
    """ATM trading-time volatility from the VIX-like index (percent points) and variance time (years)."""
    v30 = np.asarray(vix, dtype=float) / 100.0
    beta = np.clip(TERM_SLOPE * (VBAR - v30) / VBAR, -TERM_CLIP, TERM_CLIP)
    return v30 * (np.maximum(t_var, TVAR_FLOOR) / T30) ** beta


def surface_vol(vix: np.ndarray | float, spot: np.ndarray | float, strike: np.ndarray | float,
                t_var: np.ndarray | float) -> np.ndarray:
    """Trading-time volatility of the IV surface at strike and variance time (vectorised)."""
    a = atm_level(vix, t_var)
    x = np.log(np.asarray(strike, dtype=float) / np.asarray(spot, dtype=float))
    x = np.clip(x / (a * np.sqrt(np.maximum(t_var, TVAR_FLOOR))), -X_CLIP, X_CLIP)
    return a * np.maximum(SMILE_FLOOR, 1.0 + SKEW * x + CURVATURE * x * x)


def surface_vol_scalar(vix: float, spot: float, strike: float, t_var: float) -> float:
    """Scalar twin of surface_vol using the math module (same numbers, much cheaper per call)."""
    v30 = vix / 100.0
    beta = min(max(TERM_SLOPE * (VBAR - v30) / VBAR, -TERM_CLIP), TERM_CLIP)
    tv = max(TVAR_FLOOR, t_var)
    a = v30 * (tv / T30) ** beta
    x = math.log(strike / spot) / (a * math.sqrt(tv))
    x = min(max(x, -X_CLIP), X_CLIP)
    return a * max(SMILE_FLOOR, 1.0 + SKEW * x + CURVATURE * x * x)


def liquidity_factor(spread: np.ndarray | float) -> np.ndarray:
    """Option spread multiplier from the underlying's bid/ask spread (1 at one tick, at most LIQ_MAX)."""
    return np.clip(np.asarray(spread, dtype=float) / LIQ_REF, 1.0, LIQ_MAX)


def close_factor(minutes_left: np.ndarray | float) -> np.ndarray:
    """Option spread multiplier for the time of day: 1, rising to 1 + CLOSE_WIDEN at the session's close."""
    m = np.asarray(minutes_left, dtype=float)
    return 1.0 + CLOSE_WIDEN * np.clip(1.0 - m / CLOSE_MINUTES, 0.0, 1.0)


def bid_ask(theo: np.ndarray, widen: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid around theoretical prices, widened by the factor `widen`."""
    theo = np.asarray(theo, dtype=float)
    width = TICK * np.ceil(np.round((SPREAD_BASE + SPREAD_PCT * theo) * widen / TICK, 9))
    bid = np.maximum(np.floor(np.round((theo - width / 2.0) / TICK, 9)) * TICK, 0.0)
    ask = np.maximum(np.ceil(np.round((theo + width / 2.0) / TICK, 9)) * TICK, bid + TICK)
    return np.round(bid, 2), np.round(ask, 2)


def bid_ask_scalar(theo: float, widen: float) -> tuple[float, float]:
    """Scalar twin of bid_ask.

    Python's round(x, 9) goes through the exact decimal expansion (about a microsecond a call); it can change a
    ceil or floor only within 1e-8 of an integer, so it is taken only there (`_round_cents` likewise)."""
    v = (SPREAD_BASE + SPREAD_PCT * theo) * widen / TICK
    f = math.floor(v)
    width = TICK * (f + 1 if 1e-8 < v - f < 1.0 - 1e-8 else math.ceil(round(v, 9)))
    v = (theo - width / 2.0) / TICK
    f = math.floor(v)
    bid = max((f if 1e-8 < v - f < 1.0 - 1e-8 else math.floor(round(v, 9))) * TICK, 0.0)
    v = (theo + width / 2.0) / TICK
    f = math.floor(v)
    ask = max((f + 1 if 1e-8 < v - f < 1.0 - 1e-8 else math.ceil(round(v, 9))) * TICK, bid + TICK)
    return _round_cents(bid), _round_cents(ask)


def _round_cents(x: float) -> float:
    """round(x, 2): a number within 1e-8 of a whole cent k rounds to the double nearest k / 100."""
    y = x * 100.0
    if -1e12 < y < 1e12:
        k = round(y)
        if k and abs(y - k) < 1e-6:
            return k / 100.0
    return round(x, 2)


def activity(seed: int, day: int, vix: float, spot: float, strike: np.ndarray, is_put: np.ndarray,
             dte: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seeded volume and open interest of one session's contracts; `day` is the date's ordinal (see module doc)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(day), 7])
    pcr = math.exp(rng.normal(math.log(max(1.1 + 0.02 * (vix - 18.0), 0.3)), 0.25))
    day_sd = max(vix / 100.0 / math.sqrt(TRADING_DAYS), 1e-4) * spot
    z = (np.asarray(strike, dtype=float) - spot) / day_sd
    dte = np.asarray(dte, dtype=float)
    side = np.where(is_put, pcr, 1.0)
    n = len(z)
    oi = 40000.0 * np.exp(-z * z / 8.0) * (1.0 + 2.0 / (1.0 + dte)) * side * rng.lognormal(0.0, 0.4, n)
    vol = oi * 0.6 / (1.0 + dte) * rng.lognormal(0.0, 0.5, n)
    return np.round(vol), np.round(oi)


VOL_INDEX_WINDOW = 20
VOL_INDEX_PREMIUM = 1.15
VOL_INDEX_DEFAULT = 20.0
VOL_INDEX_FLOOR = 8.0


def trailing_vol_index(bars: pd.DataFrame, window: int = VOL_INDEX_WINDOW,
                       premium: float = VOL_INDEX_PREMIUM) -> np.ndarray:
    """A VIX-like fallback from past data only: premium x trailing realized vol of session closes, in percent.

    Each session's value is ``premium * sqrt(252) * std(last `window` close-to-close log returns) * 100`` (at
    least 5 returns, else VOL_INDEX_DEFAULT = 20; never below VOL_INDEX_FLOOR = 8, about the VIX's historic low).
    Daily bars get the value including their own close (quotes are priced at that close); intraday bars get the
    previous session's value, so nothing from later in the day leaks.
    """
    idx = pd.DatetimeIndex(bars.index)
    dates = pd.Index(idx.date)
    last_close = bars["close"].groupby(dates).last()
    rets = np.log(last_close).diff()
    vol = rets.rolling(window, min_periods=5).std() * math.sqrt(TRADING_DAYS) * premium * 100.0
    vol = vol.fillna(VOL_INDEX_DEFAULT).clip(lower=VOL_INDEX_FLOOR)
    one_per_day = len(last_close) == len(idx)
    per_session = vol if one_per_day else vol.shift(1).fillna(VOL_INDEX_DEFAULT)
    return per_session.reindex(dates).to_numpy(dtype=float)
