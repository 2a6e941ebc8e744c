"""The broker port over Tradier: orders go out with a unique tag, fills come back from order status.

Orders are never blindly retried (the client looks an order up by its tag before any resubmit). Cash is the
account's option buying power. Expiring options are settled by the broker itself, so `settle` only reports the
intrinsic value; `liquidate` sends a market sell.
"""
from __future__ import annotations

import logging

import pandas as pd

from trader.broker.base import CostModel
from trader.broker.tradier_client import TradierClient
from trader.domain import Fill, Order, Side

log = logging.getLogger("gaussian.tradier_broker")


class TradierBroker:
    """Broker port for the engine, backed by a Tradier account (sandbox, live or the local Tradier)."""

    def __init__(self, client: TradierClient, costs: CostModel, journal=None, run_tag: str = "gx") -> None:  # noqa: ANN001
        self.client = client
        self.costs = costs
        self.journal = journal or (lambda event, **data: None)
        self.run_tag = run_tag
        self._pending: dict[int, tuple[Order, int]] = {}  # our order id -> (order, tradier id)
        self.rejected: list[Order] = []
        self.fees_paid = 0.0
        self.orders_sent: list[pd.Timestamp] = []
        self._cash: float | None = None

    def cash(self) -> float:
        """Option buying power reported by the account (asked again after any order or fill)."""
        if self._cash is None:
            self._cash = float(self.client.balances().option_buying_power)
        return self._cash

    def submit(self, order: Order, bar: int) -> Order:
        """Place a market order tagged with our order id (looked up by tag before any resubmit)."""
        side = "buy_to_open" if order.side is Side.BUY_TO_OPEN else "sell_to_close"
        order.tag = f"{self.run_tag}-{order.tag}".replace("_", "-")[:255]
        self._cash = None
        ack = self.client.place_option_order(order.symbol, side, order.contracts, tag=order.tag)
        self._pending[order.order_id] = (order, int(ack.id))
        self.orders_sent.append(order.submitted_at)
        self.journal("order", order_id=order.order_id, tradier_id=int(ack.id), symbol=order.symbol, side=side,
                     contracts=order.contracts, tag=order.tag, recovered=bool(ack.recovered))
        return order

    def poll(self, bar: int) -> tuple[list[Fill], list[Order]]:
        """Fills and rejections of our pending orders, from their status at the broker."""
        fills: list[Fill] = []
        rejects: list[Order] = []
        self._cash = None
        for oid, (order, tid) in list(self._pending.items()):
            status = self.client.order(tid)
            if status.status == "filled":
                price = float(status.avg_fill_price or 0.0)
                fees = self.costs.fees(order.contracts)
                self.fees_paid += fees
                order.status = "filled"
                fills.append(Fill(oid, order.symbol, order.side, order.contracts, price, fees, order.submitted_at))
                self.journal("fill", order_id=oid, tradier_id=tid, price=price, fees=fees)
                del self._pending[oid]
            elif status.status in ("rejected", "canceled", "cancelled", "expired", "error"):
                order.status = "rejected"
                order.reject_reason = f"broker status {status.status}"
                rejects.append(order)
                self.rejected.append(order)
                self.journal("reject", order_id=oid, tradier_id=tid, status=status.status)
                del self._pending[oid]
        return fills, rejects

    def cancel(self, order_id: int) -> bool:
        """Cancel a pending order at the broker."""
        item = self._pending.pop(order_id, None)
        if item is None:
            return False
        self.client.cancel_order(item[1])
        self.journal("cancel", order_id=order_id, tradier_id=item[1])
        return True

    def liquidate(self, contracts: int, price: float, symbol: str | None = None) -> float:
        """Sell at market (kill switch, end of session); returns the fees charged."""
        self._cash = None
        if symbol is not None:
            tag = f"{self.run_tag}-liq-{len(self.orders_sent)}"
            self.client.place_option_order(symbol, "sell_to_close", contracts, tag=tag)
            self.journal("liquidate", symbol=symbol, contracts=contracts, tag=tag)
        fees = self.costs.fees(contracts)
        self.fees_paid += fees
        return fees

    def settle(self, contracts: int, intrinsic: float) -> float:
        """The broker settles expiring options itself; report the proceeds."""
        return max(0.0, intrinsic) * 100.0 * contracts
