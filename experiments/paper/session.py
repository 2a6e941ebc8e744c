"""Paper trading: the promoted run's exact pipeline through the one engine, one bar at a time, at a venue.

Each bar of the session: the venue delivers the bar (the local Tradier server moved to it, or Tradier's time &
sales once it closed), the per-bar arrays get their new row (`LiveArrays`), the engine takes fills, settles,
marks and runs the exit layers (`Engine.prepare`), the daily-loss switch is checked, then the strategy decides
behind the other kill switches (`Engine.decide`). Orders go through the venue's broker (TradierBroker, or the
SimBroker filling on Tradier quotes). Every decision, order, fill, trade and kill-switch event goes to
journal.jsonl; state.json is rewritten atomically after every bar, so a restart resumes the session and
reconciles it with the broker, which is the truth for what is held. A process killed after a bar's first journal
line but before its state.json leaves a journal tail the saved state does not cover; the restart redoes that bar
and settles the tail first (`settle_tail`): with the SimBroker nothing left the process, so the tail is voided
and the bar redone exactly; with a real broker its orders went out, so they are taken over as working orders
(never sent again) and a latched kill switch stays latched, while a close the broker reports again is one trade
(`trades_from_journal` keeps each position's first). Order ids, hence tags, are never reused, voided or not. At the end the session directory holds
trades.parquet, equity.parquet and metrics.json (split "paper") and the analysis of them (ANALYSIS.md).
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.paper.arrays import LiveArrays
from experiments.paper.exit_binding import LiveExitModel
from experiments.paper.guard import GuardedStrategy, JournalingBroker, KillSwitches, PaperLimits
from experiments.paper.journal import (
    Journal,
    equity_from_journal,
    load_state,
    order_from_json,
    order_to_json,
    position_from_json,
    position_to_json,
    save_state,
    trades_from_journal,
)
from experiments.runs.pipeline import FittedModels, engine_config
from experiments.runs.store import write_frame, write_json
from experiments.spec.model import ExperimentSpec
from trader.broker.sim import SimBroker
from trader.broker.tradier_broker import TradierBroker
from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_errors import TradierError
from trader.domain import EntryContext, ExitReason, Position, Side
from trader.engine import Engine
from trader.errors import DataError, GaussianError, OptionSymbolError
from trader.live_feed import LiveFeed
from trader.metrics import compute_metrics
from trader.options import parse_occ
from trader.strategies.base import Strategy

log = logging.getLogger("gaussian.paper")

# journal events a restart writes itself (not part of an interrupted bar), and the kill switches that latch
_RESTART_EVENTS = frozenset({"session", "resume", "resume_fresh_account", "reconcile", "rollback", "rollforward",
                             "analysis_failed"})
_LATCHED = frozenset({"max_daily_loss", "max_orders_per_minute"})


@contextmanager
def _one_torch_thread():
    """Run torch on one thread: a bar's inference is one small window, and idle worker threads spinning
    between bars only slow the loop (and the local server's thread) down."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Venue:
    """Where a session trades: the Tradier client, how bars arrive, and which broker fills.

    `fetch_bar(i)` returns bar i's values (None when it is not available yet); `before_bar(i)` runs before
    bar i is fetched (the local server moves to it; the wall-clock venues wait until it closed);
    `chains_until(i)` gives the option-chain snapshots taken up to bar i not handed out before;
    `first_live_bar()` is the first bar to decide on in a fresh session (the bars before it have already
    closed: they are received without decisions); None means the session's first bar.
    """

    name: str
    client: TradierClient
    broker: str  # "tradier" or "sim"
    fetch_bar: Callable[[int], dict[str, float] | None]
    before_bar: Callable[[int], None] = lambda i: None
    chains_until: Callable[[int], pd.DataFrame | None] = lambda i: None
    first_live_bar: Callable[[], int | None] = lambda: None
    close: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)
    fresh_account: bool = False  # the broker's account started empty with this process (the replay server)


class PaperSession:
    """One session of the paper loop, persisted under `session_dir` (see the module docstring)."""

    def __init__(self, session_dir: Path, home: Path, spec: ExperimentSpec, strategy: Strategy, feed: LiveFeed,
                 venue: Venue, limits: PaperLimits, *, fitted: FittedModels | None = None, exit_model: Any = None,
                 run_id: str = "", first: int | None = None, arrays_mode: str = "stream") -> None:
        self.dir = Path(session_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home = Path(home)
        self.spec = spec
        self.feed = feed
        self.venue = venue
        self.run_id = run_id
        self.journal = Journal(self.dir / "journal.jsonl")
        self.kills = KillSwitches(limits, self.home, self.journal)
        self.cfg = engine_config(spec)
        if venue.broker == "tradier":
            self.inner: Any = TradierBroker(venue.client, self.cfg.costs, prefix=f"gx-{self.dir.name}",
                                            events=self.journal)
        else:
            self.inner = SimBroker(feed, self.cfg.costs, self.cfg.initial_balance)
        self.broker = JournalingBroker(self.inner, self.journal, self.kills, now=lambda: feed.clock.now())
        self.exit_model = LiveExitModel(exit_model, feed) if exit_model is not None else None
        start = feed.first_session_bar
        first = max(0, start - spec.model.window) if first is None else first
        self.arrays = LiveArrays(fitted, feed, first, arrays_mode)
        self.strategy = GuardedStrategy(strategy, self.kills, self.journal)
        self.engine = Engine(feed, self.broker, self.strategy, self.cfg, series=self.arrays.series,
                             exit_model=self.exit_model)
        self.broker.meta_of = lambda order_id: (self.engine.working_order(order_id) or (None, {}))[1]
        self.last_bar = feed.first_session_bar - 1
        self.last_row: dict[str, Any] = {}
        self.reconcile_due = False  # set by a resume: take the broker's fills and reconcile at the next bar
        # orders sent in a bar killed before its state was saved, taken over from the journal: the broker polls
        # them from the point of the redone bar where they were sent (after its exits), as it would have
        self.tail_orders: set[int] = set()
        self.taken_over: list[tuple[Any, int | None]] = []
        self.bar_seconds: list[float] = []

    # ------------------------------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """What state.json holds after the last processed bar."""
        book = self.engine.bookkeeping()
        ids = self.inner.working_orders() if isinstance(self.inner, TradierBroker) else {}
        return {
            "run_id": self.run_id, "venue": self.venue.name, "session": self.dir.name, "bar": self.last_bar,
            "time": str(self.feed.timestamps[self.last_bar]) if self.last_bar >= 0 else None,
            "positions": [position_to_json(p) for p in self.engine.positions.values()],
            "working": [order_to_json(o, m, ids.get(o.order_id)) for o, m in book["working"]],
            "next_order": book["next_order"], "next_position": book["next_position"],
            "last_entry_bar": book["last_entry_bar"], "stopped": self.kills.stopped,
            "day_start_equity": self.kills.day_start_equity,
            "order_times": [t.isoformat() for t in self.kills.order_times[-500:]],
            "sim_cash": self.inner.cash() if isinstance(self.inner, SimBroker) else None,
            "journal_seq": self.journal.seq,
        }

    def save(self) -> None:
        """Write state.json atomically."""
        save_state(self.dir / "state.json", self.state())

    def resume(self) -> int | None:
        """Load state.json, catch the feed up, reconcile with the broker; the next bar to process (None: fresh)."""
        doc = load_state(self.dir / "state.json") or self._state_before_first_bar()
        if doc is None:
            return None
        last = int(doc["bar"])
        if last >= self.feed.n:
            raise DataError(f"{self.dir / 'state.json'} is at bar {last}, past this session's {self.feed.n} bars")
        self.kills.stopped = doc.get("stopped")
        self.kills.day_start_equity = doc.get("day_start_equity")
        self.kills.order_times = [pd.Timestamp(t) for t in doc.get("order_times", [])]
        positions = [position_from_json(p) for p in doc["positions"]]
        working = [order_from_json(w) for w in doc["working"]]
        last_entry = int(doc["last_entry_bar"])
        if doc.get("journal_seq") is not None:
            last_entry = self.settle_tail(int(doc["journal_seq"]), last, positions, working, last_entry)
        self.engine.restore(positions, [(o, m) for o, m, _ in working], int(doc["next_order"]),
                            int(doc["next_position"]), last_entry)
        if self.venue.fresh_account and isinstance(self.inner, TradierBroker):
            self.journal("resume_fresh_account", bar=last + 1, positions=len(positions), working=len(working),
                         note=f"the {self.venue.name} venue's local server started a fresh account: the saved "
                              "positions and working orders are not at its broker; the session goes on with it")
            log.warning("resuming %s on a fresh %s account: %d saved position(s) and %d working order(s) are "
                        "not at the broker", self.dir.name, self.venue.name, len(positions), len(working))
        if isinstance(self.inner, TradierBroker):
            kept = [(o, m, tid) for o, m, tid in working if self._known_at_broker(o, tid, last)]
            if len(kept) < len(working):
                closing = {m.get("position_id") for o, m, _ in kept if o.side is not Side.BUY_TO_OPEN}
                for p in positions:
                    p.closing = p.position_id in closing
                book = self.engine.bookkeeping()
                self.engine.restore(positions, [(o, m) for o, m, _ in kept], book["next_order"],
                                    book["next_position"], book["last_entry_bar"])
            for order, _, tid in kept:
                if order.order_id in self.tail_orders:
                    self.taken_over.append((order, tid))
                else:
                    self.inner.adopt(order, tid)
            self._skip_used_order_ids()
        else:
            self.inner._cash = float(doc["sim_cash"])
            for order, _, _ in working:  # each fills when it would have, latency bars after its own bar
                self.inner.submit(order, self._bar_of(order.submitted_at, last))
            self._skip_used_order_ids()
        self.catch_up(last + 1)
        self.last_bar = last
        self.feed.clock.advance_to(last)
        # a real broker's fills since the last save are taken at the next bar, as they would have been, and
        # then the positions are reconciled with the broker's (before any exit could act on a stale one)
        self.reconcile_due = isinstance(self.inner, TradierBroker)
        self.journal("resume", bar=last + 1, positions=len(self.engine.positions),
                     working=len(self.engine.bookkeeping()["working"]), stopped=self.kills.stopped)
        return last + 1

    def _state_before_first_bar(self) -> dict[str, Any] | None:
        """The state of a session killed before its first state.json but after journaling part of its first
        bar (orders may have gone out), so that the tail is settled like any other; None when there is nothing."""
        if not [e for e in self.journal.events() if e.get("event") not in _RESTART_EVENTS]:
            return None
        start = max(self.feed.first_session_bar, self.venue.first_live_bar() or 0)
        book = self.engine.bookkeeping()
        return {"bar": start - 1, "positions": [], "working": [], "next_order": book["next_order"],
                "next_position": book["next_position"], "last_entry_bar": book["last_entry_bar"], "stopped": None,
                "day_start_equity": None, "order_times": [], "sim_cash": self.inner.cash()
                if isinstance(self.inner, SimBroker) else None, "journal_seq": 0}

    def settle_tail(self, committed: int, last: int, positions: list[Position],
                    working: list[tuple[Any, dict[str, Any], int | None]], last_entry: int) -> int:
        """Settle the journal events past state.json's `journal_seq` (a bar killed before its state was saved),
        before bar `last + 1` is redone; returns the last entry bar to restore. `positions` and `working` (the
        saved ones) are updated in place.

        SimBroker: its fills, cash and orders lived in this process only, so the tail is voided (one `rollback`
        event lists it) and the redone bar writes it again. A real broker: the tail's orders went out, so each
        is taken over as a working order (its fate comes with the next poll, by Tradier id or tag) rather than
        decided and sent again, a close marks its position closing, an entry counts for the cooldown, and a
        latched kill switch tripped in the tail stays tripped."""
        tail = [e for e in self.journal.tail(committed) if e.get("event") not in _RESTART_EVENTS]
        if not tail:
            return last_entry
        if isinstance(self.inner, SimBroker):
            self.journal("rollback", bar=last + 1, voided=[e["seq"] for e in tail],
                         note="the SimBroker's bar interrupted before state.json was saved is redone; its "
                              "journal lines are void")
            return last_entry
        known = {o.order_id for o, _, _ in working}
        placed = {e.get("order_id"): e.get("tradier_id") for e in tail if e.get("event") == "order"}
        taken: list[int] = []
        for e in tail:
            if e.get("event") == "kill_switch" and e.get("switch") in _LATCHED:
                self.kills.stopped = self.kills.stopped or e.get("reason")
            if e.get("event") != "submit" or "order" not in e or e.get("order_id") in known:
                continue
            order, meta, _ = order_from_json(e["order"])
            working.append((order, meta, placed.get(order.order_id)))
            known.add(order.order_id)
            taken.append(order.order_id)
            self.tail_orders.add(order.order_id)
            if order.side is Side.BUY_TO_OPEN:
                last_entry = max(last_entry, int(e.get("bar", last_entry)))
            for pos in positions:
                if pos.position_id == meta.get("position_id"):
                    pos.closing = True
        self.journal("rollforward", bar=last + 1, orders=taken, stopped=self.kills.stopped,
                     note="orders sent in the bar interrupted before state.json was saved are taken over, not "
                          "sent again")
        return last_entry

    def _bar_of(self, when: Any, default: int) -> int:
        """The bar that starts at `when` (an order's submission time), or `default`."""
        stamps = self.feed.timestamps
        k = int(stamps.searchsorted(pd.Timestamp(when)))
        return k if k < len(stamps) and stamps[k] == pd.Timestamp(when) else default

    def _known_at_broker(self, order: Any, tradier_id: int | None, bar: int) -> bool:
        """Whether a working order saved in state.json is at the broker (an order of unknown fate is looked up
        by its tag later); one the broker does not know is dropped and journaled, not polled into a crash."""
        if tradier_id is None:
            return True
        try:
            self.venue.client.order(int(tradier_id))
            return True
        except TradierError as exc:
            if exc.status not in (None, 404):
                raise
        self.journal("reconcile", bar=bar, symbol=order.symbol, action="order_unknown", order_id=order.order_id,
                     tradier_id=tradier_id, note="the broker does not know this working order; dropped")
        return False

    def _skip_used_order_ids(self) -> None:
        """Never reuse an order id (hence a tag): not one the broker has seen, nor one journaled as submitted
        (the journal line is written before the order goes out, so it never lags the way state.json can)."""
        used = [int(e["order_id"]) for e in self.journal.all_events()
                if e.get("event") == "submit" and isinstance(e.get("order_id"), int)]
        if isinstance(self.inner, TradierBroker):
            prefix = f"{self.inner.prefix}-o"
            used += [int(o.tag[len(prefix):]) for o in self.venue.client.orders(include_tags=True)
                     if o.tag and o.tag.startswith(prefix) and o.tag[len(prefix):].isdigit()]
        if used:
            book = self.engine.bookkeeping()
            self.engine.restore(list(self.engine.positions.values()), book["working"],
                                max(book["next_order"], max(used) + 1), book["next_position"], book["last_entry_bar"])

    def _filled(self, order: Any, tradier_id: int | None) -> int:
        """Contracts of our order filled at the broker so far (0 when it cannot be found)."""
        try:
            found = (self.venue.client.order(int(tradier_id)) if tradier_id is not None
                     else self.venue.client.find_order_by_tag(self.inner.tag_of(order.order_id)))
        except TradierError:
            return 0
        return round(found.exec_quantity or 0) if found is not None else 0

    def reconcile(self, i: int) -> None:
        """Make the engine's positions match the broker's (the broker is the truth); journal every difference."""
        day = self.feed.timestamps[i].date()
        root = self.cfg.symbol
        held: dict[str, int] = {}
        cost: dict[str, float] = {}
        for p in self.venue.client.positions():
            try:
                c = parse_occ(p.symbol)
            except OptionSymbolError:
                continue
            if c.root != root or c.expiry < day or p.quantity <= 0:
                continue
            held[p.symbol] = round(p.quantity)
            cost[p.symbol] = float(p.cost_basis or 0.0)
        for order, tid in self.taken_over:  # not polled yet: what is held as the engine sees it, before them
            done = self._filled(order, tid)
            held[order.symbol] = held.get(order.symbol, 0) + (-done if order.side is Side.BUY_TO_OPEN else done)
        held = {k: v for k, v in held.items() if v > 0}
        by_symbol: dict[str, list[Position]] = {}
        for pos in self.engine.positions.values():
            by_symbol.setdefault(pos.symbol, []).append(pos)
        keep: list[Position] = []
        for symbol, mine in by_symbol.items():
            have = held.get(symbol, 0)
            for pos in mine:
                if have <= 0:
                    self.journal("reconcile", bar=i, symbol=symbol, action="dropped", position_id=pos.position_id,
                                 contracts=pos.contracts, note="not held at the broker (closed or settled there)")
                    continue
                if pos.contracts > have:
                    self.journal("reconcile", bar=i, symbol=symbol, action="resized", position_id=pos.position_id,
                                 state=pos.contracts, broker=have)
                    pos.contracts = have
                have -= pos.contracts
                keep.append(pos)
            if have > 0:
                keep[-1].contracts += have
                self.journal("reconcile", bar=i, symbol=symbol, action="resized", position_id=keep[-1].position_id,
                             state=keep[-1].contracts - have, broker=keep[-1].contracts)
        book = self.engine.bookkeeping()
        next_pid = book["next_position"]
        for symbol, qty in held.items():
            if symbol in by_symbol:
                continue
            c = parse_occ(symbol)
            price = cost[symbol] / (100.0 * qty) if qty else 0.0
            pos = Position(position_id=next_pid, symbol=symbol, right=c.right, strike=c.strike, expiry=c.expiry,
                           contracts=qty, entry_price=price, entry_time=self.feed.timestamps[i], entry_fees=0.0,
                           context=EntryContext(strategy="reconciled", direction=1 if c.right == "C" else -1),
                           peak_price=price, last_mark=price, entry_bar=i)
            next_pid += 1
            keep.append(pos)
            self.journal("reconcile", bar=i, symbol=symbol, action="adopted", position_id=pos.position_id,
                         contracts=qty, entry_price=price, note="held at the broker but not in the saved state")
        working = [(o, m) for o, m in book["working"]
                   if o.side is Side.BUY_TO_OPEN or m.get("position_id") in {p.position_id for p in keep}]
        self.engine.restore(keep, working, book["next_order"], next_pid, book["last_entry_bar"])

    # ------------------------------------------------------------------------------------------- loop
    def catch_up(self, upto: int) -> None:
        """Receive bars up to `upto` (exclusive) without deciding on them (a late start or a restart)."""
        for i in range(self.feed.received, upto):
            self.receive(i)
        if not self.arrays.primed:
            self.arrays.prime(self.feed.received)

    def receive(self, i: int, wait: bool = True) -> None:
        """Receive bar i from the venue (a missing bar repeats the last close with no volume, journaled)."""
        if wait:
            self.venue.before_bar(i)
        bar = self.venue.fetch_bar(i)
        if bar is None:
            prev = float(self.feed._close[i - 1])
            bar = {"open": prev, "high": prev, "low": prev, "close": prev, "volume": 0.0}
            self.journal("bar_missing", bar=i, time=str(self.feed.timestamps[i]), filled_with=prev)
        self.feed.put_bar(i, bar)
        snap = self.venue.chains_until(i)
        if snap is not None and len(snap):
            self.feed.add_chains(snap)

    def step(self, i: int) -> None:
        """Process bar i (already received): arrays, fills, exits, kill switches, decision, journal, state."""
        if hasattr(self.inner, "refresh"):
            self.inner.refresh()
        if self.reconcile_due:
            self.reconcile_due = False
            self.feed.clock.advance_to(i)
            self.engine.take_fills(i)
            self.reconcile(i)
        if not self.arrays.primed:
            self.arrays.prime(i)
        self.arrays.update(i)
        quoter = self.feed.market.quoter
        if self.engine.positions and hasattr(quoter, "prefetch"):
            quoter.prefetch(i, [p.symbol for p in self.engine.positions.values()])
        if self.kills.day_start_equity is None:
            self.kills.day_start_equity = self.broker.cash() + self.engine.open_value()
        self.engine.prepare(i)
        for order, tid in self.taken_over:
            self.inner.adopt(order, tid)
        self.taken_over = []
        if self.kills.check_loss(i, self.broker.cash() + self.engine.open_value()):
            self.engine.close_all(i, ExitReason.KILL_SWITCH)
        before = len(self.engine.decisions)
        self.engine.decide(i)
        new = self.engine.decisions[before:]
        for d in new:
            self.journal("decision", **d)
        self.last_bar = i
        value = self.engine.open_value()
        cash = self.broker.cash()
        self.last_row = {"time": str(self.feed.timestamps[i]), "equity": cash + value, "cash": cash,
                         "open_value": value, "n_open": len(self.engine.positions)}
        self.journal("bar", bar=i, **self.last_row)
        self.last_row = {**self.last_row, "decisions": [d["intents"] for d in new], "stopped": self.kills.stopped}
        self.save()

    def run(self, max_bars: int | None = None,
            on_bar: Callable[[int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Resume or start the session, process its bars (at most `max_bars` now) and write the day's files;
        `on_bar(i, row)` hears about each processed bar (time, equity, open positions, its decisions)."""
        with _one_torch_thread():
            return self._run(max_bars, on_bar)

    def _run(self, max_bars: int | None, on_bar: Callable[[int, dict[str, Any]], None] | None) -> dict[str, Any]:
        start = self.resume()
        if start is None:
            self._skip_used_order_ids()  # a session killed before its first state.json still sent orders
            start = max(self.feed.first_session_bar, self.venue.first_live_bar() or 0)
            self.journal("session", action="start", run_id=self.run_id, venue=self.venue.name,
                         first_bar=str(self.feed.timestamps[start]) if start < self.feed.n else None,
                         notes=self.venue.notes)
        self.catch_up(start)
        end = self.feed.n if max_bars is None else min(self.feed.n, start + max_bars)
        for i in range(start, end):
            self.venue.before_bar(i)
            t0 = time.perf_counter()
            self.receive(i, wait=False)
            self.step(i)
            self.bar_seconds.append(time.perf_counter() - t0)  # the loop's own time, not the wait for the bar
            if on_bar is not None:
                on_bar(i, self.last_row)
        done = self.last_bar >= self.feed.n - 1
        return self.end_of_day(complete=done)

    # ------------------------------------------------------------------------------------- end of day
    def end_of_day(self, complete: bool = True) -> dict[str, Any]:
        """Write trades, equity, metrics (split "paper") and the analysis of the session so far."""
        events = self.journal.events()
        trades = trades_from_journal(events)
        equity = equity_from_journal(events)
        initial = float(self.kills.day_start_equity or self.spec.trading.initial_balance)
        metrics = compute_metrics(trades, equity, initial) if len(equity) else {}
        window = ({"start": str(equity.index[0]), "end": str(equity.index[-1]), "bars": len(equity)}
                  if len(equity) else {})
        write_frame(self.dir / "trades.parquet", trades)
        write_frame(self.dir / "equity.parquet", equity)
        from experiments.spec.io import spec_hash

        write_json(self.dir / "spec.json", {"hash": spec_hash(self.spec), "spec": self.spec.model_dump(mode="json"),
                                            "run_id": self.run_id})
        decisions = [e for e in events if e.get("event") == "decision"]
        doc = {"run_id": self.dir.name, "promoted_run": self.run_id, "split": "paper", "venue": self.venue.name,
               "complete": complete, "window": window, "metrics": metrics,
               "baselines": {"buy_and_hold": {}, "random_entry": {}}, "stopped": self.kills.stopped,
               "decisions": len(decisions), "orders": len({e.get("order_id") for e in events if e.get("event") == "submit"}),
               "rejected_orders": len({e.get("order_id") for e in events if e.get("event") == "reject"}),
               "kill_switch_events": [e for e in events if e.get("event") == "kill_switch"],
               "loop_seconds_per_bar": (sum(self.bar_seconds) / len(self.bar_seconds)) if self.bar_seconds else None}
        write_json(self.dir / "metrics.json", doc)
        self.journal("session", action="end_of_day", complete=complete, trades=len(trades), stopped=self.kills.stopped)
        if len(equity):
            self._analyze()
        return doc

    def _analyze(self) -> None:
        from analysis.report import analyze_run

        try:
            analyze_run(self.dir)
        except GaussianError as exc:  # the session's files stand without the report
            self.journal("analysis_failed", error=str(exc))
            log.error("end-of-day analysis of %s failed: %s", self.dir.name, exc)
