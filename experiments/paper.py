"""Paper trading: the promoted run's exact pipeline through the one engine, against a Tradier account.

Each bar: the clock moves to the bar, the per-bar arrays are recomputed on the bars received so far (they are
causal, so the row of the new bar equals the backtest's), the kill switches are checked, and the engine takes
fills, runs the exit layers and lets the strategy decide; orders go to Tradier through `TradierBroker`, quotes come
from `TradierQuoter`. Every decision, order, fill and kill-switch event goes to `journal.jsonl`; the positions and
the bar reached go to `state.json` (atomically) after every bar, so a restart resumes and reconciles with the
broker, which is the truth for what is held.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from experiments.backtest import truncated
from experiments.files import append_jsonl, atomic_write_json
from experiments.pipeline import FittedModels, engine_config
from experiments.run_store import write_frame, write_json
from experiments.spec import ExperimentSpec
from trader.broker.tradier_broker import TradierBroker
from trader.broker.tradier_client import TradierClient
from trader.clock import BarClock
from trader.errors import GaussianError
from trader.domain import EntryContext, ExitReason, Intent, Position, trades_frame
from trader.engine import Engine
from trader.feed import ReplayFeed
from trader.market.base import Market
from trader.market.tradier_quoter import TradierQuoter
from trader.metrics import compute_metrics
from trader.options import parse_occ
from trader.strategies.base import BarSeries, Snapshot, Strategy

log = logging.getLogger("gaussian.paper")


class KillSwitches(BaseModel):
    """Limits that stop trading: a daily loss, open positions, orders per minute, and a halt file."""

    model_config = ConfigDict(extra="forbid")

    max_daily_loss: float | None = Field(500.0, gt=0, description="$ below the day's starting equity: close all, stop")
    max_open_positions: int | None = Field(3, ge=1, description="no new entries while this many are open")
    max_orders_per_minute: int | None = Field(10, ge=1, description="no new entries once this many orders went out")
    halt_file: str = Field("HALT", description="if this file exists (relative to the home): close all, stop")


class GuardedStrategy:
    """The run's strategy behind the entry-blocking kill switches."""

    def __init__(self, inner: Strategy, session: PaperSession) -> None:
        self.inner = inner
        self.session = session
        self.name = getattr(inner, "name", "strategy")

    def decide(self, snap: Snapshot) -> list[Intent]:
        """The inner strategy's intents, unless a kill switch blocks entries now."""
        intents = self.inner.decide(snap)
        if not intents:
            return intents
        reason = self.session.entry_block(snap)
        if reason is None:
            return intents
        self.session.journal("blocked", bar=snap.i, reason=reason, intents=len(intents))
        return [i for i in intents if i.action != "open"]

    def on_trade_closed(self, trade: Any) -> None:
        """Pass closed trades on (learning controllers update from them)."""
        self.inner.on_trade_closed(trade)


class PaperSession:
    """One paper-trading session over one venue, persisted under a session directory."""

    def __init__(self, session_dir: Path, home: Path, spec: ExperimentSpec, fitted: FittedModels | None,
                 strategy: Strategy, market: Market, client: TradierClient, kill: KillSwitches,
                 run_id: str = "", advance: Any = None) -> None:
        self.dir = session_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.spec = spec
        self.fitted = fitted
        self.market = market
        self.client = client
        self.kill = kill
        self.run_id = run_id
        self.advance = advance  # callable(i): move a replaying venue to bar i (None for a live venue)
        cfg = replace(engine_config(spec), costs=replace(engine_config(spec).costs, latency_bars=0))
        self.cfg = cfg
        live_view = Market(bars=market.bars, chains=market.chains, truth=None, meta=dict(market.meta),
                           quoter=TradierQuoter(client, spec.trading.symbol))
        self.feed = ReplayFeed(live_view, BarClock(market.bars.index, 0))
        self.broker = TradierBroker(client, cfg.costs, journal=self.journal, run_tag=f"gx{session_dir.name[-6:]}")
        self.engine = Engine(self.feed, self.broker, GuardedStrategy(strategy, self), cfg, series=BarSeries({}))
        self.stopped: str | None = None
        self.day_start_equity: float | None = None
        self.last_bar = -1
        self.equity: list[tuple[pd.Timestamp, float, float, float, int]] = []

    # --------------------------------------------------------------------------------- journal/state
    def journal(self, event: str, **data: Any) -> None:
        """Append one event to journal.jsonl."""
        append_jsonl(self.dir / "journal.jsonl", {"event": event, **data})

    def save_state(self) -> None:
        """Write state.json atomically: the bar reached and the open positions."""
        positions = []
        for p in self.engine.positions.values():
            d = asdict(p)
            d["expiry"] = str(p.expiry)
            d["entry_time"] = str(p.entry_time)
            d["context"] = asdict(p.context)
            positions.append(d)
        atomic_write_json(self.dir / "state.json", {
            "run_id": self.run_id, "bar": self.last_bar, "time": str(self.market.bars.index[self.last_bar])
            if self.last_bar >= 0 else None, "positions": positions, "stopped": self.stopped,
            "next_order": self.engine._next_order, "next_position": self.engine._next_position,  # noqa: SLF001
            "day_start_equity": self.day_start_equity,
        })

    def resume(self) -> int:
        """Load state.json and reconcile its positions with the broker's; returns the next bar to process."""
        path = self.dir / "state.json"
        if not path.exists():
            return -1
        state = json.loads(path.read_text())
        self.engine._next_order = int(state["next_order"])  # noqa: SLF001
        self.engine._next_position = int(state["next_position"])  # noqa: SLF001
        self.day_start_equity = state.get("day_start_equity")
        mine = {p["symbol"]: p for p in state["positions"]}
        held = {p.symbol: int(round(p.quantity)) for p in self.client.positions() if p.quantity > 0}
        for symbol, p in mine.items():
            if symbol not in held:
                self.journal("reconcile", symbol=symbol, action="dropped", note="not held at the broker")
                continue
            ctx = EntryContext(**{**p["context"], "signals": tuple(p["context"]["signals"])})
            pos = Position(**{**p, "expiry": dt.date.fromisoformat(p["expiry"]),
                              "entry_time": pd.Timestamp(p["entry_time"]), "context": ctx, "closing": False})
            if pos.contracts != held[symbol]:
                self.journal("reconcile", symbol=symbol, action="resized", state=pos.contracts, broker=held[symbol])
                pos.contracts = held[symbol]
            self.engine.positions[pos.position_id] = pos
        for symbol, qty in held.items():
            if symbol in mine:
                continue
            c = parse_occ(symbol)
            pid = self.engine._next_position  # noqa: SLF001
            self.engine._next_position += 1  # noqa: SLF001
            self.engine.positions[pid] = Position(
                position_id=pid, symbol=symbol, right=c.right, strike=c.strike, expiry=c.expiry, contracts=qty,
                entry_price=0.0, entry_time=self.market.bars.index[max(0, int(state["bar"]))], entry_fees=0.0,
                context=EntryContext(strategy="reconciled", direction=1 if c.right == "C" else -1))
            self.journal("reconcile", symbol=symbol, action="adopted", contracts=qty,
                         note="held at the broker but not in the saved state")
        self.last_bar = int(state["bar"])
        self.stopped = state.get("stopped")
        return self.last_bar + 1

    # ----------------------------------------------------------------------------------- kill switches
    def entry_block(self, snap: Snapshot) -> str | None:
        """Why entries are blocked at this bar, or None."""
        k = self.kill
        if self.stopped:
            return self.stopped
        if k.max_open_positions is not None and len(snap.positions) + snap.pending_opens >= k.max_open_positions:
            return f"max_open_positions {k.max_open_positions}"
        if k.max_orders_per_minute is not None:
            since = snap.time - pd.Timedelta(minutes=1)
            recent = sum(1 for t in self.broker.orders_sent if t > since)
            if recent >= k.max_orders_per_minute:
                return f"max_orders_per_minute {k.max_orders_per_minute}"
        return None

    def _check_stop(self, i: int) -> str | None:
        k = self.kill
        if (self.home / k.halt_file).exists():
            return f"halt file {k.halt_file} present"
        if k.max_daily_loss is not None and self.day_start_equity is not None:
            equity = self.broker.cash() + self.engine._open_value()  # noqa: SLF001
            if self.day_start_equity - equity >= k.max_daily_loss:
                return f"max_daily_loss {k.max_daily_loss:.2f} reached ({equity - self.day_start_equity:.2f})"
        return None

    # --------------------------------------------------------------------------------------- the loop
    def _arrays(self, i: int) -> None:
        if self.fitted is None:
            return
        view = truncated(self.market, i + 1)
        arrays = self.fitted.arrays(view, start=max(0, i - self.spec.model.window - 1))
        series = BarSeries(arrays)
        self.engine.series = series

    def step(self, i: int) -> None:
        """Process bar i (the venue must already be at bar i)."""
        if self.day_start_equity is None:
            self.day_start_equity = self.broker.cash() + self.engine._open_value()  # noqa: SLF001
        self._arrays(i)
        before = len(self.engine.decisions)
        reason = None if self.stopped else self._check_stop(i)
        if reason:
            self.stopped = reason
            self.engine.prepare(i)
            self.engine.close_all(i, ExitReason.KILL_SWITCH)
            self.journal("kill_switch", bar=i, reason=reason)
        elif self.stopped:
            self.engine.prepare(i)
        else:
            self.engine.step(i)
        for d in self.engine.decisions[before:]:
            self.journal("decision", **d)
        self.last_bar = i
        value = self.engine._open_value()  # noqa: SLF001
        cash = self.broker.cash()
        self.equity.append((self.market.bars.index[i], cash + value, cash, value, len(self.engine.positions)))
        self.save_state()

    def run(self, start: int, end: int) -> dict[str, Any]:
        """Process bars [start, end) and write the end-of-day files; returns the session's metrics."""
        self.journal("session", action="start", run_id=self.run_id, start=str(self.market.bars.index[start]))
        for i in range(start, end):
            if self.advance is not None:
                self.advance(i)
            self.step(i)
        return self.end_of_day()

    def end_of_day(self) -> dict[str, Any]:
        """Write trades, equity, metrics (split "paper") and the analysis of the session."""
        eq = pd.DataFrame(self.equity, columns=["timestamp", "equity", "cash", "open_value", "n_open"])
        eq = eq.set_index("timestamp")
        trades = trades_frame(self.engine.trades)
        initial = float(self.day_start_equity or self.spec.trading.initial_balance)
        metrics = compute_metrics(trades, eq, initial) if len(eq) else {}
        window = {"start": str(eq.index[0]), "end": str(eq.index[-1]), "bars": len(eq)} if len(eq) else {}
        write_frame(self.dir / "trades.parquet", trades)
        write_frame(self.dir / "equity.parquet", eq)
        write_json(self.dir / "spec.json", {"hash": "", "spec": self.spec.model_dump(mode="json"),
                                            "run_id": self.run_id})
        write_json(self.dir / "metrics.json", {
            "run_id": self.dir.name, "split": "paper", "window": window, "metrics": metrics,
            "baselines": {"buy_and_hold": {}, "random_entry": {}}, "stopped": self.stopped,
            "decisions": len(self.engine.decisions)})
        self.journal("session", action="end", trades=len(trades), stopped=self.stopped)
        if len(eq):
            from analysis.report import analyze_run

            try:
                analyze_run(self.dir)
            except GaussianError as exc:  # the session's files stand without the report
                self.journal("analysis_failed", error=str(exc))
                log.error("end-of-day analysis failed: %s", exc)
        return metrics


def decisions_of(session_dir: Path) -> list[dict]:
    """The decision events of a session's journal."""
    path = session_dir / "journal.jsonl"
    if not path.exists():
        return []
    return [e for e in map(json.loads, path.read_text().splitlines()) if e.get("event") == "decision"]


def session_bounds(market: Market, day: dt.date | None) -> tuple[int, int]:
    """Bar range of one session (default: the last session of the data)."""
    dates = np.array(market.bars.index.date)
    day = day or dates[-1]
    idx = np.flatnonzero(dates == day)
    if len(idx) == 0:
        from trader.errors import DataError

        raise DataError(f"no bars on {day} in this market")
    return int(idx[0]), int(idx[-1]) + 1
