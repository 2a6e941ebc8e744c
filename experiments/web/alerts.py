"""Alerts for unattended use: events read from the home's files, each delivered once to the webhooks listed in
`<home>/alerts.yaml`, with retries and backoff, from a thread of the dashboard (never inside the optimizer).

alerts.yaml:

    webhooks:
      - {name: team, url: "https://hooks.slack.com/...", format: slack}      # {"text": ...}; discord the same
      - {name: ops, url: "http://127.0.0.1:9000/hook", format: json}        # the whole event as JSON
      - {name: phone, url: "https://api.telegram.org/bot<T>/sendMessage", format: telegram, chat_id: "42"}
    failures_in_a_row: 3        # alert after this many failed experiments in a row
    retries: 4                  # delivery attempts per webhook and event
    backoff_s: 2.0              # first wait between attempts (doubled each time)

Events (each with a key that names it once): the optimizer died or stalled; N experiments failed in a row; the
agent's daily spending cap reached; a model promoted or demoted; a paper kill switch fired. Sent keys are kept in
`<home>/alerts_state.json` so a restart never sends an event twice; delivery failures are kept there (and
logged) for the overview. Promotions and kill switches already on disk when alerts first start are recorded as
seen, not sent. Webhook URLs (which can hold a bot token) are never shown: a webhook is named by `name`.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import yaml
from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from experiments.files import atomic_write_json, read_jsonl
from experiments.home import queue_path
from experiments.ideas.models import Status
from experiments.optimizer.status import optimizer_liveness, read_optimizer_status
from experiments.paper.journal import load_state
from experiments.promotion.gate import history_path
from experiments.spec.io import describe_validation_error
from trader.errors import GaussianError, StateError

log = logging.getLogger("gaussian.alerts")
ALERTS_FILE = "alerts.yaml"
STATE_FILE = "alerts_state.json"
KEEP_FAILURES = 50
EventKind = Literal["optimizer_down", "failures_in_a_row", "agent_cap", "promoted", "demoted", "kill_switch"]


class AlertsError(GaussianError):
    """alerts.yaml is malformed: unknown fields, a bad URL or format, or values out of range."""


class Webhook(BaseModel):
    """One receiver: where to POST, in which body format, and (optionally) which events it wants."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    url: str = Field(min_length=8, max_length=2000)
    format: Literal["json", "slack", "discord", "telegram"] = "json"
    chat_id: str | None = Field(None, max_length=100, description="telegram: the chat to send to")
    events: list[EventKind] | None = Field(None, description="only these events (default: all)")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class AlertsConfig(BaseModel):
    """alerts.yaml: the webhooks and how eager and persistent delivery is."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[Webhook] = Field(default_factory=list)
    failures_in_a_row: int = Field(3, ge=1, le=1000)
    retries: int = Field(4, ge=1, le=20)
    backoff_s: float = Field(2.0, ge=0.0, le=600.0)
    timeout_s: float = Field(10.0, gt=0.0, le=120.0)
    interval_s: float = Field(15.0, ge=0.05, le=3600.0, description="seconds between looks at the home")


def alerts_path(home: Path) -> Path:
    """<home>/alerts.yaml."""
    return Path(home) / ALERTS_FILE


def load_alerts(home: Path) -> AlertsConfig | None:
    """The home's alerts.yaml, or None when there is none; a malformed file is an AlertsError naming the field."""
    p = alerts_path(home)
    if not p.exists():
        return None
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise AlertsError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise AlertsError(f"{p}: the alerts settings must be a mapping of fields")
    try:
        cfg = AlertsConfig.model_validate(data)
    except ValidationError as err:
        raise AlertsError(describe_validation_error(err, str(p))) from None
    names = [w.name for w in cfg.webhooks]
    if len(set(names)) != len(names):
        raise AlertsError(f"{p}: webhook names must be unique, got {names}")
    for w in cfg.webhooks:
        if w.format == "telegram" and not w.chat_id:
            raise AlertsError(f"{p}: webhook '{w.name}' uses the telegram format and needs a chat_id")
    return cfg


@dataclass(frozen=True)
class Event:
    """Something a person away from the screen should hear about; `key` names this occurrence once."""

    key: str
    kind: str
    text: str
    details: dict[str, Any] = field(default_factory=dict)
    history: bool = False  # read from a record of the past (promotions, kill switches), not a current state


# ----- detection -----------------------------------------------------------------------------------------------


def _optimizer_events(now: dt.datetime) -> list[Event]:
    doc = read_optimizer_status()
    if doc is None or doc.get("state") == "stopped":
        return []
    live = optimizer_liveness(doc, now)
    if live["running"]:
        return []
    return [Event(f"optimizer_down:{doc.get('started')}:{doc.get('pid')}", "optimizer_down",
                  f"gaussian: the optimizer is not running: {live['why']}",
                  {"pid": doc.get("pid"), "started": doc.get("started"), "why": live["why"]})]


def _failure_events(n: int) -> list[Event]:
    if not queue_path().exists():
        return []
    from experiments.ideas.store import QueueStore

    try:
        ideas = QueueStore(queue_path()).ideas()
    except StateError:
        return []  # the overview reports a damaged queue itself
    finished = sorted((i for i in ideas if i.status in (Status.DONE, Status.FAILED) and i.result),
                      key=lambda i: i.result.finished if i.result else dt.datetime.min)
    streak = []
    for i in reversed(finished):
        if i.status is not Status.FAILED:
            break
        streak.append(i)
    if len(streak) < n:
        return []
    first, last = streak[-1], streak[0]
    error = ((last.result.error if last.result else None) or "failed").splitlines()[0][:300]
    return [Event(f"failures_in_a_row:{first.id}", "failures_in_a_row",
                  f"gaussian: {len(streak)} experiments failed in a row (latest: idea {last.id}: {error})",
                  {"count": len(streak), "first": first.id, "latest": last.id, "error": error})]


def _agent_cap_events(home: Path) -> list[Event]:
    from agents.cost_ledger import CostLedger, default_ledger_path

    path = default_ledger_path(home)
    if not path.exists():
        return []
    try:
        st = CostLedger(path).status()
    except GaussianError:
        return []
    if not st.get("blocked"):
        return []
    return [Event(f"agent_cap:{st['day']}", "agent_cap",
                  f"gaussian: the agent's daily LLM spending cap is reached (${st['spent_today_usd']:.2f} of "
                  f"${st['daily_cap_usd']:.2f} on {st['day']}); no API calls until tomorrow (UTC)",
                  {"day": st["day"], "spent_usd": st["spent_today_usd"], "cap_usd": st["daily_cap_usd"]})]


def _promotion_events() -> list[Event]:
    try:
        records = read_jsonl(history_path())
    except StateError:
        return []
    out = []
    for r in records:
        action = r.get("action")
        if action == "promote":
            forced = " (forced)" if r.get("forced") else ""
            out.append(Event(f"promoted:{r.get('time')}:{r.get('run_id')}", "promoted",
                             f"gaussian: run {r.get('run_id')} was promoted{forced} by {r.get('by')}",
                             {"run_id": r.get("run_id"), "by": r.get("by"), "previous": r.get("previous")}, True))
        elif action == "demote":
            out.append(Event(f"demoted:{r.get('time')}:{r.get('run_id')}", "demoted",
                             f"gaussian: run {r.get('run_id')} was demoted (replaced by {r.get('replaced_by')})",
                             {"run_id": r.get("run_id"), "replaced_by": r.get("replaced_by")}, True))
    return out


def _kill_switch_events(home: Path) -> list[Event]:
    root = Path(home) / "paper"
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            state = load_state(d / "state.json") if d.is_dir() else None
        except StateError:
            continue
        reason = (state or {}).get("stopped")
        if reason:
            out.append(Event(f"kill_switch:{d.name}:{reason}", "kill_switch",
                             f"gaussian: a kill switch stopped paper session {d.name}: {reason}",
                             {"session": d.name, "reason": reason, "bar": (state or {}).get("bar")}, True))
    return out


def detect_events(home: Path, cfg: AlertsConfig, now: dt.datetime | None = None) -> list[Event]:
    """Every alert-worthy event the home's files show now (sent or not)."""
    now = now or dt.datetime.now(dt.UTC)
    return (_optimizer_events(now) + _failure_events(cfg.failures_in_a_row) + _agent_cap_events(home)
            + _promotion_events() + _kill_switch_events(home))


# ----- delivery ------------------------------------------------------------------------------------------------


def payload(hook: Webhook, event: Event, home: Path) -> dict[str, Any]:
    """The body POSTed to `hook` for `event`, in the hook's format."""
    if hook.format in ("slack", "discord"):
        return {"text": event.text}
    if hook.format == "telegram":
        return {"chat_id": hook.chat_id, "text": event.text}
    return {"event": event.kind, "key": event.key, "text": event.text, "details": event.details,
            "home": str(home), "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def deliver(hook: Webhook, body: dict[str, Any], cfg: AlertsConfig,
            sleep: Callable[[float], None] = time.sleep) -> str | None:
    """POST `body` with retries and exponential backoff; None when delivered, else the last error."""
    error = None
    for attempt in range(cfg.retries):
        if attempt:
            sleep(cfg.backoff_s * 2 ** (attempt - 1))
        try:
            r = httpx.post(hook.url, json=body, timeout=cfg.timeout_s)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
            continue
        if r.status_code < 300:
            return None
        error = f"HTTP {r.status_code}"
        if 400 <= r.status_code < 500 and r.status_code not in (408, 429):
            break  # a request the receiver refuses will not improve by retrying
    return error


class AlertState:
    """alerts_state.json: the keys sent (or seen) per event, and the latest delivery failures."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / STATE_FILE
        self.lock = FileLock(str(self.path) + ".lock", timeout=30)

    def read(self) -> dict[str, Any]:
        """The state document ({"sent": {}, "failures": []} when there is none)."""
        import json

        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"sent": {}, "failures": [], "started": None}
        except (OSError, ValueError) as exc:
            raise StateError(f"{self.path}: cannot be read ({exc}); move it aside to start alerts afresh") from None
        return doc

    def write(self, doc: dict[str, Any]) -> None:
        """Replace the state atomically."""
        doc["failures"] = doc.get("failures", [])[-KEEP_FAILURES:]
        atomic_write_json(self.path, doc)


class AlertDispatcher:
    """Looks at the home every `interval_s` and delivers new events; `scan()` does one look (tests call it)."""

    def __init__(self, home: Path, cfg: AlertsConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.home = Path(home)
        self.cfg = cfg
        self.state = AlertState(self.home)
        self._sleep = sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def scan(self, now: dt.datetime | None = None) -> list[str]:
        """Detect events and deliver each one not sent before; returns the keys handled by this look."""
        with self.state.lock:
            doc = self.state.read()
            first = doc.get("started") is None
            events = detect_events(self.home, self.cfg, now)
            sent = doc.setdefault("sent", {})
            new = [e for e in events if e.key not in sent]
            stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            if first:
                doc["started"] = stamp
                for e in [e for e in new if e.history]:
                    sent[e.key] = {"time": stamp, "seen_before_alerts_started": True}
                new = [e for e in new if not e.history]
            for e in new:
                results = {}
                for hook in self.cfg.webhooks:
                    if hook.events is not None and e.kind not in hook.events:
                        continue
                    error = deliver(hook, payload(hook, e, self.home), self.cfg, self._sleep)
                    results[hook.name] = "delivered" if error is None else f"failed: {error}"
                    if error is not None:
                        log.error("alert %s to webhook %s failed: %s", e.kind, hook.name, error)
                        doc.setdefault("failures", []).append({"time": stamp, "webhook": hook.name, "event": e.key,
                                                               "error": f"webhook {hook.name}: {e.kind}: {error}"})
                sent[e.key] = {"time": stamp, "kind": e.kind, "text": e.text, "webhooks": results}
            self.state.write(doc)
            return [e.key for e in new]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
                self.last_error = None
            except GaussianError as exc:  # a damaged file: report it, try again at the next look
                self.last_error = str(exc)
                log.error("alerts: %s", exc)
            self._stop.wait(self.cfg.interval_s)

    def start(self) -> None:
        """Run the looks in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="gaussian-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits for a look in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.cfg.timeout_s * self.cfg.retries + 5)


def alerts_summary(home: Path) -> dict[str, Any]:
    """For the overview: how many webhooks, how many events sent, the latest delivery failures (no URLs)."""
    try:
        cfg = load_alerts(home)
    except AlertsError as exc:
        return {"configured": 0, "sent": 0, "failures": [], "error": str(exc)}
    try:
        doc = AlertState(home).read()
    except StateError as exc:
        return {"configured": len(cfg.webhooks) if cfg else 0, "sent": 0, "failures": [], "error": str(exc)}
    sent = doc.get("sent", {})
    recent = sorted(((k, v) for k, v in sent.items() if "kind" in v), key=lambda kv: kv[1]["time"])[-10:]
    return {"configured": len(cfg.webhooks) if cfg else 0, "webhooks": [w.name for w in cfg.webhooks] if cfg else [],
            "sent": sum(1 for v in sent.values() if "kind" in v),
            "recent": [{"key": k, "time": v["time"], "text": v["text"], "webhooks": v["webhooks"]} for k, v in recent],
            "failures": doc.get("failures", [])[-10:], "error": None}
