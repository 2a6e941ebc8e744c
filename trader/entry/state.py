"""The state vector a learning controller sees at a bar, built from whatever per-bar arrays exist.

Order (fixed, documented): for each of the eight signals `status == pass` x direction x strength, then the count of
vetoes; then, when a predictor is present, P(up) - 0.5, mean / total std and total std (basis points) at each
horizon; then, when a regime model is present, the nine filtered probabilities; last the position and time state
(open positions / max positions, minutes to the close / 390).
"""
from __future__ import annotations

import numpy as np

from trader.signals import PASS, SIGNAL_NAMES, VETO
from trader.strategies.base import BarSeries, Snapshot

AXES = ("trend", "volatility", "liquidity")


def state_names(series: BarSeries) -> list[str]:
    """Names of the state vector's entries for this series."""
    names = [f"sig_{s}" for s in SIGNAL_NAMES] + ["vetoes"]
    for h in _horizons(series):
        names += [f"p_up_{h}", f"z_{h}", f"std_bp_{h}"]
    if "regime_p_trend" in series:
        names += [f"regime_{a}_{k}" for a in AXES for k in range(3)]
    return names + ["open_fraction", "close_fraction"]


def _horizons(series: BarSeries) -> list[int]:
    return sorted(int(n.rsplit("_", 1)[1]) for n in series.names() if n.startswith("pred_p_up_"))


def state_vector(series: BarSeries, i: int, n_open: int, max_positions: int, minutes_to_close: float) -> np.ndarray:
    """The state at bar i (not after the series' now)."""
    out = []
    vetoes = 0
    for s in SIGNAL_NAMES:
        status = int(series.at(f"sig_{s}_status", i))
        vetoes += status == VETO
        passing = float(status == PASS)
        out.append(passing * float(series.at(f"sig_{s}_dir", i)) * float(series.at(f"sig_{s}_strength", i)))
    out.append(float(vetoes))
    for h in _horizons(series):
        p = float(series.at(f"pred_p_up_{h}", i))
        m = float(series.at(f"pred_mean_{h}", i))
        sd = float(series.at(f"pred_total_std_{h}", i))
        out += [p - 0.5, m / sd if sd > 0 else 0.0, sd * 1e4]
    if "regime_p_trend" in series:
        for a in AXES:
            out += [float(x) for x in series.at(f"regime_p_{a}", i)]
    out += [n_open / max(1, max_positions), minutes_to_close / 390.0]
    v = np.nan_to_num(np.asarray(out, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return v


def snapshot_state(snap: Snapshot, max_positions: int) -> np.ndarray:
    """The state vector of a strategy snapshot."""
    return state_vector(snap.series, snap.i, len(snap.positions) + snap.pending_opens, max_positions,
                        snap.minutes_to_close)
