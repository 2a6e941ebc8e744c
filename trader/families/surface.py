"""The option surface from the chain snapshots (extends `trader.chain_features`).

Per snapshot (the near expiry is the first one at least a day out, else the first listed; the far expiry the
last one listed up to 60 days out):

* `surface_atm_iv`: near-expiry ATM implied volatility (the call whose delta is closest to 0.5);
* `surface_term_slope`: far ATM IV minus near ATM IV (negative = inverted term structure);
* `surface_rr25`: 25-delta risk reversal on the near expiry, IV(25-delta call) - IV(25-delta put);
* `surface_bf25`: 25-delta butterfly, mean of those two IVs minus the ATM IV;
* `surface_iv_rank`: (ATM IV - min) / (max - min) over the last `RANK_SNAPSHOTS` snapshots, centred (-0.5..0.5);
* `surface_iv_pct`: share of the earlier snapshots in that window with a lower ATM IV, centred;
* `surface_pcr_volume`, `surface_pcr_oi`: log put/call ratios of volume and open interest.

A snapshot's figures apply from the first bar starting at or after its timestamp (the rule of the chain
statistics). Markets without recorded snapshots use their quoter's modeled daily snapshots when it has them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.families.common import finish
from trader.market.base import Market

RANK_SNAPSHOTS = 60
FAR_DAYS = 60
COLUMNS = ("surface_atm_iv", "surface_term_slope", "surface_rr25", "surface_bf25", "surface_iv_rank",
           "surface_iv_pct", "surface_pcr_volume", "surface_pcr_oi")


def snapshots(market: Market) -> pd.DataFrame | None:
    """The market's option snapshots, or its quoter's modeled daily snapshots, or None."""
    if market.chains is not None and len(market.chains):
        return market.chains
    if market.quoter is not None and hasattr(market.quoter, "session_chains"):
        return market.quoter.session_chains(dte_max=FAR_DAYS)
    return None


def inputs(market: Market) -> list[str]:
    """Missing inputs: option snapshots (recorded or modeled)."""
    has = (market.chains is not None and len(market.chains)) or (
        market.quoter is not None and hasattr(market.quoter, "session_chains"))
    return [] if has else ["option snapshots"]


def _nearest_iv(iv: np.ndarray, delta: np.ndarray, target: float) -> float:
    ok = np.isfinite(iv) & np.isfinite(delta)
    if not ok.any():
        return np.nan
    return float(iv[ok][np.argmin(np.abs(delta[ok] - target))])


def snapshot_table(chains: pd.DataFrame) -> pd.DataFrame:
    """Surface figures of each snapshot time (before the trailing rank and percentile)."""
    c = chains.sort_values("timestamp", kind="stable")
    ts = pd.DatetimeIndex(c["timestamp"])
    day = ts.tz_convert("America/New_York").tz_localize(None).normalize() if ts.tz is not None else ts.normalize()
    expiry = pd.DatetimeIndex(c["expiry"])
    expiry = expiry.tz_localize(None) if expiry.tz is not None else expiry
    dte = (expiry.normalize() - day).days.to_numpy()
    is_put = (c["right"] == "P").to_numpy()
    iv, delta = c["iv"].to_numpy(dtype=float), c["delta"].to_numpy(dtype=float)
    vol, oi = c["volume"].to_numpy(dtype=float), c["open_interest"].to_numpy(dtype=float)
    ns = ts.as_unit("ns").asi8
    cuts = np.flatnonzero(np.diff(ns)) + 1
    rows = []
    for part in np.split(np.arange(len(c)), cuts):
        if not len(part):
            continue
        d = dte[part]
        listed = np.unique(d[(d >= 0) & (d <= FAR_DAYS)])
        if not len(listed):
            continue
        near = listed[listed >= 1][0] if (listed >= 1).any() else listed[0]
        far = listed[-1]
        calls = part[(d == near) & ~is_put[part]]
        puts = part[(d == near) & is_put[part]]
        far_calls = part[(d == far) & ~is_put[part]]
        atm = _nearest_iv(iv[calls], delta[calls], 0.5)
        atm_far = _nearest_iv(iv[far_calls], delta[far_calls], 0.5)
        c25 = _nearest_iv(iv[calls], delta[calls], 0.25)
        p25 = _nearest_iv(iv[puts], delta[puts], -0.25)
        pv, cv = vol[part][is_put[part]].sum(), vol[part][~is_put[part]].sum()
        po, co = oi[part][is_put[part]].sum(), oi[part][~is_put[part]].sum()
        rows.append((ns[part[0]], atm, atm_far - atm if far != near else np.nan, c25 - p25,
                     0.5 * (c25 + p25) - atm, np.log(pv / cv) if pv > 0 and cv > 0 else np.nan,
                     np.log(po / co) if po > 0 and co > 0 else np.nan))
    table = pd.DataFrame(rows, columns=["ns", "surface_atm_iv", "surface_term_slope", "surface_rr25",
                                        "surface_bf25", "surface_pcr_volume", "surface_pcr_oi"])
    atm = table["surface_atm_iv"]
    lo = atm.rolling(RANK_SNAPSHOTS, min_periods=1).min()
    hi = atm.rolling(RANK_SNAPSHOTS, min_periods=1).max()
    table["surface_iv_rank"] = ((atm - lo) / (hi - lo).where(hi > lo)) - 0.5
    values = atm.to_numpy()
    pct = np.full(len(values), np.nan)
    for k in range(1, len(values)):
        past = values[max(0, k - RANK_SNAPSHOTS + 1):k]
        past = past[np.isfinite(past)]
        if len(past) and np.isfinite(values[k]):
            pct[k] = float((past < values[k]).mean()) - 0.5
    table["surface_iv_pct"] = pct
    return table


def build(market: Market, intraday: bool) -> pd.DataFrame:
    """The surface columns for every bar of the market (causal)."""
    index = pd.DatetimeIndex(market.bars.index)
    chains = snapshots(market)
    table = snapshot_table(chains) if chains is not None and len(chains) else None
    if table is None or not len(table):
        return finish({c: np.full(len(index), np.nan) for c in COLUMNS}, index)
    pos = np.searchsorted(table["ns"].to_numpy(), index.as_unit("ns").asi8, side="right") - 1
    take = np.clip(pos, 0, None)
    return finish({col: np.where(pos >= 0, table[col].to_numpy(dtype=float)[take], np.nan) for col in COLUMNS},
                  index)
