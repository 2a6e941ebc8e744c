"""Macro context: sector relative strength and rotation, risk-on/off spreads, bond and dollar moves, VIX term.

All on closes aligned to the underlying's bar closes (as of that time); `k`-bar log returns ``R_k``:

* `macro_rs_<sector>`: ``R_60(sector) - R_60(underlying)`` for each of the ten sector ETFs;
* `macro_dispersion_<k>`: cross-sectional standard deviation of the sectors' ``R_k`` (k = 15, 60);
* `macro_cyc_def_<k>`: mean ``R_k`` of cyclical sectors minus that of defensive ones (risk appetite);
* `macro_rotation`: how much the sectors' relative-strength ranking changed over the last 60 bars (mean
  absolute rank change over its expected value for a random reshuffle: 0 = same order, about 1 = reshuffled);
* `macro_xly_xlp`, `macro_spy_tlt`: risk-on/off spreads ``R_60(XLY) - R_60(XLP)``, ``R_60(SPY) - R_60(TLT)``;
* `macro_tlt_<k>`, `macro_uup_<k>`: bond and dollar ``R_k`` (k = 15, 60);
* `macro_vix9d_vix`, `macro_vix_vix3m`: log ratios of the VIX term structure (positive = backwardation at the
  short end / inverted curve). VIX is the context series ``VIX`` when present, else the bars' ``vix`` column.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.families.common import finish, log_change
from trader.market.base import Market
from trader.market.universe import CYCLICALS, DEFENSIVES, SECTORS, aligned_closes

WINDOWS = (15, 60)
RS_BARS = 60
NEEDS = (*SECTORS, "TLT", "UUP", "VIX9D", "VIX3M")


def inputs(market: Market) -> list[str]:
    """Missing symbols (VIX counts as present when the bars carry a vix column)."""
    missing = [s for s in NEEDS if s not in market.context]
    if "VIX" not in market.context and "vix" not in market.bars.columns:
        missing.append("VIX")
    return missing


def build(market: Market, intraday: bool) -> pd.DataFrame:
    """The macro columns for every bar of the market (causal)."""
    index = pd.DatetimeIndex(market.bars.index)
    present = [s for s in ("VIX", "VIX9D", "VIX3M") if s in market.context]
    closes = aligned_closes(market.context, [*SECTORS, "TLT", "UUP", *present], index)
    log_of = {s: np.log(closes[s]) for s in (*SECTORS, "TLT", "UUP")}
    spy = np.log(market.bars["close"].to_numpy(dtype=float))
    out: dict[str, np.ndarray] = {}
    spy_rs = log_change(spy, RS_BARS)
    rs = np.column_stack([log_change(log_of[s], RS_BARS) - spy_rs for s in SECTORS])
    for k, s in enumerate(SECTORS):
        out[f"macro_rs_{s.lower()}"] = rs[:, k]
    for w in WINDOWS:
        rets = {s: log_change(log_of[s], w) for s in SECTORS}
        out[f"macro_dispersion_{w}"] = np.std(np.column_stack(list(rets.values())), axis=1)
        out[f"macro_cyc_def_{w}"] = (np.mean([rets[s] for s in CYCLICALS], axis=0)
                                     - np.mean([rets[s] for s in DEFENSIVES], axis=0))
    ranks = np.argsort(np.argsort(np.nan_to_num(rs, nan=0.0), axis=1), axis=1).astype(float)
    m = len(SECTORS)
    expected = (m * m - 1) / (3.0 * m)  # mean |rank difference| of two independent random orderings
    change = np.full(len(index), np.nan)
    if len(index) > RS_BARS:
        change[RS_BARS:] = np.abs(ranks[RS_BARS:] - ranks[:-RS_BARS]).mean(axis=1) / expected
    change[~np.isfinite(rs).all(axis=1)] = np.nan
    out["macro_rotation"] = change
    out["macro_xly_xlp"] = log_change(log_of["XLY"], RS_BARS) - log_change(log_of["XLP"], RS_BARS)
    out["macro_spy_tlt"] = spy_rs - log_change(log_of["TLT"], RS_BARS)
    for w in WINDOWS:
        out[f"macro_tlt_{w}"] = log_change(log_of["TLT"], w)
        out[f"macro_uup_{w}"] = log_change(log_of["UUP"], w)
    if "VIX" in market.context:
        vix = closes["VIX"]
    else:
        vix = market.bars["vix"].astype(float).where(market.bars["vix"] > 0).ffill().to_numpy()
    out["macro_vix9d_vix"] = np.log(closes["VIX9D"] / vix)
    out["macro_vix_vix3m"] = np.log(vix / closes["VIX3M"])
    return finish(out, index)
