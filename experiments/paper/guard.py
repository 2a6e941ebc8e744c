"""Kill switches of the paper loop, the strategy guard that applies them, and the journaling broker wrapper.

- max daily loss ($): once equity is this far below the day's starting equity, every position is closed at
  once and no new entry is made for the rest of the session.
- max open positions: no new entry while this many positions are open or being opened.
- max orders per minute: an entry that would make more than this many orders within a minute (of the clock)
  trips the switch: no new entry for the rest of the session (a runaway loop is a bug to look at).
- halt file: while the file exists no new entry is made (exits still run).
Each blocks entries only; exits (hard rules, the exit model, end of day) always run. Every trip and block is
journaled.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from experiments.paper.journal import Journal, order_to_json, trade_to_json
from trader.domain import Fill, Intent, Order
from trader.errors import SpecError
from trader.strategies.base import Snapshot, Strategy

CONFIG_FILE = "paper.yaml"


class PaperLimits(BaseModel):
    """Kill-switch settings (from <home>/paper.yaml, overridden by command-line flags); null disables one."""

    model_config = ConfigDict(extra="forbid")

    max_daily_loss: float | None = Field(500.0, gt=0, description="$ below the day's starting equity: close all, stop")
    max_open_positions: int | None = Field(3, ge=1, description="no new entry while this many are open")
    max_orders_per_minute: int | None = Field(10, ge=1, description="more orders than this in a minute: stop entries")
    halt_file: str = Field("HALT", description="no new entry while this file exists (relative to the home)")


def load_limits(home: Path, overrides: dict[str, Any] | None = None) -> PaperLimits:
    """The kill-switch settings: defaults, then <home>/paper.yaml (the keys at the top or under
    `kill_switches:`), then the non-None overrides."""
    path = home / CONFIG_FILE
    doc: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise SpecError(f"{path} must hold a mapping of kill-switch settings")
        doc = dict(loaded or {})
        doc.pop("data_manager", None)  # the reporter's settings (experiments/paper/reporting.py)
        if set(doc) == {"kill_switches"}:
            doc = dict(doc["kill_switches"] or {})
    doc.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return PaperLimits.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "?"
        raise SpecError(f"{path}: field '{field}' {err['msg'].lower()} (got {err.get('input')!r})") from None


class KillSwitches:
    """The kill switches' state through one session (latched trips survive restarts via state.json)."""

    def __init__(self, limits: PaperLimits, home: Path, journal: Journal) -> None:
        self.limits = limits
        self.halt_path = Path(limits.halt_file) if Path(limits.halt_file).is_absolute() else home / limits.halt_file
        self.journal = journal
        self.stopped: str | None = None  # a latched trip: no entries for the rest of the session
        self.order_times: list[pd.Timestamp] = []
        self.day_start_equity: float | None = None
        self._halted = False

    def record_order(self, when: pd.Timestamp) -> None:
        """Count one order sent at `when` (clock time)."""
        self.order_times.append(pd.Timestamp(when))

    def orders_in_last_minute(self, now: pd.Timestamp) -> int:
        """Orders sent in the minute up to and including `now`."""
        since = pd.Timestamp(now) - pd.Timedelta(minutes=1)
        return sum(1 for t in self.order_times if t > since)

    def check_loss(self, i: int, equity: float) -> bool:
        """True when the daily-loss switch trips now (the caller closes every position)."""
        cap = self.limits.max_daily_loss
        if cap is None or self.day_start_equity is None or self.stopped:
            return False
        loss = self.day_start_equity - equity
        if loss >= cap:
            self.trip(i, f"max_daily_loss: equity {equity:.2f} is {loss:.2f} below the day's start "
                         f"{self.day_start_equity:.2f} (limit {cap:.2f})", switch="max_daily_loss")
            return True
        return False

    def trip(self, i: int, reason: str, switch: str) -> None:
        """Latch a stop for the rest of the session."""
        self.stopped = reason
        self.journal("kill_switch", bar=i, switch=switch, reason=reason)

    def halted(self, i: int) -> bool:
        """Whether the halt file exists now (journaled when that changes)."""
        now = self.halt_path.exists()
        if now != self._halted:
            self._halted = now
            self.journal("kill_switch" if now else "halt_cleared", bar=i, switch="halt_file",
                         reason=f"halt file {self.halt_path} {'present' if now else 'removed'}")
        return now

    def allowed_entries(self, snap: Snapshot, wanted: int) -> tuple[int, str | None]:
        """How many of `wanted` entries may go out at this bar, and why the others may not."""
        if self.stopped:
            return 0, self.stopped
        if self.halted(snap.i):
            return 0, f"halt file {self.halt_path} present"
        k = self.limits
        allowed, why = wanted, None
        if k.max_open_positions is not None:
            room = k.max_open_positions - len(snap.positions) - snap.pending_opens
            if room < allowed:
                allowed, why = max(0, room), f"max_open_positions {k.max_open_positions}"
        if k.max_orders_per_minute is not None and allowed > 0:
            room = k.max_orders_per_minute - self.orders_in_last_minute(snap.time)
            if room < allowed:
                self.trip(snap.i, f"max_orders_per_minute: {self.orders_in_last_minute(snap.time)} orders in the "
                                  f"last minute, {wanted} more wanted (limit {k.max_orders_per_minute})",
                          switch="max_orders_per_minute")
                return 0, self.stopped
        return allowed, why


class GuardedStrategy:
    """The run's strategy behind the kill switches; closed trades are journaled on their way through."""

    def __init__(self, inner: Strategy, kills: KillSwitches, journal: Journal) -> None:
        self.inner = inner
        self.kills = kills
        self.journal = journal
        self.name = getattr(inner, "name", "strategy")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def decide(self, snap: Snapshot) -> list[Intent]:
        """The inner strategy's intents, less the entries a kill switch blocks now."""
        intents = self.inner.decide(snap)
        opens = [x for x in intents if x.action == "open"]
        if not opens:
            return intents
        allowed, why = self.kills.allowed_entries(snap, len(opens))
        if allowed >= len(opens):
            return intents
        self.journal("blocked", bar=snap.i, time=str(snap.time), reason=why,
                     intents=[(x.action, x.direction) for x in opens[allowed:]])
        keep = set(map(id, opens[:allowed]))
        return [x for x in intents if x.action != "open" or id(x) in keep]

    def on_trade_closed(self, trade: Any) -> None:
        """Journal the closed trade and pass it on (controllers that learn online update from it)."""
        self.journal("trade", trade=trade_to_json(trade))
        self.inner.on_trade_closed(trade)


class JournalingBroker:
    """Wraps the venue's broker: journals every order, fill, rejection, cancel and liquidation, counts orders."""

    def __init__(self, inner: Any, journal: Journal, kills: KillSwitches, now: Callable[[], pd.Timestamp]) -> None:
        self.inner = inner
        self.journal = journal
        self.kills = kills
        self.now = now
        self.meta_of: Callable[[int], dict[str, Any]] = lambda order_id: {}  # the engine's note about an order

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def cash(self) -> float:
        """The venue's cash."""
        return self.inner.cash()

    def submit(self, order: Order, bar: int) -> Order:
        """Send an order (journaled before it goes out, whole, so that a restart can take it over)."""
        self.kills.record_order(self.now())
        self.journal("submit", bar=bar, order_id=order.order_id, symbol=order.symbol, side=order.side.value,
                     contracts=order.contracts, time=str(order.submitted_at),
                     order=order_to_json(order, self.meta_of(order.order_id)))
        return self.inner.submit(order, bar)

    def poll(self, bar: int) -> tuple[list[Fill], list[Order]]:
        """Fills and rejections, journaled."""
        fills, rejects = self.inner.poll(bar)
        for f in fills:
            self.journal("fill", bar=bar, order_id=f.order_id, symbol=f.symbol, side=f.side.value,
                         contracts=f.contracts, price=f.price, fees=f.fees)
        for o in rejects:
            self.journal("reject", bar=bar, order_id=o.order_id, symbol=o.symbol, side=o.side.value,
                         reason=o.reject_reason)
        return fills, rejects

    def cancel(self, order_id: int) -> bool:
        """Cancel a working order (journaled)."""
        done = self.inner.cancel(order_id)
        self.journal("cancel", order_id=order_id, cancelled=bool(done))
        return done

    def liquidate(self, contracts: int, price: float, symbol: str | None = None) -> float:
        """Sell now at market (journaled, counted as an order)."""
        self.kills.record_order(self.now())
        self.journal("liquidate_order", symbol=symbol, contracts=contracts, mark=price, time=str(self.now()))
        return self.inner.liquidate(contracts, price, symbol=symbol)

    def settle(self, contracts: int, intrinsic: float) -> float:
        """Expiry settlement (journaled)."""
        self.journal("settle", contracts=contracts, intrinsic=intrinsic)
        return self.inner.settle(contracts, intrinsic)
