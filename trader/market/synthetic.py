"""The synthetic SPY-like market: the embedded default data, seeded, with hidden regimes and a planted edge.

Calendar
    Regular trading hours of real NYSE sessions (exchange_calendars "XNYS"): holidays are absent and early
    closes (e.g. the day after Thanksgiving) have 210 one-minute bars instead of 390. Bar timestamps are bar
    starts in America/New_York (09:30 is the first bar).

Hidden regimes (``Market.truth``; never shown to strategies)
    Three independent Markov chains stepped once per bar (overnight is not a step). A chain stays in state s
    with probability ``1 - 1/D[s]`` per bar, so its holding times are geometric with mean D[s] bars, and on
    leaving it jumps to one of the two other states with equal probability. Expected durations D (bars;
    390 bars = one session):

    ============  ======================  =====================  ======================
    axis          state 0                 state 1                state 2
    ============  ======================  =====================  ======================
    trend         bear: 780 (2 sessions)  neutral: 585 (1.5)     bull: 780 (2)
    volatility    low: 780 (2)            normal: 585 (1.5)      high: 234 (0.6)
    liquidity     high: 195 (half day)    normal: 390 (1)        low: 90 (1.5 hours)
    ============  ======================  =====================  ======================

    Long-run occupancy is proportional to D (e.g. volatility 49 % low, 37 % normal, 15 % high). The first
    state of each chain is drawn from that occupancy. Combined label = trend*9 + volatility*3 + liquidity.

Returns
    Annualised close-to-close volatility by volatility state: ``sigma = 10 %, 16 %, 30 %``. A session carries
    ``sigma**2 / 252`` of variance: 15 % overnight (one gap return at the session's first bar) and 85 % over
    regular hours, spread over the session's N bars with the U-shaped profile ``u(x)**2 ~ 0.7 + 1.3 (2x-1)**2``
    (x = fraction of the session; mean 1; the open and close are ~1.7x as volatile as midday). Per bar,
    with ``sd = sigma * u(x) * sqrt(0.85 / (252 N))`` (overnight: ``sd = sigma * sqrt(0.15 / 252)``)::

        log return = mu - sd**2 / 2 + sd * z + jump,      z ~ N(0, 1)
        mu         = edge * KAPPA * sd * trend_sign,      KAPPA = 0.1, trend_sign = -1, 0, +1

    Jumps arrive with probability (0.2, 0.4, 1.0 per session by volatility state) / N per bar with log size
    ``N(-j**2 / 2, j**2)``, ``j = 0.3 * sigma / sqrt(252)``, so ``E[exp(jump)] = 1`` (they add 2 to 9 % to the
    session's variance).

The planted edge
    The only predictable component is ``mu``: a drift of ``edge * 0.1`` standard deviations per bar in the
    direction of the hidden trend (an oracle that knows the trend has a per-bar Sharpe ratio of
    ``edge * 0.1``, about ``edge * 2`` per session). Because trends persist for days, the drift shows up as
    momentum that a model can learn from past returns. With ``edge = 0`` every price is a martingale,
    ``E[S_{t+1} | past] = S_t`` (the convexity and jump terms are compensated), so nothing is exploitable: the
    trend label still exists but has no effect on returns. Volatility clustering remains at ``edge = 0``;
    it is priced into implied volatility. ``trader.market.edge_units`` states an edge in basis points of drift,
    the oracle's annualised Sharpe ratio and against option costs (the default 1.0: 0.49 bp per bar, 22 bp over a
    45-bar hold, an oracle Sharpe near 20; the smallest edge an oracle survives costs with is about 0.1, a learned
    model on a few months of bars needs several times that).

Observable side columns
    ``vix``: a VIX-like index in percent, ``100 * 1.2 * ewma15(sigma) * exp(eta)`` with an EWMA of the
    volatility state's sigma over a 15-bar half-life and ``eta`` an AR(1) log noise (sd 0.04, one-session
    memory): implied sits 10 to 20 % above realized in every volatility state and follows the regime with a
    short lag.
    ``spread`` (underlying bid/ask in $): $0.01 in high liquidity; $0.01 or $0.02 (40 %) in normal; $0.03 to
    $0.05 in low; plus $0.01 with probability 0.3 in high volatility. ``quote_size`` (shares at the inside):
    lognormal around 3000 / 1200 / 300 by liquidity state, in round lots. ``volume``: 200,000 shares per
    minute times the U profile, x0.8 / 1 / 1.5 by volatility state, x1.25 / 1 / 0.6 by liquidity state,
    x(0.6 + 0.4 |r| / sd), x lognormal(0, 0.3). Prices are rounded to cents for display (the path itself
    runs unrounded), so high >= open, close >= low always holds.

Options
    ``Market.chains`` holds one snapshot per session at its first bar, from the ModelQuoter
    (``trader.market.quoter``): daily expiries on trading days from 0 to ``max_dte`` calendar days, $1 strikes
    +-``strikes_each_side`` around the session's open, Black-Scholes on the IV surface of
    ``trader.market.model`` (ATM from ``vix``, skew, term structure) with its tick-grid spread model (wider in
    low liquidity through ``spread``, and into the close) and seeded volume and open interest.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from trader.errors import DataError
from trader.market import model
from trader.market.base import Market
from trader.market.calendar import minute_index, sessions_from
from trader.market.quoter import ModelQuoter

KAPPA = 0.1
DURATIONS: dict[str, tuple[float, float, float]] = {
    "trend": (780.0, 585.0, 780.0),
    "volatility": (780.0, 585.0, 234.0),
    "liquidity": (195.0, 390.0, 90.0),
}
SIGMA = np.array([0.10, 0.16, 0.30])
JUMPS_PER_SESSION = np.array([0.2, 0.4, 1.0])
JUMP_SCALE = 0.3
VRP = 1.2
VIX_HALFLIFE_BARS = 15.0
VIX_NOISE_SD = 0.04
BASE_VOLUME = 200_000.0
VOLUME_BY_VOL = np.array([0.8, 1.0, 1.5])
VOLUME_BY_LIQ = np.array([1.25, 1.0, 0.6])
QUOTE_SIZE_BY_LIQ = np.array([3000.0, 1200.0, 300.0])


def markov_chain(n: int, durations: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """A 3-state persistent Markov path of n steps: geometric holding times with the given means, uniform exits."""
    d = np.asarray(durations, dtype=float)
    if np.any(d < 1.0):
        raise DataError(f"Regime durations must be at least 1 bar, got {tuple(durations)}.")
    out = np.empty(n, dtype=np.int8)
    state = int(rng.choice(3, p=d / d.sum()))
    pos = 0
    while pos < n:
        run = int(rng.geometric(1.0 / d[state]))
        out[pos:pos + run] = state
        pos += run
        state = (state + 1 + int(rng.integers(2))) % 3
    return out


def _bridge_extremes(r: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of a Brownian bridge from 0 to r with variance s**2 (exact marginals, log space)."""
    u = rng.random((2, len(r)))
    hi = 0.5 * (r + np.sqrt(r * r - 2.0 * s * s * np.log1p(-u[0])))
    lo = 0.5 * (r - np.sqrt(r * r - 2.0 * s * s * np.log1p(-u[1])))
    return hi, lo


def generate_synthetic(sessions: int = 60, start: str = "2024-01-02", seed: int = 0, edge: float = 1.0, *,
                       spot0: float = 470.0, symbol: str = "SPY", max_dte: int = 5,
                       strikes_each_side: int = 20) -> Market:
    """Generate a seeded synthetic market of 1-minute RTH bars, daily option chains and hidden regimes."""
    if sessions < 1:
        raise DataError(f"sessions must be at least 1, got {sessions}.")
    if not edge >= 0 or not math.isfinite(edge):
        raise DataError(f"edge must be a non-negative number, got {edge}.")
    if not spot0 > 0:
        raise DataError(f"spot0 must be positive, got {spot0}.")
    sched = sessions_from(start, sessions)
    index = minute_index(sched)
    n = len(index)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(8)]

    trend = markov_chain(n, DURATIONS["trend"], rngs[0])
    vol = markov_chain(n, DURATIONS["volatility"], rngs[1])
    liq = markov_chain(n, DURATIONS["liquidity"], rngs[2])

    # Position of each bar inside its session.
    lengths = ((sched["close"] - sched["open"]) / pd.Timedelta(minutes=1)).to_numpy(dtype=int)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    n_in = np.repeat(lengths, lengths).astype(float)
    k_in = np.arange(n) - np.repeat(starts, lengths)
    frac = (k_in + 0.5) / n_in
    u = model.intraday_vol_factor(frac)

    sigma = SIGMA[vol]
    sign = trend.astype(float) - 1.0
    sd = sigma * u * np.sqrt((1.0 - model.OVERNIGHT_SHARE) / (model.TRADING_DAYS * n_in))
    r_noise = rngs[3].standard_normal(n)
    r = edge * KAPPA * sd * sign - 0.5 * sd * sd + sd * r_noise

    jump_scale = JUMP_SCALE * sigma / math.sqrt(model.TRADING_DAYS)
    jump_hit = rngs[4].random(n) < JUMPS_PER_SESSION[vol] / n_in
    jumps = np.where(jump_hit, jump_scale * rngs[4].standard_normal(n) - 0.5 * jump_scale**2, 0.0)
    r = r + jumps

    # Overnight gap at each session's first bar (not the very first bar of the data).
    sd_on = sigma[starts] * math.sqrt(model.OVERNIGHT_SHARE / model.TRADING_DAYS)
    gap = edge * KAPPA * sd_on * sign[starts] - 0.5 * sd_on**2 + sd_on * rngs[5].standard_normal(len(starts))
    gap[0] = 0.0
    step_before = np.zeros(n)
    step_before[starts] = gap

    log_close = math.log(spot0) + np.cumsum(step_before + r)
    log_open = log_close - r
    hi_ext, lo_ext = _bridge_extremes(r, np.maximum(sd, 1e-12), rngs[6])
    open_ = np.round(np.exp(log_open), 2)
    close = np.round(np.exp(log_close), 2)
    high = np.maximum(np.round(np.exp(log_open + hi_ext), 2), np.maximum(open_, close))
    low = np.minimum(np.round(np.exp(log_open + lo_ext), 2), np.minimum(open_, close))

    side = rngs[7]
    volume = (BASE_VOLUME * u * u * VOLUME_BY_VOL[vol] * VOLUME_BY_LIQ[liq]
              * (0.6 + 0.4 * np.abs(r) / sd) * side.lognormal(0.0, 0.3, n))
    alpha = 1.0 - 0.5 ** (1.0 / VIX_HALFLIFE_BARS)
    ewma = lfilter([alpha], [1.0, alpha - 1.0], sigma, zi=np.array([(1.0 - alpha) * sigma[0]]))[0]
    phi = math.exp(-1.0 / 390.0)
    eta = lfilter([math.sqrt(1.0 - phi * phi) * VIX_NOISE_SD], [1.0, -phi], side.standard_normal(n))
    vix = np.round(100.0 * VRP * ewma * np.exp(eta), 2)
    spread = np.where(liq == 0, 0.01, np.where(liq == 1, 0.01 + 0.01 * (side.random(n) < 0.4),
                                               0.03 + 0.01 * np.minimum(side.poisson(1.0, n), 2)))
    spread = np.round(spread + 0.01 * ((vol == 2) & (side.random(n) < 0.3)), 2)
    quote_size = np.maximum(100.0, np.round(QUOTE_SIZE_BY_LIQ[liq] * side.lognormal(0.0, 0.5, n) / 100.0) * 100.0)

    bars = pd.DataFrame({
        "open": open_, "high": high, "low": low, "close": close, "volume": np.round(volume),
        "vix": vix, "spread": spread, "quote_size": quote_size,
    }, index=index)
    truth = pd.DataFrame({
        "trend": trend.astype(np.int64), "volatility": vol.astype(np.int64), "liquidity": liq.astype(np.int64),
    }, index=index)
    truth["label"] = truth["trend"] * 9 + truth["volatility"] * 3 + truth["liquidity"]

    quoter = ModelQuoter(bars, interval="1min", underlying=symbol, max_dte=max_dte, expiry_rule="daily",
                         strikes_each_side=strikes_each_side, strike_step=1.0, seed=int(seed))
    chains = quoter.session_chains(dte_max=max_dte)
    meta: dict[str, Any] = {
        "source": "synthetic", "symbol": symbol, "interval": "1min", "seed": int(seed), "edge": float(edge),
        "sessions": int(sessions), "start": str(sched.index[0]), "end": str(sched.index[-1]), "spot0": float(spot0),
        "description": (f"Synthetic {symbol}-like market: {sessions} XNYS sessions of 1-minute bars from "
                        f"{sched.index[0]}, seed {seed}, planted edge {edge:g} (0 = null market)."),
        "options_modeled": True, "quoter": quoter.params(), "gaps": [],
    }
    return Market(bars=bars, chains=chains, truth=truth, meta=meta, quoter=quoter)
