"""The broker port: where orders go and fills come back from, whatever the venue."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from trader.domain import Fill, Order


@dataclass(frozen=True)
class CostModel:
    """What trading costs: commission and fees per contract, fill latency in bars, spread scaling."""

    commission_per_contract: float = 0.35
    fees_per_contract: float = 0.05
    latency_bars: int = 1
    spread_multiplier: float = 1.0

    def fees(self, contracts: int) -> float:
        """Commission plus fees for a number of contracts."""
        return contracts * (self.commission_per_contract + self.fees_per_contract)


class Broker(Protocol):
    """Accepts orders and reports fills and rejections; owns the cash balance."""

    def submit(self, order: Order, bar: int) -> Order:
        """Accept an order at bar `bar` (it may fill later, or be rejected)."""
        ...

    def poll(self, bar: int) -> tuple[list[Fill], list[Order]]:
        """Fills and rejections that happened up to bar `bar`."""
        ...

    def cash(self) -> float:
        """Cash available now."""
        ...
