"""Options math: Black-Scholes prices, greeks and implied vol, OCC symbols, time to expiry, contract choice.

Conventions: T is in years (ACT/365, see `year_fraction`), sigma, r and q are annual decimals (0.2 = 20 %),
prices are per share. Greeks: delta per $1 of the underlying, gamma per $1 squared, theta per calendar day,
vega per vol point (sigma moving by 0.01), rho per rate point (r moving by 0.01).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from trader.errors import DataError, OptionSymbolError

NY_TZ = "America/New_York"
DAYS_PER_YEAR = 365.0
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86400.0
SIGMA_MAX = 20.0  # implied vols above 2000 % are reported as NaN
IV_MAX_ITER = 100

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SIGNS: dict[Any, float] = {
    "C": 1.0,
    "c": 1.0,
    "CALL": 1.0,
    "call": 1.0,
    "Call": 1.0,
    True: 1.0,
    "P": -1.0,
    "p": -1.0,
    "PUT": -1.0,
    "put": -1.0,
    "Put": -1.0,
    False: -1.0,
}
_OCC_RE = re.compile(r"^(?P<root>[A-Z][A-Z0-9]{0,5}?) *(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")
_ROOT_RE = re.compile(r"^[A-Z][A-Z0-9]{0,5}$")
_GREEK_KEYS = ("delta", "gamma", "theta", "vega", "rho")


# ----------------------------------------------------------------------------------------------- rights
def right_code(right: Any) -> str:
    """Return 'C' or 'P' for a right given as 'C'/'P' (any case), 'call'/'put' or a bool is_call."""
    try:
        sign = _SIGNS.get(right.strip() if isinstance(right, str) else right)
    except TypeError:
        sign = None
    if sign is None:
        raise ValueError(f"option right must be 'C' or 'P', got {right!r}")
    return "C" if sign > 0 else "P"


def _sign(right: Any) -> float:
    """Return +1.0 for a call and -1.0 for a put (scalar fast path)."""
    try:
        return _SIGNS[right]
    except (KeyError, TypeError):
        return 1.0 if right_code(right) == "C" else -1.0


def _is_call(right: Any) -> np.ndarray:
    """Return a bool array (True = call) for a right given as a scalar, an array of 'C'/'P' or a bool array."""
    if isinstance(right, (str, bool, np.bool_)):
        return np.asarray(right_code(right) == "C")
    arr = np.asarray(right)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "USO":
        raise ValueError(
            f"option right must be 'C'/'P' strings or a bool is_call array, got dtype {arr.dtype}"
        )
    codes = np.char.upper(np.char.strip(arr.astype(str)))
    calls = (codes == "C") | (codes == "CALL")
    puts = (codes == "P") | (codes == "PUT")
    bad = ~(calls | puts)
    if np.any(bad):
        raise ValueError(f"option right must be 'C' or 'P', got {arr[bad].flat[0]!r}")
    return calls


def _floats(*xs: Any) -> list[np.ndarray]:
    """Convert inputs to float64 arrays (no broadcasting yet)."""
    return [np.asarray(x, dtype=float) for x in xs]


# ------------------------------------------------------------------------------------- Black-Scholes
def _ncdf(x: float) -> float:
    """Standard normal CDF (scalar, accurate in both tails)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def bs_price(S: Any, K: Any, T: Any, sigma: Any, right: Any, r: Any = 0.0, q: Any = 0.0) -> np.ndarray:
    """Black-Scholes-Merton price with dividend yield q, vectorized with numpy broadcasting.

    At or after expiry (T <= 0) the price is the intrinsic value; with sigma <= 0 before expiry it is the
    deterministic limit max(+-(S e^{-qT} - K e^{-rT}), 0), which equals intrinsic when r = q = 0.
    """
    S, K, T, sigma, r, q = _floats(S, K, T, sigma, r, q)
    sign = np.where(_is_call(right), 1.0, -1.0)
    t = np.maximum(T, 0.0)
    sq = S * np.exp(-q * t)
    kr = K * np.exp(-r * t)
    live = ~((T <= 0) | (sigma <= 0))  # NaN inputs stay on the model branch and give NaN
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        vs = np.where(live, sigma, 1.0) * np.sqrt(np.where(live, T, 1.0))
        d1 = np.log(sq / kr) / vs + 0.5 * vs
        d2 = d1 - vs
        model = sign * (sq * ndtr(sign * d1) - kr * ndtr(sign * d2))
    dead = np.maximum(sign * (sq - kr), 0.0)
    return np.where(live, model, dead)


def bs_greeks(
    S: Any, K: Any, T: Any, sigma: Any, right: Any, r: Any = 0.0, q: Any = 0.0
) -> dict[str, np.ndarray]:
    """Black-Scholes-Merton greeks (delta, gamma, theta/day, vega/vol point, rho/rate point), vectorized.

    At or after expiry delta is 1/-1 for an in-the-money contract and 0 otherwise, all other greeks 0;
    with sigma <= 0 before expiry the greeks are those of the deterministic limit (gamma = vega = 0).
    """
    S, K, T, sigma, r, q = _floats(S, K, T, sigma, r, q)
    sign = np.where(_is_call(right), 1.0, -1.0)
    t = np.maximum(T, 0.0)
    dq = np.exp(-q * t)
    dr = np.exp(-r * t)
    sq = S * dq
    kr = K * dr
    live = ~((T <= 0) | (sigma <= 0))  # NaN inputs stay on the model branch and give NaN
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sig = np.where(live, sigma, 1.0)
        sqrt_t = np.sqrt(np.where(live, T, 1.0))
        vs = sig * sqrt_t
        d1 = np.log(sq / kr) / vs + 0.5 * vs
        d2 = d1 - vs
        pdf = np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
        nd1 = ndtr(sign * d1)
        nd2 = ndtr(sign * d2)
        live_greeks = {
            "delta": sign * dq * nd1,
            "gamma": dq * pdf / (S * vs),
            "theta": (-sq * pdf * sig / (2.0 * sqrt_t) - sign * r * kr * nd2 + sign * q * sq * nd1)
            / DAYS_PER_YEAR,
            "vega": sq * pdf * sqrt_t / 100.0,
            "rho": sign * K * t * dr * nd2 / 100.0,
        }
    itm = (sign * (sq - kr) > 0).astype(float)
    zero = np.zeros_like(itm)
    dead_greeks = {
        "delta": sign * dq * itm,
        "gamma": zero,
        "theta": np.where(T > 0, sign * itm * (q * sq - r * kr) / DAYS_PER_YEAR, 0.0),
        "vega": zero,
        "rho": sign * itm * K * t * dr / 100.0,
    }
    return {k: np.where(live, live_greeks[k], dead_greeks[k]) for k in _GREEK_KEYS}


def bs_price_scalar(
    S: float, K: float, T: float, sigma: float, right: Any, r: float = 0.0, q: float = 0.0
) -> float:
    """Black-Scholes-Merton price for one contract using the math module (same results as `bs_price`)."""
    sign = _sign(right)
    if S <= 0.0 or K <= 0.0:
        return float(bs_price(S, K, T, sigma, right, r, q))
    if T <= 0.0:
        return max(sign * (S - K), 0.0)
    finite = T < math.inf  # exp(-0 * T) is exactly 1 for a finite T: no call
    sq = S if not q and finite else S * math.exp(-q * T)
    kr = K if not r and finite else K * math.exp(-r * T)
    if sigma <= 0.0:
        return max(sign * (sq - kr), 0.0)
    vs = sigma * math.sqrt(T)
    d1 = math.log(sq / kr) / vs + 0.5 * vs
    return sign * (sq * _ncdf(sign * d1) - kr * _ncdf(sign * (d1 - vs)))


def bs_greeks_scalar(
    S: float, K: float, T: float, sigma: float, right: Any, r: float = 0.0, q: float = 0.0
) -> dict[str, float]:
    """Black-Scholes-Merton greeks for one contract using the math module (same results as `bs_greeks`)."""
    sign = _sign(right)
    if S <= 0.0 or K <= 0.0:
        return {k: float(v) for k, v in bs_greeks(S, K, T, sigma, right, r, q).items()}
    if T <= 0.0:
        itm = 1.0 if sign * (S - K) > 0.0 else 0.0
        return {"delta": sign * itm, "gamma": 0.0, "theta": 0.0, "vega": 0.0, "rho": 0.0}
    finite = T < math.inf  # exp(-0 * T) is exactly 1 for a finite T: no call
    dq = 1.0 if not q and finite else math.exp(-q * T)
    dr = 1.0 if not r and finite else math.exp(-r * T)
    sq = S * dq
    kr = K * dr
    if sigma <= 0.0:
        itm = 1.0 if sign * (sq - kr) > 0.0 else 0.0
        return {
            "delta": sign * dq * itm,
            "gamma": 0.0,
            "theta": sign * itm * (q * sq - r * kr) / DAYS_PER_YEAR,
            "vega": 0.0,
            "rho": sign * itm * K * T * dr / 100.0,
        }
    sqrt_t = math.sqrt(T)
    vs = sigma * sqrt_t
    d1 = math.log(sq / kr) / vs + 0.5 * vs
    pdf = math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    nd1 = _ncdf(sign * d1)
    nd2 = _ncdf(sign * (d1 - vs))
    return {
        "delta": sign * dq * nd1,
        "gamma": dq * pdf / (S * vs),
        "theta": (-sq * pdf * sigma / (2.0 * sqrt_t) - sign * r * kr * nd2 + sign * q * sq * nd1)
        / DAYS_PER_YEAR,
        "vega": sq * pdf * sqrt_t / 100.0,
        "rho": sign * K * T * dr * nd2 / 100.0,
    }


# -------------------------------------------------------------------------------------- implied vol
def _price_in_w(
    sq: np.ndarray, kr: np.ndarray, x: np.ndarray, sign: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Price and d(price)/dw as functions of total vol w = sigma*sqrt(T), with x = ln(S e^{-qT} / K e^{-rT})."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d1 = x / w + 0.5 * w
        d2 = d1 - w
        price = sign * (sq * ndtr(sign * d1) - kr * ndtr(sign * d2))
        dprice = sq * np.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
    zero_w = w <= 0.0
    if np.any(zero_w):
        price = np.where(zero_w, np.maximum(sign * (sq - kr), 0.0), price)
        dprice = np.where(zero_w, 0.0, dprice)
    return price, dprice


def implied_vol(price: Any, S: Any, K: Any, T: Any, right: Any, r: Any = 0.0, q: Any = 0.0) -> np.ndarray:
    """Black-Scholes implied volatility, vectorized (safeguarded Newton in total vol with a bisection bracket).

    Returns NaN, never raising, where no volatility fits: the price is at or below the no-arbitrage lower bound
    max(+-(S e^{-qT} - K e^{-rT}), 0), at or above the upper bound (S e^{-qT} for a call, K e^{-rT} for a put),
    at or after expiry (T <= 0), any input is not finite, or the vol would exceed SIGMA_MAX.
    """
    arrays = np.broadcast_arrays(*_floats(price, S, K, T, r, q), _is_call(right))
    shape = arrays[0].shape
    p, s, k, t, rr, qq, call = (a.ravel() for a in arrays)
    out = np.full(p.shape, np.nan)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        finite = (
            np.isfinite(p)
            & np.isfinite(s)
            & np.isfinite(k)
            & np.isfinite(t)
            & np.isfinite(rr)
            & np.isfinite(qq)
        )
        ok = finite & (t > 0) & (s > 0) & (k > 0)
        tt = np.where(ok, t, 1.0)
        sq = s * np.exp(-qq * tt)
        kr = k * np.exp(-rr * tt)
        sign = np.where(call, 1.0, -1.0)
        lower = np.maximum(sign * (sq - kr), 0.0)
        upper = np.where(call, sq, kr)
        ok &= (p > lower) & (p < upper)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return out.reshape(shape)
    # Solve for the out-of-the-money twin (put-call parity): its price is the time value, free of cancellation.
    p, sq, kr, sign, sqrt_t = p[idx] - lower[idx], sq[idx], kr[idx], sign[idx], np.sqrt(tt[idx])
    sign = np.where(sign * (sq - kr) > 0, -sign, sign)
    x = np.log(sq / kr)
    lo = np.zeros_like(p)
    hi = SIGMA_MAX * sqrt_t
    p_hi, _ = _price_in_w(sq, kr, x, sign, hi)
    reachable = p <= p_hi
    # Start at the inflection point sqrt(2|x|), from where Newton converges monotonically.
    w = np.clip(np.sqrt(2.0 * np.abs(x)), 1e-3 * sqrt_t, hi)
    for _ in range(IV_MAX_ITER):
        model, vega = _price_in_w(sq, kr, x, sign, w)
        diff = model - p
        above = diff > 0
        hi = np.where(above, w, hi)
        lo = np.where(above, lo, w)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = diff / vega
        if np.all((np.abs(diff) <= 1e-15 * p) | (np.abs(step) <= 1e-13 * w) | (hi - lo <= 1e-14 * hi)):
            break
        newton = w - step
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        w = np.where(inside, newton, 0.5 * (lo + hi))
    out[idx] = np.where(reachable, w / sqrt_t, np.nan)
    return out.reshape(shape)


# ------------------------------------------------------------------------------------------ symbols
@dataclass(frozen=True)
class OccContract:
    """The parts of an OCC option symbol: root, expiry date, right ('C'/'P') and strike in dollars."""

    root: str
    expiry: date
    right: str
    strike: float

    @property
    def symbol(self) -> str:
        """The compact OCC symbol of this contract, e.g. SPY240119C00470000."""
        return occ_symbol(self.root, self.expiry, self.right, self.strike)


def _to_date(value: Any) -> date:
    """Return the calendar date of a date, datetime, pandas Timestamp, numpy datetime64 or ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        raise ValueError(f"not a date: {value!r}")
    return ts.date()


def occ_symbol(root: str, expiry: Any, right: Any, strike: float) -> str:
    """Format a compact OCC symbol: root (1-6 chars), YYMMDD, C/P, strike*1000 as 8 digits (SPY240119C00470000)."""
    try:
        return _occ_symbol(root, expiry, right, strike)
    except TypeError:  # an unhashable argument: format it without the cache
        return _occ_symbol.__wrapped__(root, expiry, right, strike)


@lru_cache(maxsize=4096)
def _occ_symbol(root: str, expiry: Any, right: Any, strike: float) -> str:
    """occ_symbol, cached (every order the engine sends formats one)."""
    if not isinstance(root, str) or not _ROOT_RE.match(root):
        raise OptionSymbolError(
            f"option root {root!r} must be 1-6 upper-case letters/digits starting with a letter"
        )
    try:
        day = _to_date(expiry)
        code = right_code(right)
    except (ValueError, TypeError) as exc:
        raise OptionSymbolError(
            f"cannot build an OCC symbol for {root} {expiry!r} {right!r}: {exc}"
        ) from None
    if not 2000 <= day.year <= 2099:
        raise OptionSymbolError(f"option expiry {day} is outside the OCC years 2000-2099")
    try:
        milli = float(strike) * 1000.0
    except (TypeError, ValueError):
        raise OptionSymbolError(f"option strike {strike!r} is not a number") from None
    units = round(milli) if math.isfinite(milli) else -1
    if not 0 < units <= 99_999_999 or abs(milli - units) > 1e-6:
        raise OptionSymbolError(
            f"option strike {strike!r} must be positive, below 100000 and a multiple of 0.001 for an OCC symbol"
        )
    return f"{root}{day:%y%m%d}{code}{units:08d}"


def parse_occ(symbol: str) -> OccContract:
    """Parse an OCC option symbol (compact, or with the root space-padded to 6) into an OccContract."""
    if isinstance(symbol, str):
        return _parse_occ(symbol)
    raise OptionSymbolError(f"{symbol!r} is not an OCC option symbol (expected ROOT+YYMMDD+C/P+8-digit strike, "
                            "e.g. SPY240119C00470000)")


@lru_cache(maxsize=4096)
def _parse_occ(symbol: str) -> OccContract:
    """parse_occ of a string, cached (the simulated broker parses every order's symbol at its fill)."""
    match = _OCC_RE.match(symbol)
    if match is None:
        raise OptionSymbolError(
            f"{symbol!r} is not an OCC option symbol (expected ROOT+YYMMDD+C/P+8-digit strike, "
            "e.g. SPY240119C00470000)"
        )
    digits = match["date"]
    try:
        day = date(2000 + int(digits[:2]), int(digits[2:4]), int(digits[4:]))
    except ValueError:
        raise OptionSymbolError(f"OCC symbol {symbol!r} has an invalid expiry date {digits!r}") from None
    units = int(match["strike"])
    if units == 0:
        raise OptionSymbolError(f"OCC symbol {symbol!r} has a zero strike")
    return OccContract(root=match["root"], expiry=day, right=match["right"], strike=units / 1000.0)


# ----------------------------------------------------------------------------------------------- time
@lru_cache(maxsize=4096)
def expiry_close(expiry: date) -> pd.Timestamp:
    """The moment an option expires for pricing purposes: 16:00 America/New_York on its expiry date."""
    return pd.Timestamp(year=expiry.year, month=expiry.month, day=expiry.day, hour=16, tz=NY_TZ)


def year_fraction(now: Any, expiry: Any) -> float:
    """Time from `now` (tz-aware) to 16:00 New York on the expiry date in years (ACT/365), 0 when past."""
    ts = now if isinstance(now, pd.Timestamp) else pd.Timestamp(now)
    if ts.tzinfo is None:
        raise ValueError(f"year_fraction needs a timezone-aware time, got naive {ts}")
    seconds = (expiry_close(_to_date(expiry)) - ts).total_seconds()
    return seconds / SECONDS_PER_YEAR if seconds > 0.0 else 0.0


# ------------------------------------------------------------------------------------ contract choice
def select_contract(
    chain: pd.DataFrame,
    right: Any,
    target_delta: float | None = None,
    moneyness: float | None = None,
    spot: float | None = None,
    dte_min: float = 0,
    dte_max: float | None = None,
) -> pd.Series | None:
    """Pick one quoted contract of `right` from a chain: nearest expiry in [dte_min, dte_max], then the
    |delta| closest to |target_delta|, or the strike closest to spot*(1+moneyness) for calls and
    spot*(1-moneyness) for puts (positive moneyness = out of the money); None when nothing qualifies.

    A contract qualifies with bid > 0 or ask > 0 (and a finite delta when choosing by delta); ties go to the
    further out-of-the-money strike.
    """
    code = right_code(right)
    if (target_delta is None) == (moneyness is None):
        raise ValueError("select_contract needs exactly one of target_delta or moneyness")
    if moneyness is not None and (spot is None or not spot > 0):
        raise ValueError(f"select_contract by moneyness needs a positive spot, got {spot!r}")
    needed = ["right", "strike", "bid", "ask", "dte"] + (["delta"] if target_delta is not None else [])
    missing = [c for c in needed if c not in chain.columns]
    if missing:
        raise DataError(f"option chain is missing column(s) {', '.join(missing)}")
    if chain.empty:
        return None
    rights = chain["right"].astype(str).str.strip().str.upper()
    dte = chain["dte"].astype(float)
    mask = (rights == code) & (dte >= dte_min) & ((chain["bid"] > 0) | (chain["ask"] > 0))
    if dte_max is not None:
        mask &= dte <= dte_max
    if target_delta is not None:
        mask &= np.isfinite(chain["delta"].astype(float))
    candidates = chain[mask.to_numpy()]
    if candidates.empty:
        return None
    cdte = candidates["dte"].astype(float)
    candidates = candidates[(cdte == cdte.min()).to_numpy()]
    strikes = candidates["strike"].to_numpy(dtype=float)
    if target_delta is not None:
        dist = np.abs(np.abs(candidates["delta"].to_numpy(dtype=float)) - abs(float(target_delta)))
    else:
        target = spot * (1.0 + moneyness) if code == "C" else spot * (1.0 - moneyness)
        dist = np.abs(strikes - target)
    further_otm = -strikes if code == "C" else strikes
    best = np.lexsort((further_otm, dist))[0]
    return candidates.iloc[best]
