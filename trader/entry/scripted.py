"""Simulated outcomes of entering at chosen bars, through the engine itself (same fills, costs and exits)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.domain import EntryContext, ExitReason, Intent
from trader.engine import Engine, EngineConfig, ExitModel
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.strategies.base import BarSeries, Snapshot


class ScriptedEntries:
    """Opens one contract in a fixed direction at each listed bar; tags each trade with its decision bar."""

    name = "scripted"

    def __init__(self, bars: set[int], direction: int) -> None:
        self.bars = bars
        self.direction = direction

    def decide(self, snap: Snapshot) -> list[Intent]:
        """Open at the scripted bars only."""
        if snap.i not in self.bars:
            return []
        ctx = EntryContext(strategy=f"scripted:{snap.i}", direction=self.direction)
        return [Intent("open", direction=self.direction, context=ctx)]

    def on_trade_closed(self, trade: object) -> None:
        """Nothing to learn."""


def simulate_entries(market: Market, start: int, end: int, config: EngineConfig, series: BarSeries,
                     bars: np.ndarray, direction: int, exit_model: ExitModel | None = None) -> dict[int, float]:
    """Net P&L ($, one contract) of entering `direction` at each bar, run through the engine over [start, end) of a
    market that holds nothing after `end`; entries whose trade had not closed by `end` get no label.

    All entries share one engine run with the position cap, cooldown and cash limit lifted; each position's fills,
    marks and exits depend only on its own contract's quotes, so every label equals a one-position run from its bar.
    """
    cfg = replace(config, max_positions=1_000_000, cooldown_bars=0, initial_balance=1e12, sizing="fixed",
                  contracts=1, max_contracts=1)
    clock = BarClock(market.bars.index, start)
    feed = ReplayFeed(market, clock)
    engine = Engine(feed, SimBroker(feed, cfg.costs, cfg.initial_balance),
                    ScriptedEntries({int(b) for b in bars}, direction), cfg, series=series, exit_model=exit_model)
    result = engine.run(start, end)
    out: dict[int, float] = {}
    for t in result.trades:
        if t.exit_reason is ExitReason.END_OF_DATA:
            continue
        out[int(t.strategy.split(":", 1)[1])] = float(t.pnl)
    return out
