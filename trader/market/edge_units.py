"""The synthetic market's planted edge in units a quant reads: drift in basis points, oracle Sharpe, break-even.

The generator's ``edge`` is a drift of ``edge * KAPPA`` bar standard deviations per bar in the direction of the
hidden trend (see ``trader.market.synthetic``). Here that number becomes:

- ``drift_bps_per_bar``: the predictable drift per one-minute bar in basis points, at the occupancy-weighted RMS
  volatility (the trend moves prices this much per bar while it is bull or bear);
- ``drift_bps_at_horizon``: the same over ``horizon`` bars (what a trade held that long can earn, before costs);
- ``oracle_sharpe_annual``: the annualised Sharpe ratio of a frictionless oracle that knows the hidden trend and
  holds the underlying in its direction each regular-hours bar (flat in neutral trends). It is an upper bound: a
  model has to infer the trend from past prices, and a trend lasts about two sessions;
- ``break_even_edge``: the smallest edge at which that oracle, buying an option of delta ``delta`` and holding it
  ``horizon`` bars, earns back a round-trip cost of ``cost_per_share`` dollars at spot ``spot``. Below it no
  strategy can profit after costs on this market at that holding period; a learned one needs several times more.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from trader.market import model
from trader.market.synthetic import DURATIONS, KAPPA, SIGMA

BARS_PER_YEAR = model.TRADING_DAYS * 390


def _occupancy(axis: str) -> np.ndarray:
    d = np.asarray(DURATIONS[axis], dtype=float)
    return d / d.sum()


def bar_sd_rms() -> float:
    """RMS standard deviation of a regular-hours one-minute log return, over the volatility states' occupancy."""
    var = float(np.sum(_occupancy("volatility") * SIGMA**2))
    return math.sqrt(var * (1.0 - model.OVERNIGHT_SHARE) / BARS_PER_YEAR)


def mean_to_rms() -> float:
    """E[sd] / RMS(sd) of a bar's standard deviation across volatility states and the intraday profile."""
    occ = _occupancy("volatility")
    sig = float(np.sum(occ * SIGMA)) / math.sqrt(float(np.sum(occ * SIGMA**2)))
    x = (np.arange(390) + 0.5) / 390
    u = model.intraday_vol_factor(x)
    return sig * float(np.mean(u)) / math.sqrt(float(np.mean(u * u)))


def trending_share() -> float:
    """Long-run share of bars in a bull or bear trend (the drift is zero in the neutral state)."""
    occ = _occupancy("trend")
    return float(occ[0] + occ[2])


@dataclass(frozen=True)
class EdgeUnits:
    """One planted edge expressed in basis points, Sharpe ratio and against costs."""

    edge: float
    horizon: int
    drift_bps_per_bar: float
    drift_bps_at_horizon: float
    oracle_sharpe_annual: float
    break_even_edge: float | None
    cost_per_share: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-able form."""
        return asdict(self)


def edge_units(edge: float, horizon: int = 45, *, cost_per_share: float | None = None, spot: float = 470.0,
               delta: float = 0.5) -> EdgeUnits:
    """Express `edge` in interpretable units at a holding `horizon` in bars (break-even needs `cost_per_share`)."""
    if not edge >= 0 or not math.isfinite(edge):
        raise ValueError(f"edge must be a non-negative number, got {edge}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 bar, got {horizon}")
    sd = bar_sd_rms()
    per_bar = edge * KAPPA * sd * 1e4
    share = trending_share()
    oracle = edge * KAPPA * math.sqrt(share) * mean_to_rms() * math.sqrt(BARS_PER_YEAR)
    be = None
    if cost_per_share is not None:
        if not cost_per_share >= 0 or not spot > 0 or not 0 < delta <= 1:
            raise ValueError("cost_per_share must be >= 0, spot > 0 and delta in (0, 1]")
        be = cost_per_share / (delta * spot * KAPPA * sd * horizon)
    return EdgeUnits(edge=edge, horizon=horizon, drift_bps_per_bar=per_bar, drift_bps_at_horizon=per_bar * horizon,
                     oracle_sharpe_annual=oracle, break_even_edge=be, cost_per_share=cost_per_share)


def edge_for_oracle_sharpe(sharpe: float) -> float:
    """The generator edge whose oracle has this annualised Sharpe ratio (the inverse of `edge_units`)."""
    return sharpe / (KAPPA * math.sqrt(trending_share()) * mean_to_rms() * math.sqrt(BARS_PER_YEAR))
