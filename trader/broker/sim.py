"""A simulated broker: fills at the ask (buys) and bid (sells) of the quote in force after a latency, with costs."""
from __future__ import annotations

import math
from dataclasses import dataclass

from trader.broker.base import CostModel
from trader.domain import Fill, Order, Side
from trader.feed import ReplayFeed
from trader.options import parse_occ


@dataclass
class _Pending:
    order: Order
    fill_bar: int


class SimBroker:
    """Backtest venue. Cash never goes negative: a buy that cannot be paid is rejected and recorded."""

    def __init__(self, feed: ReplayFeed, costs: CostModel, initial_cash: float) -> None:
        self.feed = feed
        self.costs = costs
        self._cash = float(initial_cash)
        self._pending: list[_Pending] = []
        self.rejected: list[Order] = []
        self.fees_paid = 0.0

    def cash(self) -> float:
        """Cash available now."""
        return self._cash

    def submit(self, order: Order, bar: int) -> Order:
        """Queue an order to fill at the quote `latency_bars` after `bar`."""
        self._pending.append(_Pending(order, bar + self.costs.latency_bars))
        return order

    def has_pending(self) -> bool:
        """Whether any order waits for its fill bar."""
        return bool(self._pending)

    def _price(self, order: Order) -> float:
        c = parse_occ(order.symbol)
        q = self.feed.quote(c.expiry, c.strike, c.right)
        half = (q.ask - q.bid) / 2.0 * self.costs.spread_multiplier
        if order.side is Side.BUY_TO_OPEN:
            return round(q.mid + half, 2) if self.costs.spread_multiplier != 1.0 else q.ask
        bid = q.mid - half if self.costs.spread_multiplier != 1.0 else q.bid
        return max(0.0, round(bid, 2))

    def poll(self, bar: int) -> tuple[list[Fill], list[Order]]:
        """Fill every pending order whose latency has elapsed, at the quote of the current bar."""
        fills: list[Fill] = []
        rejects: list[Order] = []
        if not self._pending:
            return fills, rejects
        keep: list[_Pending] = []
        for p in self._pending:
            if p.fill_bar > bar:
                keep.append(p)
                continue
            order = p.order
            price = self._price(order)
            fees = self.costs.fees(order.contracts)
            if order.side is Side.BUY_TO_OPEN:
                cost = price * 100.0 * order.contracts + fees
                if price <= 0 or not math.isfinite(price) or cost > self._cash:
                    order.status = "rejected"
                    order.reject_reason = (
                        "no ask" if price <= 0 else f"insufficient cash: need {cost:.2f}, have {self._cash:.2f}"
                    )
                    rejects.append(order)
                    self.rejected.append(order)
                    continue
                self._cash -= cost
            else:
                self._cash += price * 100.0 * order.contracts - fees
            self.fees_paid += fees
            order.status = "filled"
            fills.append(Fill(order.order_id, order.symbol, order.side, order.contracts, price, fees,
                              self.feed.stamp(bar)))
        self._pending = keep
        return fills, rejects

    def cancel(self, order_id: int) -> bool:
        """Cancel a pending order; False when it already filled or never existed."""
        before = len(self._pending)
        for p in self._pending:
            if p.order.order_id == order_id:
                p.order.status = "cancelled"
        self._pending = [p for p in self._pending if p.order.order_id != order_id]
        return len(self._pending) < before

    def liquidate(self, contracts: int, price: float, symbol: str | None = None) -> float:
        """Sell immediately at `price` (end of data, kill switch); returns the fees charged."""
        fees = self.costs.fees(contracts)
        self._cash += max(0.0, price) * 100.0 * contracts - fees
        self.fees_paid += fees
        return fees

    def settle(self, contracts: int, intrinsic: float) -> float:
        """Cash-settle an expiring long option at intrinsic value (no commission); returns the proceeds."""
        proceeds = max(0.0, intrinsic) * 100.0 * contracts
        self._cash += proceeds
        return proceeds
