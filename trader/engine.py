"""The one decision engine: the same loop drives backtests, paper and live trading; only the ports differ.

Each bar: fills due at this bar arrive, expiring options settle, open positions are marked and checked by the
exit layers (hard rules, then an optional model), the strategy decides from a snapshot that holds only what is
known at the bar, and the equity is recorded.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from trader.broker.base import CostModel
from trader.clock import BarClock
from trader.domain import EntryContext, ExitReason, Fill, Intent, Order, Position, Side, Trade
from trader.exit_rules import ExitTrigger, HardExitRules, exit_trigger
from trader.feed import ReplayFeed, Stamps
from trader.market.base import MissingQuoteError
from trader.market.calendar import session_close_times
from trader.options import expiry_close, occ_symbol
from trader.selection import choose_contract
from trader.strategies.base import BarSeries, Snapshot, Strategy


@dataclass(frozen=True)
class EngineConfig:
    """Account, sizing, contract selection and exit settings of one engine run."""

    rules: HardExitRules = field(default_factory=HardExitRules)
    costs: CostModel = field(default_factory=CostModel)
    initial_balance: float = 5000.0
    max_positions: int = 3
    sizing: str = "fixed"  # fixed | fraction
    contracts: int = 1
    equity_fraction: float = 0.05
    max_contracts: int = 10
    min_dte: int = 0
    max_dte: int = 2
    selection: str = "delta"  # delta | moneyness
    target_delta: float = 0.5
    moneyness: float = 0.0
    cooldown_bars: int = 5  # bars skipped after an entry's bar (0: the very next bar may enter)
    interval_minutes: int = 1
    symbol: str = "SPY"


class ExitModel(Protocol):
    """Exit layer 2: consulted for every held position the hard rules kept."""

    def should_exit(self, pos: Position, quote: Any, i: int, held_minutes: float, minutes_to_expiry: float) -> bool:
        """True to close the position now."""
        ...


@dataclass
class EngineResult:
    """What a run produced: closed trades, the per-bar equity curve, rejected orders and the decision log."""

    trades: list[Trade]
    equity: pd.DataFrame
    rejected: list[Order]
    decisions: list[dict]
    fees: float


class _BarSnapshot(Snapshot):
    """The engine's snapshot: reads the account, positions and closes from the engine when a strategy asks (nothing
    changes while it decides), so a bar where the strategy reads little costs little."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine, i: int) -> None:  # every other field is read lazily
        self.i = i
        self.series = engine.series
        self._engine = engine
        self._feed = engine.feed
        self._time = None
        self._extra = None

    @property
    def closes(self) -> np.ndarray:  # type: ignore[override]
        return self._feed._close[: self.i + 1]

    @property
    def positions(self) -> tuple[Position, ...]:  # type: ignore[override]
        return tuple(self._engine.positions.values())

    @property
    def cash(self) -> float:  # type: ignore[override]
        return self._engine.broker.cash()

    @property
    def equity(self) -> float:  # type: ignore[override]
        return self._engine.broker.cash() + self._engine._open_value()

    @property
    def minutes_to_close(self) -> float:  # type: ignore[override]
        return self._engine._to_close[self.i]

    @property
    def pending_opens(self) -> int:  # type: ignore[override]
        return self._engine._pending_opens


class Engine:
    """Runs a strategy bar by bar over a feed with a broker, applying the layered exits."""

    def __init__(
        self,
        feed: ReplayFeed,
        broker: Any,
        strategy: Strategy,
        config: EngineConfig,
        series: BarSeries | None = None,
        exit_model: ExitModel | None = None,
    ) -> None:
        self.feed = feed
        self.clock: BarClock = feed.clock  # type: ignore[assignment]
        self.broker = broker
        self.strategy = strategy
        self.cfg = config
        self.series = series or BarSeries({})
        self.exit_model = exit_model
        self.positions: dict[int, Position] = {}
        self.trades: list[Trade] = []
        self.decisions: list[dict] = []
        self._orders: dict[int, tuple[Order, Any]] = {}  # order id -> (order, payload)
        self._next_order = 1
        self._next_position = 1
        self._last_entry_bar = -10**9
        self._pending_opens = 0
        self._daily = config.interval_minutes >= 390
        self._rules = config.rules
        if self._daily and self._rules.flat_by_eod:
            # A daily bar spans the whole session: "flat by end of day" would close every position at once.
            from dataclasses import replace

            self._rules = replace(self._rules, flat_by_eod=False)
        self._precompute(feed.timestamps)
        # no entry this close to the flat-by-end-of-day exit: its fill would come after it
        self._entry_lead = self._rules.eod_minutes_before_close + config.interval_minutes * (
            config.costs.latency_bars + 1)
        self._expiry_ns: dict[Any, int] = {}
        self._triggers: dict[int, ExitTrigger] = {}  # position id -> where its hard rules can first fire
        self._soonest_expiry: Any = None  # of the open positions; None: to be found again
        eod = self._rules.eod_minutes_before_close
        self._eod_at: list[bool] = [self._rules.flat_by_eod and m <= eod for m in self._to_close]

    def _precompute(self, stamps: pd.DatetimeIndex) -> None:
        """The per-bar clock figures, computed once from the timestamps with numpy (no object per bar): the
        bar's end in ns, its session date and the minutes from its end to the session's close (0 on daily bars).
        A live feed knows its session's timestamps ahead, so paper and live trading read the same arrays."""
        self._bar_delta = pd.Timedelta(minutes=self.cfg.interval_minutes)
        ends = stamps + self._bar_delta
        self._ends = Stamps(ends)  # boxed one at a time, only for fills and trades
        end_ns = ends.as_unit("ns").asi8
        wall = stamps.tz_localize(None) if stamps.tz is not None else stamps
        day = wall.as_unit("ns").asi8 // 86_400_000_000_000
        days, first, inverse = np.unique(day, return_index=True, return_inverse=True)
        dates = np.empty(len(days), dtype=object)
        dates[:] = list(wall[first].date)
        self._session: list = dates[inverse].tolist()
        closes = session_close_times(list(dates))
        close_at = [closes.get(d, pd.NaT) for d in dates]
        known = np.array([c is not pd.NaT for c in close_at], dtype=bool)
        close_ns = np.array([c.value if c is not pd.NaT else 0 for c in close_at], dtype=np.int64)
        to_close = np.where(known[inverse], (close_ns[inverse] - end_ns) / 1e9 / 60.0, 0.0)
        if self._daily:
            to_close[:] = 0.0
        self._end_ns: list[int] = end_ns.tolist()
        self._to_close: list[float] = to_close.tolist()

    def _end(self, i: int) -> pd.Timestamp:
        """Bar i's end: when its fills and exits happen."""
        return self._ends[i]

    def _expiry_close_ns(self, expiry: Any) -> int:
        """16:00 New York on an expiry date in ns, cached per date."""
        ns = self._expiry_ns.get(expiry)
        if ns is None:
            ns = self._expiry_ns[expiry] = expiry_close(expiry).value
        return ns

    # ------------------------------------------------------------------------------------------ run
    def run(self, start: int, end: int, progress: Callable[[int], None] | None = None,
            close_at_end: bool = True) -> EngineResult:
        """Evaluate bars [start, end) and return trades and the equity curve."""
        n = max(0, end - start)
        eq: list[float] = []
        cash: list[float] = []
        open_value: list[float] = []
        n_open: list[int] = []
        broker_cash = self.broker.cash
        for k, i in enumerate(range(start, end)):
            self.prepare(i)
            self._decide(i)
            value = self._open_value()
            c = broker_cash()
            cash.append(c)
            open_value.append(value)
            eq.append(c + value)
            n_open.append(len(self.positions))
            if progress is not None and (k % 500 == 0 or k == n - 1):
                progress(k + 1)
        if close_at_end and n > 0:
            self.close_all(end - 1, ExitReason.END_OF_DATA)
            eq[-1] = self.broker.cash() + self._open_value()
            cash[-1] = self.broker.cash()
            open_value[-1] = self._open_value()
            n_open[-1] = len(self.positions)
        index = self.feed.timestamps[start:end]
        equity = pd.DataFrame(
            {"equity": np.array(eq, dtype=float), "cash": np.array(cash, dtype=float),
             "open_value": np.array(open_value, dtype=float), "n_open": np.array(n_open, dtype=np.int32)},
            index=index,
        )
        equity.index.name = "timestamp"
        fees = float(getattr(self.broker, "fees_paid", 0.0))
        return EngineResult(self.trades, equity, list(getattr(self.broker, "rejected", [])), self.decisions, fees)

    def step(self, i: int) -> list[Intent]:
        """Process one bar: fills, expiry, marks and exits, then the strategy's decision."""
        self.prepare(i)
        return self._decide(i)

    def prepare(self, i: int) -> None:
        """The first half of a bar: move the clock, take fills, settle expiries, mark and run the exit layers."""
        self.clock.advance_to(i)
        self.series.now = i
        if self._orders:
            self.take_fills(i)
        if self.positions:
            self._settle_expiring(i)
            self._mark_and_exit(i)

    def decide(self, i: int) -> list[Intent]:
        """The second half of a bar (after `prepare`): the strategy decides and its intents become orders."""
        return self._decide(i)

    def snapshot(self, i: int) -> Snapshot:
        """What a strategy may know at bar i (each field read from the engine or the feed when asked for)."""
        return _BarSnapshot(self, i)

    # ------------------------------------------------------------------------------------- exits
    def _mark_and_exit(self, i: int) -> None:
        """Mark every held position at bar i and run the exit layers. Without an exit model a position's hard
        rules run only at bars that cross its trigger (see ExitTrigger), which decides nothing by itself."""
        if not self.positions:
            return
        end = self._end_ns[i]
        to_close = self._to_close[i]
        eod = self._eod_at[i]
        check = self._rules.check
        exit_model = self.exit_model
        triggers = self._triggers
        feed = self.feed
        mark = feed.marker() if exit_model is None else None
        marks: dict[str, float] = {}  # positions in one contract (symbol) share its mark
        for pos in list(self.positions.values()):
            q = None
            try:
                if mark is None:
                    q = feed.quote(pos.expiry, pos.strike, pos.right)
                    mid = q.mid
                else:
                    mid = marks.get(pos.symbol)
                    if mid is None:
                        mid = marks[pos.symbol] = mark(pos.expiry, pos.strike, pos.right)
            except MissingQuoteError:
                continue
            pos.last_mark = mid
            pos.peak_price = max(pos.peak_price, mid)
            if pos.closing:
                continue
            if exit_model is None:
                t = triggers.get(pos.position_id)
                if t is None:
                    t = triggers[pos.position_id] = exit_trigger(self._rules, pos, self._expiry_close_ns(pos.expiry))
                if not (eod or end >= t.time_ns or mid <= t.stop_mark or mid >= t.take_mark
                        or pos.peak_price >= t.trail_peak):
                    continue
            expiry_end = self._expiry_close_ns(pos.expiry)
            held = (end - pos.entry_time.value) / 1e9 / 60.0
            to_expiry = (expiry_end - end) / 1e9 / 60.0
            reason = check(pos, mid, held, to_close, to_expiry)
            if reason is None and exit_model is not None and exit_model.should_exit(pos, q, i, held, to_expiry):
                reason = ExitReason.MODEL_EXIT
            if reason is not None:
                self._submit_close(pos, reason, i)

    def _settle_expiring(self, i: int) -> None:
        if not self.positions:
            return
        today = self._session[i]
        if self._soonest_expiry is None:
            self._soonest_expiry = min(p.expiry for p in self.positions.values())
        if self._soonest_expiry > today:
            return  # nothing expires today
        for pos in list(self.positions.values()):
            if pos.expiry > today:
                continue
            last_bar = self._to_close[i] <= 0.0
            if pos.expiry < today or (pos.expiry == today and last_bar and not self._daily) or (
                self._daily and pos.expiry <= today
            ):
                spot = float(self.feed._close[i])
                intrinsic = max(0.0, spot - pos.strike) if pos.right == "C" else max(0.0, pos.strike - spot)
                self.broker.settle(pos.contracts, intrinsic)
                self._cancel_pending_close(pos.position_id)
                reason = ExitReason.EXPIRY_ITM if intrinsic > 0 else ExitReason.EXPIRY_OTM
                self._close_trade(pos, intrinsic, 0.0, self._end(i), reason)

    def close_all(self, i: int, reason: ExitReason) -> None:
        """Close every open position at the current bid immediately (end of data, kill switch)."""
        for pos in list(self.positions.values()):
            self._cancel_pending_close(pos.position_id)
            try:
                q = self.feed.quote(pos.expiry, pos.strike, pos.right)
                price = max(0.0, q.bid)
            except MissingQuoteError:
                price = max(0.0, pos.last_mark)
            fees = self.broker.liquidate(pos.contracts, price, symbol=pos.symbol)
            self._close_trade(pos, price, fees, self._end(i), reason)

    # ---------------------------------------------------------------------------------- decisions
    def _decide(self, i: int) -> list[Intent]:
        intents = self.strategy.decide(self.snapshot(i))
        acted = self._act(intents, i) if intents else intents
        if self.cfg.costs.latency_bars == 0 and self._orders:
            self.take_fills(i)  # zero latency: orders of this bar fill at this bar's quote
        return acted

    def take_fills(self, i: int) -> None:
        """Ask the broker for fills and rejections up to bar i and book them."""
        fills, rejects = self.broker.poll(i)
        for f in fills:
            self._on_fill(f, i)
        for r in rejects:
            self._on_reject(r)

    def _act(self, intents: list[Intent], i: int) -> list[Intent]:
        acted = []
        for intent in intents:
            if intent.action == "close" and intent.position_id in self.positions:
                pos = self.positions[intent.position_id]
                if not pos.closing:
                    self._submit_close(pos, intent.reason or ExitReason.MODEL_EXIT, i)
                    acted.append(intent)
            elif intent.action == "open" and self._may_open(i) and self._submit_open(intent, i):
                acted.append(intent)
        if acted:
            self.decisions.append(
                {"bar": i, "time": str(self.feed.stamp(i)),
                 "intents": [(a.action, a.direction, a.position_id) for a in acted]}
            )
        return acted

    def _may_open(self, i: int) -> bool:
        if len(self.positions) + self._pending_opens >= self.cfg.max_positions:
            return False
        if i - self._last_entry_bar <= self.cfg.cooldown_bars:
            return False
        return not (self._rules.flat_by_eod and self._to_close[i] <= self._entry_lead)

    def _submit_open(self, intent: Intent, i: int) -> bool:
        right = "C" if intent.direction > 0 else "P"
        spot = float(self.feed._close[i])
        c = self.cfg
        choice = choose_contract(
            self.feed.quoter(), self.feed.source_bar(i), self._session[i], right, spot, c.min_dte, c.max_dte,
            target_delta=c.target_delta if c.selection == "delta" else None,
            moneyness=c.moneyness if c.selection == "moneyness" else None,
        )
        if choice is None:
            return False
        ask = choice.quote.ask
        if c.sizing == "fraction":
            equity = self.broker.cash() + self._open_value()
            contracts = int(c.equity_fraction * equity // (ask * 100.0)) if ask > 0 else 0
        else:
            contracts = c.contracts
        contracts = min(contracts, c.max_contracts)
        if contracts < 1:
            return False
        symbol = occ_symbol(c.symbol, choice.expiry, right, choice.strike)
        order = Order(self._next_order, symbol, Side.BUY_TO_OPEN, contracts, self.feed.stamp(i),
                      tag=f"open-{self._next_order}")
        self._next_order += 1
        context = intent.context or EntryContext(strategy=getattr(self.strategy, "name", "?"),
                                                 direction=intent.direction)
        meta = {"right": right, "strike": choice.strike, "expiry": choice.expiry, "context": context, "spot": spot,
                "iv": choice.quote.iv, "dte": choice.dte}
        self._orders[order.order_id] = (order, meta)
        self.broker.submit(order, i)
        self._pending_opens += 1
        self._last_entry_bar = i
        return True

    def _submit_close(self, pos: Position, reason: ExitReason, i: int) -> None:
        order = Order(self._next_order, pos.symbol, Side.SELL_TO_CLOSE, pos.contracts, self.feed.stamp(i),
                      tag=f"close-{self._next_order}")
        self._next_order += 1
        self._orders[order.order_id] = (order, {"position_id": pos.position_id, "reason": reason})
        pos.closing = True
        self.broker.submit(order, i)

    def _cancel_pending_close(self, position_id: int) -> None:
        for oid, (order, meta) in list(self._orders.items()):
            if order.side is Side.SELL_TO_CLOSE and meta.get("position_id") == position_id:
                self.broker.cancel(oid)
                del self._orders[oid]

    # -------------------------------------------------------------------------------- bookkeeping
    def _on_fill(self, fill: Fill, i: int) -> None:
        _order, meta = self._orders.pop(fill.order_id)
        when = self._end(i)
        if fill.side is Side.BUY_TO_OPEN:
            self._pending_opens -= 1
            pos = Position(
                position_id=self._next_position, symbol=fill.symbol, right=meta["right"], strike=meta["strike"],
                expiry=meta["expiry"], contracts=fill.contracts, entry_price=fill.price, entry_time=when,
                entry_fees=fill.fees, context=meta["context"], entry_underlying=meta["spot"],
                entry_iv=meta["iv"], entry_dte=meta["dte"], peak_price=fill.price, last_mark=fill.price,
                entry_bar=i,
            )
            self._next_position += 1
            self.positions[pos.position_id] = pos
            self._soonest_expiry = None
        else:
            pos = self.positions.get(meta["position_id"])
            if pos is not None:
                self._close_trade(pos, fill.price, fill.fees, when, meta["reason"])

    def _on_reject(self, order: Order) -> None:
        _, meta = self._orders.pop(order.order_id, (None, {}))
        if order.side is Side.BUY_TO_OPEN:
            self._pending_opens -= 1
        elif "position_id" in meta and meta["position_id"] in self.positions:
            self.positions[meta["position_id"]].closing = False

    def _close_trade(self, pos: Position, price: float, exit_fees: float, when: pd.Timestamp,
                     reason: ExitReason) -> None:
        self.positions.pop(pos.position_id, None)
        self._triggers.pop(pos.position_id, None)
        self._soonest_expiry = None
        fees = pos.entry_fees + exit_fees
        cost = pos.entry_price * 100.0 * pos.contracts
        pnl = (price - pos.entry_price) * 100.0 * pos.contracts - fees
        sign = 1.0 if pos.right == "C" else -1.0
        moneyness = sign * math.log(pos.strike / pos.entry_underlying) if pos.entry_underlying > 0 else 0.0
        c = pos.context
        trade = Trade(
            trade_id=len(self.trades) + 1, symbol=pos.symbol, right=pos.right, strike=pos.strike,
            expiry=pos.expiry, contracts=pos.contracts, entry_time=pos.entry_time, exit_time=when,
            entry_price=pos.entry_price, exit_price=price, fees=fees, pnl=pnl,
            pnl_pct=pnl / (cost + pos.entry_fees) * 100.0 if cost + pos.entry_fees > 0 else 0.0,
            exit_reason=reason, hold_minutes=(when - pos.entry_time).total_seconds() / 60.0,
            strategy=c.strategy, direction=c.direction, confidence=c.confidence, regime=c.regime,
            regime_trend=c.regime_trend, regime_volatility=c.regime_volatility,
            regime_liquidity=c.regime_liquidity, signals=c.signals, entry_underlying=pos.entry_underlying,
            entry_iv=pos.entry_iv, entry_dte=pos.entry_dte, moneyness=moneyness,
            predicted_return=c.predicted_return, predicted_std=c.predicted_std,
        )
        self.trades.append(trade)
        self.strategy.on_trade_closed(trade)

    def _open_value(self) -> float:
        if not self.positions:
            return 0
        return sum(p.last_mark * 100.0 * p.contracts for p in self.positions.values())

    def open_value(self) -> float:
        """Open positions at their last marks (mid), in dollars."""
        return self._open_value()

    # ------------------------------------------------------------------------------------ restarts
    def bookkeeping(self) -> dict[str, Any]:
        """What a restart needs besides the positions: the counters, the last entry bar and working orders."""
        return {"next_order": self._next_order, "next_position": self._next_position,
                "last_entry_bar": self._last_entry_bar,
                "working": [(order, dict(meta)) for order, meta in self._orders.values()]}

    def working_order(self, order_id: int) -> tuple[Order, dict] | None:
        """A working order and the engine's note about it (what a restart needs to take it over)."""
        return self._orders.get(order_id)

    def restore(self, positions: list[Position], working: list[tuple[Order, dict]], next_order: int,
                next_position: int, last_entry_bar: int) -> None:
        """Resume from saved bookkeeping (paper/live restarts): positions, working orders and counters."""
        self.positions = {p.position_id: p for p in positions}
        self._triggers = {}
        self._soonest_expiry = None
        self._orders = {o.order_id: (o, meta) for o, meta in working}
        self._pending_opens = sum(1 for o, _ in working if o.side is Side.BUY_TO_OPEN)
        self._next_order = max([next_order, *(o.order_id + 1 for o, _ in working)])
        self._next_position = max([next_position, *(p.position_id + 1 for p in positions)])
        self._last_entry_bar = last_entry_bar

