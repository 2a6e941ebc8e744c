"""The broker port over a Tradier account (sandbox, live, or the local Tradier server).

Orders go out as market day orders, each with a unique tag (`<prefix>-o<order id>`), and are never blindly
retried: TradierClient looks a failed submission up by its tag before anything else. Fills come back from the
order's status at the broker. Cash is the account's option buying power. Expiring options are settled by the
broker itself, so `settle` only reports the proceeds; `liquidate` sends a market sell.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trader.broker.base import CostModel
from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_errors import TradierError, TradierOrderRejected, TradierOrderUncertain
from trader.domain import Fill, Order, Side

log = logging.getLogger("gaussian.tradier_broker")

FINAL_BAD = ("rejected", "canceled", "cancelled", "expired", "error")
"""Order statuses that end an order without a fill."""

Event = Callable[..., None]


def _quiet(event: str, **data: Any) -> None:
    """The default event sink: nothing is recorded."""


def tag_prefix(text: str) -> str:
    """A Tradier-safe tag prefix (letters, digits and '-') made from any text."""
    clean = re.sub(r"[^A-Za-z0-9-]+", "-", text).strip("-")
    return (clean or "gx")[:200]


@dataclass
class _Working:
    """An order we sent whose outcome is not known yet."""

    order: Order
    tradier_id: int | None  # None: the submission's fate was uncertain; found by tag later
    lookups: int = 0


@dataclass
class TradierBroker:
    """Broker port for the engine, backed by a Tradier account (see the module docstring).

    `events(kind, **data)` is told what only the broker knows: Tradier order ids (and orders recovered by
    tag), orders of unknown fate, cancels and liquidations (the paper loop journals them). `uncertain_lookups` bounds how many bars an order of unknown fate is searched for by
    its tag before it is treated as not placed.
    """

    client: TradierClient
    costs: CostModel
    prefix: str = "gx"
    events: Event = _quiet
    uncertain_lookups: int = 3
    rejected: list[Order] = field(default_factory=list)
    fees_paid: float = 0.0
    _working: dict[int, _Working] = field(default_factory=dict)
    _rejects: list[Order] = field(default_factory=list)
    _cash: float | None = None
    _liquidations: int = 0

    def __post_init__(self) -> None:
        self.prefix = tag_prefix(self.prefix)

    # ------------------------------------------------------------------------------------------- cash
    def cash(self) -> float:
        """Option buying power reported by the account (read once per bar; orders and fills refresh it)."""
        if self._cash is None:
            self._cash = float(self.client.balances().option_buying_power)
        return self._cash

    def refresh(self) -> None:
        """Forget the cached balance (the next `cash()` asks the broker)."""
        self._cash = None

    # ----------------------------------------------------------------------------------------- orders
    def tag_of(self, order_id: int) -> str:
        """The tag our order `order_id` carries at the broker."""
        return f"{self.prefix}-o{order_id}"

    def submit(self, order: Order, bar: int) -> Order:
        """Place a market day order tagged with our order id; a refusal becomes a rejection at the next poll."""
        side = order.side.value
        order.tag = self.tag_of(order.order_id)
        self._cash = None
        try:
            ack = self.client.place_option_order(order.symbol, side, order.contracts, tag=order.tag)
        except TradierOrderUncertain as exc:
            self._working[order.order_id] = _Working(order, None)
            self.events("order_uncertain", order_id=order.order_id, tag=order.tag, error=str(exc))
            return order
        except TradierOrderRejected as exc:
            self._reject(order, f"refused by Tradier: {exc.detail or exc}")
            return order
        except TradierError as exc:
            self._reject(order, f"not placed: {exc}")
            return order
        self._working[order.order_id] = _Working(order, int(ack.id))
        self.events("order", order_id=order.order_id, tradier_id=int(ack.id), symbol=order.symbol, side=side,
                    contracts=order.contracts, tag=order.tag, recovered=bool(ack.recovered))
        return order

    def _reject(self, order: Order, reason: str) -> None:
        order.status = "rejected"
        order.reject_reason = reason
        self._rejects.append(order)
        self.rejected.append(order)

    def poll(self, bar: int) -> tuple[list[Fill], list[Order]]:
        """Fills and rejections of our working orders, from their status at the broker."""
        fills: list[Fill] = []
        rejects, self._rejects = self._rejects, []
        for oid, w in list(self._working.items()):
            if w.tradier_id is None and not self._find(w):
                continue
            status = self.client.order(int(w.tradier_id))  # type: ignore[arg-type]
            if status.status == "filled":
                price = float(status.avg_fill_price or 0.0)
                fees = self.costs.fees(w.order.contracts)
                self.fees_paid += fees
                w.order.status = "filled"
                when = pd.Timestamp(status.transaction_date) if status.transaction_date else w.order.submitted_at
                fills.append(Fill(oid, w.order.symbol, w.order.side, w.order.contracts, price, fees, when))
                del self._working[oid]
                self._cash = None
            elif status.status in FINAL_BAD:
                del self._working[oid]
                self._reject(w.order, f"broker status {status.status}"
                             + (f": {status.reason_description}" if status.reason_description else ""))
                rejects.append(self._rejects.pop())
        return fills, rejects

    def _find(self, w: _Working) -> bool:
        """Look an order of unknown fate up by its tag; after `uncertain_lookups` misses it was not placed."""
        found = self.client.find_order_by_tag(w.order.tag)
        if found is not None:
            w.tradier_id = int(found.id)
            self.events("order", order_id=w.order.order_id, tradier_id=w.tradier_id, symbol=w.order.symbol,
                        side=w.order.side.value, contracts=w.order.contracts, tag=w.order.tag, recovered=True)
            return True
        w.lookups += 1
        if w.lookups >= self.uncertain_lookups:
            del self._working[w.order.order_id]
            self._reject(w.order, f"no order with tag {w.order.tag} appeared at the broker")
        return False

    def cancel(self, order_id: int) -> bool:
        """Cancel a working order at the broker; False when it is not ours or already final."""
        w = self._working.pop(order_id, None)
        if w is None or w.tradier_id is None:
            return False
        try:
            self.client.cancel_order(w.tradier_id)
        except TradierError as exc:  # already filled or final: the broker's state stands
            self.events("cancel_failed", order_id=order_id, tradier_id=w.tradier_id, error=str(exc))
            return False
        w.order.status = "cancelled"
        self.events("cancel", order_id=order_id, tradier_id=w.tradier_id)
        return True

    def liquidate(self, contracts: int, price: float, symbol: str | None = None) -> float:
        """Sell `contracts` of `symbol` at market now (kill switch, end of data); returns the fees charged."""
        fees = self.costs.fees(contracts)
        if symbol is None:
            return fees
        self._liquidations += 1
        tag = f"{self.prefix}-liq{self._liquidations}-{pd.Timestamp.now().value % 10**9}"
        self._cash = None
        try:
            ack = self.client.place_option_order(symbol, Side.SELL_TO_CLOSE.value, contracts, tag=tag)
        except TradierError as exc:
            self.events("liquidate_failed", symbol=symbol, contracts=contracts, tag=tag, error=str(exc))
            log.error("liquidation of %d %s failed: %s", contracts, symbol, exc)
            return 0.0
        self.fees_paid += fees
        self.events("liquidate", symbol=symbol, contracts=contracts, tag=tag, tradier_id=int(ack.id),
                    mark=price)
        return fees

    def settle(self, contracts: int, intrinsic: float) -> float:
        """The broker settles expiring options itself; report the proceeds at intrinsic value."""
        self._cash = None
        return max(0.0, intrinsic) * 100.0 * contracts

    # --------------------------------------------------------------------------------------- restarts
    def working_orders(self) -> dict[int, int | None]:
        """Our working orders: order id -> Tradier id (None while the fate is unknown)."""
        return {oid: w.tradier_id for oid, w in self._working.items()}

    def adopt(self, order: Order, tradier_id: int | None) -> None:
        """Track an order sent before a restart (its outcome arrives with the next poll)."""
        order.tag = self.tag_of(order.order_id)
        self._working[order.order_id] = _Working(order, tradier_id)
