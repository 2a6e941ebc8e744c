"""Backtesting one window: the engine over a market cut at the window's end, and the buy-and-hold baseline."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from experiments.runs.pipeline import engine_config, truncated
from experiments.spec.model import ExperimentSpec
from trader.broker.sim import SimBroker
from trader.clock import BarClock
from trader.engine import Engine, EngineResult
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.strategies.base import BarSeries


def evaluate(spec: ExperimentSpec, market: Market, start: int, end: int, strategy: Any,
             series: BarSeries | None = None, exit_model: Any = None,
             progress: Callable[[int], None] | None = None) -> EngineResult:
    """Run the engine over bars [start, end) of a market that holds nothing after `end`."""
    view = truncated(market, end)
    clock = BarClock(view.bars.index, start)
    feed = ReplayFeed(view, clock)
    cfg = engine_config(spec)
    broker = SimBroker(feed, cfg.costs, cfg.initial_balance)
    engine = Engine(feed, broker, strategy, cfg, series=series, exit_model=exit_model)
    return engine.run(start, end, progress=progress)


def buy_and_hold(market: Market, start: int, end: int, initial: float) -> dict[str, Any]:
    """The underlying bought at the window's first close and held to its last."""
    close = market.bars["close"].iloc[start:end]
    if len(close) < 2:
        return {"pnl_pct": 0.0, "sharpe": None}
    daily = close.groupby(close.index.date).last()
    rets = daily.pct_change().dropna()
    sharpe = float(rets.mean() / rets.std() * np.sqrt(252)) if len(rets) > 1 and rets.std() > 0 else None
    pnl_pct = float(close.iloc[-1] / close.iloc[0] - 1.0) * 100.0
    return {"pnl_pct": pnl_pct, "pnl": initial * pnl_pct / 100.0, "sharpe": sharpe}
