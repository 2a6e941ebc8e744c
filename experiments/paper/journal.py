"""The paper session's files: an append-only JSONL journal of every decision and order, and state.json.

state.json (written atomically after every bar) holds what a restart needs: the bar reached, the engine's
positions, working orders and counters, the kill-switch state and the day's starting equity. Positions and
orders are stored as plain JSON (dates as ISO strings, enums as their codes).
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
    """journal.jsonl of one session: one JSON object per line, each with `event`, `at` (wall time, UTC)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # hear each event once it is written

    def __call__(self, event: str, **data: Any) -> None:
        """Append one event, then pass it to the listeners."""
        record = {"event": event, "at": pd.Timestamp.now(tz="UTC").isoformat(), **data}
        append_jsonl(self.path, record)
        for listener in self.listeners:
            listener(record)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every event (or those of one kind), oldest first."""
        return [e for e in read_jsonl(self.path) if kind is None or e.get("event") == kind]


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


def trades_from_journal(events: list[dict[str, Any]]) -> pd.DataFrame:
    """The session's closed trades (journal `trade` events) as a trades frame, numbered in order."""
    rows = [{k: e["trade"].get(k) for k in TRADE_COLUMNS} for e in events if e.get("event") == "trade"]
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
