"""The paper session's files: an append-only JSONL journal of every decision and order, and state.json.

state.json (written atomically after every bar) holds what a restart needs: the bar reached, the engine's
positions, working orders and counters, the kill-switch state, the day's starting equity and `journal_seq`, the
sequence number of the journal's last event when it was written. A process killed between the two writes leaves
journal events past `journal_seq` (the tail of an interrupted bar); the restart settles them (session.py) and
a `rollback` event lists the ones it voids, which readers then skip. Positions and orders are stored as plain
JSON (dates as ISO strings, enums as their codes).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.files import append_jsonl, atomic_write_json, read_jsonl
from trader.domain import TRADE_COLUMNS, EntryContext, ExitReason, Order, Position, Side, Trade
from trader.errors import StateError

STATE_VERSION = 1


class Journal:
    """journal.jsonl of one session: one JSON object per line, each with `event`, `at` (wall time, UTC) and
    `seq` (1, 2, ... in the order written; events of journals written before it have none)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # hear each event once it is written
        self.seq = max((int(e.get("seq") or 0) for e in read_jsonl(path)), default=0)

    def __call__(self, event: str, **data: Any) -> None:
        """Append one event, then pass it to the listeners."""
        self.seq += 1
        record = {"event": event, "at": pd.Timestamp.now(tz="UTC").isoformat(), "seq": self.seq, **data}
        append_jsonl(self.path, record)
        for listener in self.listeners:
            listener(record)

    def all_events(self) -> list[dict[str, Any]]:
        """Every event written, voided ones included (an order id journaled once is used for good)."""
        return read_jsonl(self.path)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event that stands (or those of one kind), oldest first: the ones a rollback voided are left out."""
        every = self.all_events()
        void = {int(s) for e in every if e.get("event") == "rollback" for s in e.get("voided", ())}
        return [e for e in every if (kind is None or e.get("event") == kind) and e.get("seq") not in void]

    def tail(self, after_seq: int) -> list[dict[str, Any]]:
        """The standing events written after sequence number `after_seq` (those state.json does not cover)."""
        return [e for e in self.events() if int(e.get("seq") or 0) > after_seq]


# ------------------------------------------------------------------------------------------ positions
def context_to_json(c: EntryContext) -> dict[str, Any]:
    """An EntryContext as JSON."""
    d = asdict(c)
    d["signals"] = list(c.signals)
    return d


def context_from_json(d: dict[str, Any]) -> EntryContext:
    """An EntryContext back from JSON."""
    return EntryContext(**{**d, "signals": tuple(d.get("signals") or ())})


def position_to_json(p: Position) -> dict[str, Any]:
    """A Position as JSON."""
    d = asdict(p)
    d["expiry"] = p.expiry.isoformat()
    d["entry_time"] = pd.Timestamp(p.entry_time).isoformat()
    d["context"] = context_to_json(p.context)
    return d


def position_from_json(d: dict[str, Any]) -> Position:
    """A Position back from JSON."""
    return Position(**{**d, "expiry": dt.date.fromisoformat(d["expiry"]), "entry_time": pd.Timestamp(d["entry_time"]),
                       "context": context_from_json(d["context"])})


def order_to_json(order: Order, meta: dict[str, Any], tradier_id: int | None = None) -> dict[str, Any]:
    """A working order and the engine's note about it as JSON."""
    m = dict(meta)
    if "expiry" in m:
        m["expiry"] = m["expiry"].isoformat()
    if "context" in m:
        m["context"] = context_to_json(m["context"])
    if "reason" in m:
        m["reason"] = m["reason"].value if isinstance(m["reason"], ExitReason) else m["reason"]
    return {"order_id": order.order_id, "symbol": order.symbol, "side": order.side.value,
            "contracts": order.contracts, "submitted_at": pd.Timestamp(order.submitted_at).isoformat(),
            "tag": order.tag, "meta": m, "tradier_id": tradier_id}


def order_from_json(d: dict[str, Any]) -> tuple[Order, dict[str, Any], int | None]:
    """(order, meta, Tradier id) back from JSON."""
    m = dict(d["meta"])
    if "expiry" in m:
        m["expiry"] = dt.date.fromisoformat(m["expiry"])
    if "context" in m:
        m["context"] = context_from_json(m["context"])
    if "reason" in m:
        m["reason"] = ExitReason(m["reason"])
    order = Order(int(d["order_id"]), d["symbol"], Side(d["side"]), int(d["contracts"]),
                  pd.Timestamp(d["submitted_at"]), tag=d.get("tag", ""))
    return order, m, d.get("tradier_id")


# ------------------------------------------------------------------------------------------------ state
def save_state(path: Path, doc: dict[str, Any]) -> None:
    """Write state.json atomically."""
    atomic_write_json(path, {"version": STATE_VERSION, **doc})


def load_state(path: Path) -> dict[str, Any] | None:
    """state.json, or None when the session has none yet."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StateError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if doc.get("version") != STATE_VERSION:
        raise StateError(f"{path} has state version {doc.get('version')!r}, expected {STATE_VERSION}")
    return doc


# ------------------------------------------------------------------------------------------ trades
def trade_to_json(t: Trade) -> dict[str, Any]:
    """A closed trade as a journal record."""
    rec = t.to_record()
    for k in ("entry_time", "exit_time", "expiry"):
        rec[k] = pd.Timestamp(rec[k]).isoformat()
    return rec


def trade_key(trade: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies one position's round trip in the journal: the contract, size, entry time and price (the
    engine opens at most one position a bar). A close the broker reports again after a restart has the same key."""
    return (trade.get("symbol"), trade.get("entry_time"), trade.get("contracts"), trade.get("entry_price"))


def trades_from_journal(events: list[dict[str, Any]]) -> pd.DataFrame:
    """The session's closed trades (journal `trade` events, each position's first) as a trades frame, numbered
    in order."""
    first: dict[tuple[Any, ...], dict[str, Any]] = {}
    for e in events:
        if e.get("event") == "trade":
            first.setdefault(trade_key(e["trade"]), e["trade"])
    rows = [{k: t.get(k) for k in TRADE_COLUMNS} for t in first.values()]
    if not rows:
        return pd.DataFrame(columns=TRADE_COLUMNS)
    frame = pd.DataFrame(rows, columns=TRADE_COLUMNS)
    frame["trade_id"] = range(1, len(frame) + 1)
    for k in ("entry_time", "exit_time"):
        frame[k] = pd.to_datetime(frame[k], utc=True).dt.tz_convert("America/New_York")
    frame["expiry"] = pd.to_datetime(frame["expiry"])
    return frame


def equity_from_journal(events: list[dict[str, Any]]) -> pd.DataFrame:
    """The per-bar equity rows (journal `bar` events; a bar processed twice keeps its last row)."""
    rows = {e["bar"]: e for e in events if e.get("event") == "bar"}
    cols = ["equity", "cash", "open_value", "n_open"]
    if not rows:
        return pd.DataFrame(columns=cols, index=pd.DatetimeIndex([], tz="America/New_York", name="timestamp"))
    ordered = [rows[k] for k in sorted(rows)]
    index = pd.DatetimeIndex([pd.Timestamp(r["time"]) for r in ordered], name="timestamp")
    frame = pd.DataFrame({c: [float(r[c]) for r in ordered] for c in cols}, index=index)
    frame["n_open"] = frame["n_open"].astype("int32")
    return frame
