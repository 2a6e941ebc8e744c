"""The local Tradier server's account: cash, option positions and orders, filled against the replayed quotes.

Market orders fill at once at the current ask (buy) or bid (sell). Limit orders fill when marketable (buy: ask
<= limit, at the ask; sell: bid >= limit, at the bid), at submission or on a later bar. Day orders expire when
the session changes; positions in expired options settle at intrinsic value from the underlying's last close on
or before the expiry date.
"""
from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from trader.broker.tradier_sim_market import SimMarketView
from trader.broker.tradier_sim_shapes import num
from trader.errors import OptionSymbolError
from trader.options import parse_occ

SIDES = ("buy_to_open", "sell_to_close")
TYPES = ("market", "limit")
DURATIONS = ("day", "gtc")
_TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")


class SimReject(Exception):
    """An order the server refuses: `status` 400 for a bad parameter, 200 for a business rejection."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _iso(ts: pd.Timestamp) -> str:
    utc = ts.tz_convert("UTC")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass
class SimOrder:
    """One order held by the server."""

    id: int
    tag: str | None
    option_symbol: str
    underlying: str
    side: str
    quantity: int
    type: str
    duration: str
    price: float | None
    created: pd.Timestamp
    session: dt.date
    status: str = "open"
    updated: pd.Timestamp | None = None
    exec_quantity: float = 0.0
    avg_fill_price: float = 0.0
    reason: str | None = None

    def to_wire(self, include_tag: bool) -> dict[str, Any]:
        """The order as Tradier lists it."""
        out: dict[str, Any] = {
            "id": self.id, "type": self.type, "symbol": self.underlying, "side": self.side,
            "quantity": float(self.quantity), "status": self.status, "duration": self.duration,
            "avg_fill_price": num(self.avg_fill_price), "exec_quantity": float(self.exec_quantity),
            "last_fill_price": num(self.avg_fill_price), "last_fill_quantity": float(self.exec_quantity),
            "remaining_quantity": float(self.quantity - self.exec_quantity if self.status in ("open", "pending")
                                        else 0.0),
            "create_date": _iso(self.created), "transaction_date": _iso(self.updated or self.created),
            "class": "option", "option_symbol": self.option_symbol,
        }
        if self.price is not None:
            out["price"] = self.price
        if self.reason:
            out["reason_description"] = self.reason
        if include_tag and self.tag:
            out["tag"] = self.tag
        return out


@dataclass
class SimPosition:
    """One open option position (long only)."""

    id: int
    symbol: str
    quantity: int
    cost_basis: float
    acquired: pd.Timestamp

    def to_wire(self) -> dict[str, Any]:
        """The position as Tradier lists it."""
        return {"cost_basis": round(self.cost_basis, 2), "date_acquired": _iso(self.acquired), "id": self.id,
                "quantity": float(self.quantity), "symbol": self.symbol}


@dataclass
class SimAccount:
    """Cash, positions and orders of the one simulated account."""

    account_id: str
    cash: float
    account_type: str = "margin"
    commission_per_contract: float = 0.0
    orders: dict[int, SimOrder] = field(default_factory=dict)
    positions: dict[str, SimPosition] = field(default_factory=dict)
    realized: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)
    _order_ids: Any = field(default_factory=lambda: itertools.count(228749))
    _position_ids: Any = field(default_factory=lambda: itertools.count(130089))

    # --------------------------------------------------------------------------------------- queries
    def open_orders(self) -> list[SimOrder]:
        """Orders still working."""
        return [o for o in self.orders.values() if o.status == "open"]

    def reserved_cash(self) -> float:
        """Cash held for working buy orders (limit price x 100 x qty plus commission)."""
        return sum((o.price or 0.0) * 100 * o.quantity + self._commission(o.quantity)
                   for o in self.open_orders() if o.side == "buy_to_open")

    def buying_power(self) -> float:
        """Cash available for option premium."""
        return self.cash - self.reserved_cash()

    def _commission(self, qty: int) -> float:
        return self.commission_per_contract * qty

    def by_tag(self, tag: str) -> SimOrder | None:
        """The order with this tag, if any (for tests)."""
        return next((o for o in self.orders.values() if o.tag == tag), None)

    # ------------------------------------------------------------------------------------- submission
    def check(self, form: dict[str, str], view: SimMarketView, i: int) -> dict[str, Any]:
        """Validate an order form like Tradier would; returns the parsed order fields or raises SimReject."""
        missing = [k for k in ("class", "symbol", "option_symbol", "side", "quantity", "type", "duration")
                   if not form.get(k)]
        if missing:
            raise SimReject(400, f"Missing required parameter(s): {', '.join(missing)}.")
        if form["class"] != "option":
            raise SimReject(400, f"class is invalid for this server: {form['class']} (only option orders).")
        symbol = form["option_symbol"].upper()
        try:
            contract = parse_occ(symbol)
        except OptionSymbolError:
            raise SimReject(400, f"Invalid parameter, option_symbol: {symbol} is not an OCC symbol.") from None
        if contract.root != form["symbol"].upper():
            raise SimReject(400, f"option_symbol {symbol} does not belong to symbol {form['symbol']}.")
        side, otype, duration = form["side"], form["type"], form["duration"]
        if side not in SIDES:
            raise SimReject(400, f"side is invalid for this server: {side} (buy_to_open or sell_to_close).")
        if otype not in TYPES:
            raise SimReject(400, f"type is invalid for class option: {otype} (market or limit here).")
        if duration not in DURATIONS:
            raise SimReject(400, f"duration is invalid: {duration} (day or gtc here).")
        try:
            qty = int(form["quantity"])
        except ValueError:
            raise SimReject(400, f"IncorrectOrderQuantity: quantity {form['quantity']!r} is not a whole number.") \
                from None
        if qty <= 0:
            raise SimReject(400, f"IncorrectOrderQuantity: quantity {qty} must be positive.")
        price = None
        if otype == "limit":
            try:
                price = float(form.get("price", ""))
            except ValueError:
                price = None
            if price is None or not price > 0:
                raise SimReject(400, "price is required and must be positive for a limit order.")
        tag = form.get("tag") or None
        if tag is not None and not _TAG.match(tag):
            raise SimReject(400, "tag may only contain letters, digits and '-' (at most 255).")
        quote = view.option_bid_ask(i, symbol)
        if quote is None:
            raise SimReject(400, f"Invalid parameter, {symbol}: symbol not found or not tradable now.")
        bid, ask = quote
        if side == "buy_to_open":
            cost = (ask if otype == "market" else price or 0.0) * 100 * qty + self._commission(qty)
            if cost > self.buying_power() + 1e-9:
                raise SimReject(200, "You do not have enough buying power for this trade.")
        else:
            held = self.positions[symbol].quantity if symbol in self.positions else 0
            pending = sum(o.quantity for o in self.open_orders()
                          if o.side == "sell_to_close" and o.option_symbol == symbol)
            if qty > held - pending:
                raise SimReject(200, f"Sell to close quantity {qty} is more than the {held - pending} "
                                     f"contract(s) of {symbol} held and not already being sold.")
        return {"symbol": symbol, "underlying": contract.root, "side": side, "qty": qty, "type": otype,
                "duration": duration, "price": price, "tag": tag, "bid": bid, "ask": ask}

    def preview(self, form: dict[str, str], view: SimMarketView, i: int) -> dict[str, Any]:
        """The preview body of a valid order (nothing is placed)."""
        f = self.check(form, view, i)
        unit = f["price"] if f["type"] == "limit" else (f["ask"] if f["side"] == "buy_to_open" else f["bid"])
        order_cost = unit * 100 * f["qty"]
        commission = self._commission(f["qty"])
        sign = 1.0 if f["side"] == "buy_to_open" else -1.0
        return {"order": {
            "status": "ok", "commission": commission, "cost": round(sign * order_cost + commission, 4),
            "fees": 0, "symbol": f["underlying"], "option_symbol": f["symbol"], "quantity": f["qty"],
            "side": f["side"], "type": f["type"], "duration": f["duration"], "result": True,
            "price": f["price"], "order_cost": round(order_cost, 4), "margin_change": 0,
            "request_date": view.now(i).tz_localize(None).strftime("%Y-%m-%dT%H:%M:%S.000"),
            "extended_hours": False, "class": "option", "strategy": "option", "day_trades": 0}}

    def submit(self, form: dict[str, str], view: SimMarketView, i: int) -> dict[str, Any]:
        """Place a valid order (market orders fill now); returns Tradier's {"order": {id, status ok}} body."""
        f = self.check(form, view, i)
        now = view.now(i)
        order = SimOrder(id=next(self._order_ids), tag=f["tag"], option_symbol=f["symbol"],
                         underlying=f["underlying"], side=f["side"], quantity=f["qty"], type=f["type"],
                         duration=f["duration"], price=f["price"], created=now, session=view.dates[i])
        self.orders[order.id] = order
        self._try_fill(order, f["bid"], f["ask"], now)
        return {"order": {"id": order.id, "status": "ok", "partner_id": f"sim-{order.id}"}}

    def cancel(self, order_id: int, now: pd.Timestamp) -> tuple[int, dict[str, Any] | str]:
        """Cancel a working order: (200, body), or a 4xx with Tradier's finalized-state text."""
        order = self.orders.get(order_id)
        if order is None:
            return 404, {"errors": {"error": f"Order {order_id} not found."}}
        if order.status != "open":
            return 400, {"errors": {"error": f"order already in finalized state: {order.status}"}}
        order.status = "canceled"
        order.updated = now
        return 200, {"order": {"id": order.id, "status": "ok"}}

    # ------------------------------------------------------------------------------------------- fills
    def _try_fill(self, order: SimOrder, bid: float, ask: float, now: pd.Timestamp) -> bool:
        buy = order.side == "buy_to_open"
        if order.type == "market":
            price = ask if buy else bid
        elif buy and ask <= (order.price or 0.0) + 1e-9:
            price = ask
        elif not buy and bid >= (order.price or 0.0) - 1e-9 and bid > 0:
            price = bid
        else:
            return False
        self._fill(order, float(price), now)
        return True

    def _fill(self, order: SimOrder, price: float, now: pd.Timestamp) -> None:
        qty = order.quantity
        premium = price * 100 * qty
        commission = self._commission(qty)
        if order.side == "buy_to_open":
            self.cash -= premium + commission
            pos = self.positions.get(order.option_symbol)
            if pos is None:
                self.positions[order.option_symbol] = SimPosition(next(self._position_ids), order.option_symbol, qty,
                                                                  premium, now)
            else:
                pos.quantity += qty
                pos.cost_basis += premium
        else:
            pos = self.positions[order.option_symbol]
            cost = pos.cost_basis * qty / pos.quantity
            self.cash += premium - commission
            self.realized += premium - commission - cost
            pos.quantity -= qty
            pos.cost_basis -= cost
            if pos.quantity == 0:
                del self.positions[order.option_symbol]
        order.status = "filled"
        order.exec_quantity = float(qty)
        order.avg_fill_price = price
        order.updated = now

    # ---------------------------------------------------------------------------------------- the clock
    def on_bar(self, view: SimMarketView, i: int, new_session: bool) -> None:
        """Bring the account to bar i: at a new session expire day orders and settle expired options, then
        fill marketable limit orders."""
        now = view.now(i)
        day = view.dates[i]
        if new_session:
            for order in self.open_orders():
                if (order.duration == "day" and order.session < day) or parse_occ(order.option_symbol).expiry < day:
                    order.status = "expired"
                    order.updated = now
            for symbol in [s for s in self.positions if parse_occ(s).expiry < day]:
                self._settle(view, i, symbol, now)
        for order in self.open_orders():
            quote = view.option_bid_ask(i, order.option_symbol)
            if quote is not None:
                self._try_fill(order, quote[0], quote[1], now)

    def _settle(self, view: SimMarketView, i: int, symbol: str, now: pd.Timestamp) -> None:
        c = parse_occ(symbol)
        spot = view.last_close_on_or_before(c.expiry, i)
        intrinsic = max(spot - c.strike, 0.0) if c.right == "C" else max(c.strike - spot, 0.0)
        pos = self.positions.pop(symbol)
        value = intrinsic * 100 * pos.quantity
        self.cash += value
        self.realized += value - pos.cost_basis
        self.events.append({"event": "expiration", "symbol": symbol, "quantity": pos.quantity,
                            "settlement": round(intrinsic, 4), "underlying_close": spot, "time": str(now)})

    # ------------------------------------------------------------------------------------------ balances
    def balances(self, view: SimMarketView, i: int) -> dict[str, Any]:
        """Tradier's balances body: positions marked at the quote mid of bar i (cost when unquotable)."""
        value = 0.0
        cost = 0.0
        for pos in self.positions.values():
            quote = view.option_bid_ask(i, pos.symbol)
            mark = (quote[0] + quote[1]) / 2.0 if quote else pos.cost_basis / (100 * pos.quantity)
            value += mark * 100 * pos.quantity
            cost += pos.cost_basis
        power = self.buying_power()
        body: dict[str, Any] = {
            "option_short_value": 0, "total_equity": round(self.cash + value, 2), "account_number": self.account_id,
            "account_type": self.account_type, "close_pl": round(self.realized, 2), "current_requirement": 0,
            "equity": 0, "long_market_value": round(value, 2), "market_value": round(value, 2),
            "open_pl": round(value - cost, 2), "option_long_value": round(value, 2), "option_requirement": 0,
            "pending_orders_count": len(self.open_orders()), "short_market_value": 0, "stock_long_value": 0,
            "total_cash": round(self.cash, 2), "uncleared_funds": 0, "pending_cash": 0,
        }
        if self.account_type == "cash":
            body["cash"] = {"cash_available": round(power, 2), "sweep": 0, "unsettled_funds": 0}
        else:
            body["margin"] = {"fed_call": 0, "maintenance_call": 0, "option_buying_power": round(power, 2),
                              "stock_buying_power": round(2 * power, 2), "stock_short_value": 0, "sweep": 0}
        return {"balances": body}

    def order_list(self, include_tags: bool, day: dt.date | None, page: int | None,
                   limit: int | None) -> list[dict[str, Any]]:
        """Orders as Tradier lists them: `day` keeps that session's orders and any still working (None: all);
        page/limit paginate."""
        items = [o for o in self.orders.values() if day is None or o.session == day or o.status == "open"]
        if page is not None or limit is not None:
            size = limit or 25
            start = ((page or 1) - 1) * size
            items = items[start:start + size]
        return [o.to_wire(include_tags) for o in items]
