"""Per-bar option-chain statistics (put/call ratios, ATM term structure, skew) from the chain snapshots.

Each snapshot's statistics apply from the first bar at or after its timestamp, so a bar only sees snapshots
already taken (daily snapshots at the open for synthetic and modeled markets).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

CHAIN_COLUMNS = ("pcr_volume", "pcr_oi", "atm_iv_near", "term_slope", "skew")


def snapshot_stats(chains: pd.DataFrame, spot_by_time: pd.Series | None = None) -> pd.DataFrame:
    """Statistics of each snapshot time: put/call volume and OI ratios, near ATM IV, term slope, 25-delta skew."""
    rows = []
    for ts, snap in chains.groupby("timestamp", sort=True):
        puts, calls = snap[snap["right"] == "P"], snap[snap["right"] == "C"]
        cv, pv = float(calls["volume"].sum()), float(puts["volume"].sum())
        co, po = float(calls["open_interest"].sum()), float(puts["open_interest"].sum())
        expiries = sorted(snap["expiry"].unique())
        iv_by_exp = []
        for e in expiries[:2]:
            leg = snap[snap["expiry"] == e]
            delta = leg["delta"].to_numpy(dtype=float)
            iv = leg["iv"].to_numpy(dtype=float)
            ok = np.isfinite(delta) & np.isfinite(iv)
            if not ok.any():
                iv_by_exp.append(np.nan)
                continue
            atm = np.argmin(np.abs(np.abs(delta[ok]) - 0.5))
            iv_by_exp.append(float(iv[ok][atm]))
        near = iv_by_exp[0] if iv_by_exp else np.nan
        far = iv_by_exp[1] if len(iv_by_exp) > 1 else np.nan
        skew = np.nan
        if expiries:
            leg = snap[snap["expiry"] == expiries[min(1, len(expiries) - 1)]]
            d = leg["delta"].to_numpy(dtype=float)
            iv = leg["iv"].to_numpy(dtype=float)
            p = (leg["right"] == "P").to_numpy()
            okp, okc = p & np.isfinite(d) & np.isfinite(iv), ~p & np.isfinite(d) & np.isfinite(iv)
            if okp.any() and okc.any():
                put25 = iv[okp][np.argmin(np.abs(d[okp] + 0.25))]
                call25 = iv[okc][np.argmin(np.abs(d[okc] - 0.25))]
                skew = float(put25 - call25)
        rows.append({
            "timestamp": ts,
            "pcr_volume": pv / cv if cv > 0 else np.nan,
            "pcr_oi": po / co if co > 0 else np.nan,
            "atm_iv_near": near,
            "term_slope": far - near if np.isfinite(far) and np.isfinite(near) else np.nan,
            "skew": skew,
        })
    return pd.DataFrame(rows).set_index("timestamp") if rows else pd.DataFrame(columns=CHAIN_COLUMNS)


def chain_arrays(chains: pd.DataFrame | None, bar_index: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Per-bar arrays of the latest snapshot statistics at or before each bar (NaN before the first one)."""
    n = len(bar_index)
    if chains is None or len(chains) == 0:
        return {c: np.full(n, np.nan) for c in CHAIN_COLUMNS}
    stats = snapshot_stats(chains)
    stamps = pd.DatetimeIndex(stats.index)
    if stamps.tz is None:
        stamps = stamps.tz_localize(bar_index.tz)
    pos = np.searchsorted(stamps.asi8, pd.DatetimeIndex(bar_index).tz_convert(stamps.tz).asi8, side="right") - 1
    out = {}
    for c in CHAIN_COLUMNS:
        values = stats[c].to_numpy(dtype=float)
        out[c] = np.where(pos >= 0, values[np.clip(pos, 0, None)], np.nan)
    return out
