"""Typed Tradier results (pydantic v2), decoded from the wire with the quirks of tradier_wire handled.

Unknown keys are ignored rather than forbidden: these models read a vendor's responses, which gain fields over
time, and a new field must not break trading. Everything the project relies on is typed and validated.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from trader.broker.tradier_wire import (
    ORDER_STATUSES_FINAL,
    from_date,
    from_epoch_ms,
    from_epoch_s,
    from_iso,
    to_float,
)

NFloat = Annotated[float | None, BeforeValidator(to_float)]
"""A nullable number (null, "null", "" and NaN become None)."""
MsTime = Annotated[dt.datetime | None, BeforeValidator(from_epoch_ms)]
"""Epoch milliseconds (0 = never) as a New York datetime."""
SecTime = Annotated[dt.datetime | None, BeforeValidator(from_epoch_s)]
"""Epoch seconds as a New York datetime."""
IsoTime = Annotated[dt.datetime | None, BeforeValidator(from_iso)]
"""An ISO time (UTC with Z, or naive New York) as a New York datetime."""
WireDate = Annotated[dt.date | None, BeforeValidator(from_date)]
"""A YYYY-MM-DD date."""


def _text(value: Any) -> Any:
    return None if value == "null" else value


NStr = Annotated[str | None, BeforeValidator(_text)]


class TradierModel(BaseModel):
    """Base of the Tradier result models: frozen, populated by wire names, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class MarketClock(TradierModel):
    """The market clock: state is premarket, open, postmarket or closed; timestamp from epoch seconds."""

    date: WireDate = None
    description: str = ""
    state: str
    timestamp: SecTime = None
    next_change: NStr = None
    next_state: NStr = None


class Greeks(TradierModel):
    """Option greeks and implied vols (ORATS); any may be null."""

    delta: NFloat = None
    gamma: NFloat = None
    theta: NFloat = None
    vega: NFloat = None
    rho: NFloat = None
    phi: NFloat = None
    bid_iv: NFloat = None
    mid_iv: NFloat = None
    ask_iv: NFloat = None
    smv_vol: NFloat = None
    updated_at: NStr = None

    @property
    def iv(self) -> float | None:
        """The implied vol: mid_iv when positive, else smv_vol (what clients fall back to)."""
        if self.mid_iv is not None and self.mid_iv > 0:
            return self.mid_iv
        return self.smv_vol if self.smv_vol is not None and self.smv_vol > 0 else None


class Quote(TradierModel):
    """A stock/ETF or option quote; prices are nullable (an option that has not traded has last = None)."""

    symbol: str
    description: str = ""
    type: NStr = None
    exch: NStr = None
    last: NFloat = None
    change: NFloat = None
    change_percentage: NFloat = None
    volume: NFloat = None
    open: NFloat = None
    high: NFloat = None
    low: NFloat = None
    close: NFloat = None
    prevclose: NFloat = None
    bid: NFloat = None
    ask: NFloat = None
    bidsize: NFloat = None
    asksize: NFloat = None
    trade_date: MsTime = None
    bid_date: MsTime = None
    ask_date: MsTime = None
    underlying: NStr = None
    strike: NFloat = None
    option_type: NStr = None
    expiration_date: WireDate = None
    open_interest: NFloat = None
    contract_size: NFloat = None
    root_symbol: NStr = None
    greeks: Greeks | None = None

    @property
    def mid(self) -> float | None:
        """(bid + ask) / 2 when both are quoted."""
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2.0

    @property
    def right(self) -> str | None:
        """'C' or 'P' for an option, None otherwise."""
        if self.option_type == "call":
            return "C"
        if self.option_type == "put":
            return "P"
        return None


class QuoteBatch(TradierModel):
    """The answer of a quotes call: the quotes found and the symbols Tradier did not recognise."""

    quotes: list[Quote] = Field(default_factory=list)
    unmatched: list[str] = Field(default_factory=list)

    def get(self, symbol: str) -> Quote | None:
        """The quote of one symbol, or None when it was unmatched or not asked for."""
        return next((q for q in self.quotes if q.symbol == symbol), None)


class MarginBalances(TradierModel):
    """The `margin` (or `pdt`) part of balances."""

    fed_call: NFloat = None
    maintenance_call: NFloat = None
    option_buying_power: NFloat = None
    stock_buying_power: NFloat = None
    stock_short_value: NFloat = None
    sweep: NFloat = None


class CashBalances(TradierModel):
    """The `cash` part of balances (cash accounts)."""

    cash_available: NFloat = None
    sweep: NFloat = None
    unsettled_funds: NFloat = None


class Balances(TradierModel):
    """Account balances; exactly one of margin, cash or pdt is set, by account_type."""

    account_number: str = ""
    account_type: str = ""
    total_equity: NFloat = None
    total_cash: NFloat = None
    market_value: NFloat = None
    long_market_value: NFloat = None
    short_market_value: NFloat = None
    option_long_value: NFloat = None
    option_short_value: NFloat = None
    option_requirement: NFloat = None
    stock_long_value: NFloat = None
    open_pl: NFloat = None
    close_pl: NFloat = None
    current_requirement: NFloat = None
    equity: NFloat = None
    pending_orders_count: NFloat = None
    pending_cash: NFloat = None
    uncleared_funds: NFloat = None
    margin: MarginBalances | None = None
    cash: CashBalances | None = None
    pdt: MarginBalances | None = None

    @property
    def option_buying_power(self) -> float:
        """What may be spent on option premium: margin/pdt option_buying_power, or cash.cash_available."""
        for part in (self.margin, self.pdt):
            if part is not None and part.option_buying_power is not None:
                return part.option_buying_power
        if self.cash is not None and self.cash.cash_available is not None:
            return self.cash.cash_available
        return self.total_cash or 0.0


class TradierPosition(TradierModel):
    """One position: quantity (negative = short) and total cost basis (premium x 100 x qty for options)."""

    id: int | None = None
    symbol: str
    quantity: float
    cost_basis: NFloat = None
    date_acquired: IsoTime = None


class TradierOrder(TradierModel):
    """An order as Tradier reports it (status: open, partially_filled, filled, expired, canceled, pending,
    rejected, error)."""

    id: int
    type: NStr = None
    symbol: NStr = None
    side: NStr = None
    quantity: NFloat = None
    status: str
    duration: NStr = None
    price: NFloat = None
    stop_price: NFloat = None
    avg_fill_price: NFloat = None
    exec_quantity: NFloat = None
    last_fill_price: NFloat = None
    last_fill_quantity: NFloat = None
    remaining_quantity: NFloat = None
    create_date: IsoTime = None
    transaction_date: IsoTime = None
    order_class: NStr = Field(default=None, alias="class")
    option_symbol: NStr = None
    tag: NStr = None
    reason_description: NStr = None

    @property
    def is_final(self) -> bool:
        """True when the order can no longer change (filled, expired, canceled, rejected, error)."""
        return self.status in ORDER_STATUSES_FINAL


class OrderAck(TradierModel):
    """Tradier accepted an order (status "ok" means accepted, not filled); `recovered` is True when the order was
    found by its tag after a failed or timed-out submission instead of being placed again."""

    id: int
    status: str
    partner_id: NStr = None
    tag: NStr = None
    recovered: bool = False


class OrderPreview(TradierModel):
    """The answer of an order preview (`preview=true`): validation and cost, nothing placed, no id."""

    status: str
    result: bool | None = None
    commission: NFloat = None
    cost: NFloat = None
    fees: NFloat = None
    order_cost: NFloat = None
    margin_change: NFloat = None
    symbol: NStr = None
    option_symbol: NStr = None
    quantity: NFloat = None
    side: NStr = None
    type: NStr = None
    duration: NStr = None
    price: NFloat = None
    order_class: NStr = Field(default=None, alias="class")
    request_date: NStr = None


class TradierAccount(TradierModel):
    """One account of the user profile."""

    account_number: str
    classification: NStr = None
    status: NStr = None
    type: NStr = None
    option_level: NFloat = None
    day_trader: bool | None = None


class Profile(TradierModel):
    """The user profile: id, name and accounts."""

    id: NStr = None
    name: NStr = None
    accounts: list[TradierAccount] = Field(default_factory=list)
