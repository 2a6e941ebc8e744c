"""The consensus entry controller: trade when enough signals agree, confidently enough, and none vetoes."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from trader.domain import EntryContext, Intent
from trader.signals import PASS, SIGNAL_NAMES, VETO
from trader.strategies.base import Snapshot


@dataclass(frozen=True)
class ConsensusConfig:
    """How many signals must agree, how confident the weighted vote must be, and each signal's weight."""

    min_signals_to_trade: int = 5
    min_weighted_confidence: float = 0.55
    weights: dict[str, float] = field(default_factory=dict)
    blocked_signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The controller's reading of one bar."""

    direction: int
    agreeing: tuple[str, ...]
    confidence: float
    vetoed_by: tuple[str, ...]
    trade: bool


def regime_context(series, i: int) -> dict:
    """The regime at bar i (most probable forward-filtered state per axis), when a regime model is present."""
    if "regime_trend" not in series:
        return {}
    axes = [int(series.at(f"regime_{a}", i)) for a in ("trend", "volatility", "liquidity")]
    return {"regime": axes[0] * 9 + axes[1] * 3 + axes[2], "regime_trend": axes[0],
            "regime_volatility": axes[1], "regime_liquidity": axes[2]}


class ConsensusController:
    """Reads the eight signals at the current bar and enters in the direction the passing signals agree on.

    Direction: the sign of the weighted sum of the passing directional signals. A passing signal agrees when its
    direction matches or it is a filter (no direction). Weighted confidence: the weighted mean strength of the
    agreeing signals (over their own weights), so it measures how strongly they agree, while
    `min_signals_to_trade` alone says how many must: dividing by every active signal's weight instead tied the
    two together, so that at the default 0.55 no count below six could ever bind. Any veto blocks the bar.
    """

    name = "consensus"

    def __init__(self, config: ConsensusConfig, horizon: int | None = None) -> None:
        self.cfg = config
        self.active = [s for s in SIGNAL_NAMES if s not in config.blocked_signals]
        self.weights = {s: float(config.weights.get(s, 1.0)) for s in self.active}
        self.horizon = horizon

    def verdict(self, snap: Snapshot) -> Verdict:
        """The consensus at the snapshot's bar."""
        series = snap.series
        status = {s: int(series.at(f"sig_{s}_status")) for s in self.active}
        dirs = {s: int(series.at(f"sig_{s}_dir")) for s in self.active}
        strength = {s: float(series.at(f"sig_{s}_strength")) for s in self.active}
        vetoes = tuple(s for s in self.active if status[s] == VETO)
        passing = [s for s in self.active if status[s] == PASS]
        vote = sum(self.weights[s] * strength[s] * dirs[s] for s in passing)
        direction = int(np.sign(vote))
        agreeing = tuple(s for s in passing if direction != 0 and dirs[s] in (0, direction))
        total = sum(self.weights[s] for s in agreeing)
        confidence = sum(self.weights[s] * strength[s] for s in agreeing) / total if total > 0 else 0.0
        trade = (not vetoes and direction != 0 and len(agreeing) >= self.cfg.min_signals_to_trade
                 and confidence >= self.cfg.min_weighted_confidence)
        return Verdict(direction, agreeing, confidence, vetoes, trade)

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Open one position in the agreed direction when the consensus holds."""
        v = self.verdict(snap)
        if not v.trade:
            return []
        extra = regime_context(snap.series, snap.i)
        pred = {}
        if self.horizon is not None and f"pred_mean_{self.horizon}" in snap.series:
            pred = {"predicted_return": float(snap.series.at(f"pred_mean_{self.horizon}")),
                    "predicted_std": float(snap.series.at(f"pred_total_std_{self.horizon}"))}
        ctx = EntryContext(strategy=self.name, direction=v.direction, confidence=v.confidence,
                           signals=v.agreeing, **extra, **pred)
        return [Intent("open", direction=v.direction, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """Consensus does not learn online."""
