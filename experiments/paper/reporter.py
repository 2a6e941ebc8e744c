"""BotReporter: tells a Data Manager what a bot does (registration, closed trades, end-of-day metrics,
heartbeats) without ever blocking the trading loop and without losing a report.

Every report is first written to a durable outbox (a SQLite file) and returns at once; one background thread
sends the outbox in order, retrying with exponential backoff (and the server's Retry-After) while the Data
Manager is down or busy. A report the server refuses for good (a bad field, a revoked key) moves to the outbox's
`dead` table with the reason, so it is never retried blindly and never silently dropped. Trades and metrics carry
client ids the server deduplicates, so a report sent again after a crash is counted once. Speaks HTTP only:
nothing of the server's code is imported. Keys never reach a log line.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from trader.errors import GaussianError

log = logging.getLogger("gaussian.reporter")
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class ReporterError(GaussianError):
    """The reporter is configured wrongly."""


def trade_report(trade: dict[str, Any], session: str) -> dict[str, Any]:
    """A closed trade (a journal record) as the Data Manager's trade body; its client id is a digest of the
    session and the trade, so reporting the same trade again is recognised (its trade_id, a count of the trades
    one process closed, is left out: a restart that redoes a bar closes the same trade under another count)."""
    same = {k: v for k, v in trade.items() if k != "trade_id"}
    digest = hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode()).hexdigest()[:20]
    action = "BUY_CALL" if str(trade.get("right")) == "C" else "BUY_PUT"
    extra = {k: trade.get(k) for k in ("entry_time", "exit_price", "exit_reason", "fees", "hold_minutes",
                                       "strategy", "pnl_pct") if trade.get(k) is not None}
    return {"client_trade_id": f"{session}/{digest}", "symbol": str(trade["symbol"]), "action": action,
            "quantity": int(trade["contracts"]), "price": float(trade["entry_price"]), "pnl": float(trade["pnl"]),
            "time": str(trade["exit_time"]), "extra": extra}


class Outbox:
    """The durable, ordered queue of reports (SQLite, WAL): `items` waiting, `dead` refused for good."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS items (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                             "kind TEXT NOT NULL, bot TEXT NOT NULL, body TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS dead (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                             "bot TEXT NOT NULL, body TEXT NOT NULL, status INTEGER, reason TEXT NOT NULL, "
                             "at REAL NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS identity (base_url TEXT NOT NULL, config_hash TEXT NOT "
                             "NULL, bot_id INTEGER NOT NULL, api_key TEXT NOT NULL, PRIMARY KEY (base_url, "
                             "config_hash))")
        os.chmod(self.path, 0o600)  # it may hold the bot's key

    def put(self, kind: str, bot: str, body: dict[str, Any]) -> None:
        """Queue a report for the bot of config hash `bot` (committed before this returns)."""
        with self._lock:
            self._db.execute("INSERT INTO items (kind, bot, body) VALUES (?, ?, ?)",
                             (kind, bot, json.dumps(body, default=str)))

    def head(self) -> tuple[int, str, str, dict[str, Any]] | None:
        """The oldest queued report: (seq, kind, bot, body)."""
        with self._lock:
            row = self._db.execute("SELECT seq, kind, bot, body FROM items ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else (row[0], row[1], row[2], json.loads(row[3]))

    def done(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE seq = ?", (seq,))

    def bury(self, seq: int, status: int | None, reason: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO dead SELECT seq, kind, bot, body, ?, ?, ? FROM items WHERE seq = ?",
                             (status, reason, time.time(), seq))
            self._db.execute("DELETE FROM items WHERE seq = ?", (seq,))
            self._db.execute("COMMIT")

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    def dead(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, body, status, reason FROM dead ORDER BY seq").fetchall()
        return [{"seq": s, "kind": k, "body": json.loads(b), "status": st, "reason": r} for s, k, b, st, r in rows]

    def identity(self, base_url: str, config_hash: str) -> tuple[int, str] | None:
        with self._lock:
            row = self._db.execute("SELECT bot_id, api_key FROM identity WHERE base_url = ? AND config_hash = ?",
                                   (base_url, config_hash)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def remember(self, base_url: str, config_hash: str, bot_id: int, api_key: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO identity VALUES (?, ?, ?, ?)",
                             (base_url, config_hash, bot_id, api_key))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Retry(Exception):
    def __init__(self, wait: float | None, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait


class _Refused(Exception):
    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class BotReporter:
    """Reports one bot to a Data Manager at `base_url` through the outbox at `outbox_path`.

    Identify with the bot's `api_key`, or give `admin_token` and call `register(...)`: the first registration
    of a config at a Data Manager stores the issued key in the outbox file (mode 0600) for later sessions.
    """

    def __init__(self, base_url: str, outbox_path: Path, *, api_key: str | None = None,
                 admin_token: str | None = None, timeout: float = 5.0, backoff_s: float = 0.25,
                 max_backoff_s: float = 30.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ReporterError(f"data_manager.base_url {base_url!r} must start with http:// or https://")
        if not api_key and not admin_token:
            raise ReporterError("data_manager needs api_key (a registered bot's key) or admin_token (to register "
                                "the promoted run's spec)")
        self.base_url = base_url.rstrip("/")
        self.outbox = Outbox(outbox_path)
        self._key = api_key
        self._admin = admin_token
        self._bot_id: int | None = None  # the api_key's bot and its config hash, once asked
        self._key_config = ""
        self._config_hash = ""
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bot-reporter", daemon=True)
        self.sent = 0

    def __repr__(self) -> str:
        return f"BotReporter({self.base_url!r}, bot={self._bot_id})"

    # ------------------------------------------------------------------------------ the loop's side
    def start(self) -> BotReporter:
        """Start sending (the outbox left by an earlier session drains first, in order)."""
        self._thread.start()
        return self

    def register(self, config: dict[str, Any], config_hash: str, name: str, owner: str) -> None:
        """Queue the bot's registration (done once per config and Data Manager; with an api_key, the server is
        asked to confirm the key's bot runs this config). Call it before any report."""
        self._config_hash = config_hash
        self.outbox.put("register", config_hash, {"name": name, "owner": owner, "config": config, "config_hash": config_hash})
        self._wake.set()

    def report_trade(self, body: dict[str, Any]) -> None:
        """Queue a trade (the Data Manager's trade body, with its client_trade_id)."""
        self.outbox.put("trade", self._for(), body)
        self._wake.set()

    def report_metrics(self, client_metrics_id: str, at: str, values: dict[str, Any]) -> None:
        """Queue a metrics report; values that are not plain numbers, text or booleans are left out."""
        clean = {k: v for k, v in values.items()
                 if isinstance(v, (int, str, bool)) or (isinstance(v, float) and math.isfinite(v))}
        self.outbox.put("metrics", self._for(), {"client_metrics_id": client_metrics_id, "time": at, "values": clean})
        self._wake.set()

    def heartbeat(self, status: str) -> None:
        """Queue a heartbeat."""
        self.outbox.put("heartbeat", self._for(), {"status": status})
        self._wake.set()

    def _for(self) -> str:
        if not self._config_hash and not self._key:
            raise ReporterError("register() the bot's config before reporting (no api_key was given)")
        return self._config_hash

    def on_journal_event(self, event: dict[str, Any], session: str) -> None:
        """A paper session's journal listener: every closed trade is reported."""
        if event.get("event") != "trade":
            return
        try:
            self.report_trade(trade_report(event["trade"], session))
        except sqlite3.Error as exc:  # the trade stays in the session's journal; the loop goes on
            log.error("could not queue a trade report in %s: %s", self.outbox.path, exc)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the outbox to empty; True when it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outbox.pending() == 0:
                return True
            self._wake.set()
            time.sleep(0.05)
        return self.outbox.pending() == 0

    def close(self, timeout: float = 5.0) -> int:
        """Try to send what is queued for up to `timeout` seconds, then stop; what is left stays in the outbox
        for the next session. Returns the number left."""
        if self._thread.is_alive():
            self.flush(timeout)
            self._stop.set()
            self._wake.set()
            self._thread.join(timeout=max(1.0, timeout))
        left = self.outbox.pending()
        self._http.close()
        self.outbox.close()
        return left

    # ------------------------------------------------------------------------------ the sender's side
    def _loop(self) -> None:
        delay = self.backoff_s
        while not self._stop.is_set():
            item = self.outbox.head()
            if item is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            seq, kind, bot, body = item
            try:
                self._send(kind, bot, body)
            except _Retry as exc:
                wait = exc.wait if exc.wait is not None else delay
                log.warning("Data Manager unavailable (%s); retrying in %.2f s", exc, wait)
                delay = min(self.max_backoff_s, delay * 2)
                self._stop.wait(wait)
                continue
            except _Refused as exc:
                log.error("Data Manager refused a %s report for good (%s); kept in the outbox's dead table", kind,
                          exc)
                self.outbox.bury(seq, exc.status, str(exc))
                continue
            self.outbox.done(seq)
            self.sent += 1
            delay = self.backoff_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            resp = self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _Retry(None, type(exc).__name__) from None
        if resp.status_code in RETRY_STATUSES:
            after = resp.headers.get("retry-after")
            wait = float(after) if after and after.replace(".", "", 1).isdigit() else None
            raise _Retry(wait, f"HTTP {resp.status_code}")
        if resp.status_code >= 400:
            raise _Refused(resp.status_code, _reason(resp))
        return resp

    def _identity(self, config_hash: str) -> tuple[int, str]:
        """(bot id, key) a report of the bot with this config hash is sent as."""
        if self._key:
            if self._bot_id is None:
                doc = self._call("GET", "/api/v1/bots/me", headers={"X-API-Key": self._key}).json()
                self._bot_id, self._key_config = int(doc["bot_id"]), str(doc["config_hash"])
            if config_hash and config_hash != self._key_config:
                raise _Refused(409, f"the key's bot {self._bot_id} runs config {self._key_config}, not "
                               f"{config_hash}: register this config as a new bot")
            return self._bot_id, self._key
        known = self.outbox.identity(self.base_url, config_hash)
        if known is None:
            raise _Refused(None, f"the bot of config {config_hash} is not registered (its registration was refused)")
        return known

    def _send(self, kind: str, config_hash: str, body: dict[str, Any]) -> None:
        if kind == "register":
            if self._key:  # a given key: its bot must run this config
                bot, key = self._identity(config_hash)
                self._call("POST", f"/api/v1/bots/{bot}/heartbeat", {"status": "registered",
                                                                     "config_hash": config_hash},
                           headers={"X-API-Key": key})
            elif self.outbox.identity(self.base_url, config_hash) is None:
                doc = self._call("POST", "/api/v1/bots/register", body,
                                 headers={"Authorization": f"Bearer {self._admin}"}).json()
                self.outbox.remember(self.base_url, config_hash, int(doc["bot_id"]), str(doc["api_key"]))
            return
        bot, key = self._identity(config_hash)
        self._call("POST", f"/api/v1/bots/{bot}/{kind}", body, headers={"X-API-Key": key})


def _reason(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error") or {}
        return f"HTTP {resp.status_code} {err.get('rule', '')}: {err.get('message', '')}".strip()
    except (ValueError, AttributeError):
        return f"HTTP {resp.status_code}"
