"""Shared pieces of the paper-trading tests: a two-session synthetic market, specs, and session builders."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.paper.guard import PaperLimits
from experiments.paper.session import PaperSession
from experiments.paper.venues import replay_venue
from experiments.spec.io import load_spec
from experiments.spec.model import ExperimentSpec
from trader.broker.tradier_sim import TradierSim
from trader.market.base import Market
from trader.market.synthetic import generate_synthetic

TOKEN = "paper-test-token-7c1e"
ACCOUNT = "VA00000042"
OFF = PaperLimits(max_daily_loss=None, max_open_positions=None, max_orders_per_minute=None)
# Zero latency: the local server fills a market order at the quote of the bar it is sent in, which is the
# backtest with costs.latency_bars=0 (fills at the decision bar's ask/bid).
MOMENTUM = ["entry.type=momentum", "costs.latency_bars=0", "exits.model.enabled=false"]
# Positions that stay open: no stop, target or max hold; flat by the end of the day still applies.
HOLDING = ["entry.type=random", "costs.latency_bars=0", "exits.model.enabled=false", "exits.stop_loss_pct=null",
           "exits.take_profit_pct=null", "exits.max_hold_minutes=null", "exits.trailing_activation_pct=null",
           "splits.embargo_bars=390"]  # a position held to the close: the embargo covers a session


def market() -> Market:
    """Two synthetic sessions of 1-minute bars: the first is history, the second is replayed."""
    return generate_synthetic(sessions=2, seed=4, edge=0.5)


def spec(*overrides: str) -> ExperimentSpec:
    """A spec from the base one with overrides."""
    return load_spec(None, list(overrides))


def local_server(m: Market, s: ExperimentSpec, start: int) -> TradierSim:
    """A started local Tradier server whose commission equals the spec's costs (so cash matches a backtest)."""
    c = s.costs
    return TradierSim(m, token=TOKEN, account_id=ACCOUNT, cash=s.trading.initial_balance, start_index=start,
                      commission_per_contract=c.commission_per_contract + c.fees_per_contract,
                      rate_limit=10**9).start()


def session(tmp: Path, m: Market, s: ExperimentSpec, strategy: Any, sim: TradierSim, limits: PaperLimits = OFF,
            name: str = "s1", broker: str = "tradier", **kwargs: Any) -> PaperSession:
    """A paper session replaying the market's last session against `sim`."""
    venue, feed, _ = replay_venue(m, s, sim=sim, token=TOKEN, broker=broker)
    return PaperSession(tmp / "paper" / name, tmp, s, strategy, feed, venue, limits, **kwargs)


def drive(p: PaperSession, bars: int, before: Any = None) -> None:
    """Process the next `bars` bars of a session by hand (`before(i)` runs before each)."""
    p.catch_up(p.feed.first_session_bar)
    start = p.last_bar + 1
    for i in range(start, start + bars):
        if before is not None:
            before(i)
        p.receive(i)
        p.step(i)


def decisions(p: PaperSession) -> list[tuple[int, list[list[Any]]]]:
    """(bar, intents) of every journaled decision."""
    return [(e["bar"], [list(x) for x in e["intents"]]) for e in p.journal.events("decision")]
