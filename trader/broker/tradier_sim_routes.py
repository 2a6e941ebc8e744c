"""Request routing of the local Tradier server: one function per endpoint, Tradier's paths and parameters."""
from __future__ import annotations

import re
from typing import Any, Protocol

from trader.broker.tradier_sim_account import SimAccount, SimReject
from trader.broker.tradier_sim_market import SimMarketView
from trader.broker.tradier_sim_shapes import Reply, envelope, error_reply, json_reply


class SimCore(Protocol):
    """What the routes read and move on the simulator (TradierSim provides it)."""

    view: SimMarketView
    account: SimAccount
    exhausted: bool

    @property
    def index(self) -> int: ...

    def advance(self, n: int = 1) -> int: ...

    def state(self) -> dict[str, Any]: ...


_ACCOUNT = re.compile(r"^/accounts/([^/]+)/(balances|positions|orders)(?:/(\d+))?$")


def _flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "false").strip().lower() == "true"


def _int(params: dict[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        out = int(value)
    except ValueError:
        raise SimReject(400, f"Invalid parameter, {name}: {value!r} is not a whole number.") from None
    if out < 1:
        raise SimReject(400, f"Invalid parameter, {name}: must be at least 1.")
    return out


def route(sim: SimCore, method: str, path: str, params: dict[str, str]) -> Reply:
    """Answer one authenticated request (path includes /v1); 404/405 for unknown paths or methods."""
    p = path[3:] if path.startswith("/v1/") else path
    try:
        return _route(sim, method, p, params)
    except SimReject as exc:
        return error_reply(exc.status, exc.message)


def _route(sim: SimCore, method: str, p: str, params: dict[str, str]) -> Reply:
    view, i = sim.view, sim.index
    if p.startswith("/markets/"):
        if p == "/markets/quotes" and method in ("GET", "POST"):
            if not params.get("symbols"):
                return error_reply(400, "Invalid parameter, symbols: required.")
            return view.quotes(i, params["symbols"], _flag(params, "greeks"))
        if method != "GET":
            return Reply(405, "Method Not Allowed")
        if p == "/markets/clock":
            return view.clock(i, sim.exhausted)
        symbol = params.get("symbol", "")
        if p in ("/markets/options/expirations", "/markets/options/chains", "/markets/options/strikes",
                 "/markets/timesales", "/markets/history") and not symbol:
            return error_reply(400, "Invalid parameter, symbol: required.")
        if p == "/markets/options/expirations":
            detailed = any(_flag(params, k) for k in ("strikes", "contractSize", "expirationType"))
            return view.expirations(i, symbol, detailed)
        if p == "/markets/options/chains":
            return view.chain(i, symbol, params.get("expiration", ""), _flag(params, "greeks"))
        if p == "/markets/options/strikes":
            return view.strikes(i, symbol, params.get("expiration", ""))
        if p == "/markets/timesales":
            return view.timesales(i, symbol, params.get("interval", "tick"), params.get("start"), params.get("end"))
        if p == "/markets/history":
            return view.history(i, symbol, params.get("interval", "daily"), params.get("start"), params.get("end"))
        return Reply(404, "Not Found")
    if p == "/user/profile" and method == "GET":
        acct = sim.account
        return json_reply({"profile": {
            "account": {"account_number": acct.account_id, "classification": "individual",
                        "date_created": "2024-01-02T14:30:00.000Z", "day_trader": False, "option_level": 2,
                        "status": "active", "type": acct.account_type,
                        "last_update_date": "2024-01-02T14:30:00.000Z"},
            "id": "id-sim", "name": "Local Simulator"}})
    if p == "/sim/advance" and method == "POST":
        steps = _int(params, "n") or 1
        sim.advance(steps)
        return json_reply({"sim": sim.state()})
    if p == "/sim/state" and method == "GET":
        return json_reply({"sim": sim.state()})
    match = _ACCOUNT.match(p)
    if match is None:
        return Reply(404, "Not Found")
    account_id, what, order_id = match.groups()
    if account_id != sim.account.account_id:
        return error_reply(400, f"Invalid parameter, account_id: {account_id} is not an account of this user.")
    return _account(sim, method, what, order_id, params)


def _account(sim: SimCore, method: str, what: str, order_id: str | None, params: dict[str, str]) -> Reply:
    acct, view, i = sim.account, sim.view, sim.index
    empty = view.empty_style or "string"
    if what == "balances" and method == "GET":
        return json_reply(acct.balances(view, i))
    if what == "positions" and method == "GET":
        items = [p.to_wire() for p in acct.positions.values()]
        return json_reply({"positions": envelope("position", items, empty)})
    if what != "orders":
        return Reply(405, "Method Not Allowed")
    include_tags = _flag(params, "includeTags")
    if order_id is None:
        if method == "GET":
            flt = params.get("filter", "intraday")
            day = None if flt == "all" else view.dates[i]
            items = acct.order_list(include_tags, day, _int(params, "page"), _int(params, "limit"))
            return json_reply({"orders": envelope("order", items, empty)})
        if method == "POST":
            if _flag(params, "preview"):
                return json_reply(acct.preview(params, view, i))
            return json_reply(acct.submit(params, view, i))
        return Reply(405, "Method Not Allowed")
    oid = int(order_id)
    if method == "GET":
        order = acct.orders.get(oid)
        if order is None:
            return error_reply(404, f"Order {oid} not found.")
        return json_reply({"order": order.to_wire(include_tags)})
    if method == "DELETE":
        status, body = acct.cancel(oid, view.now(i))
        return Reply(status, body)
    return Reply(405, "Method Not Allowed")
