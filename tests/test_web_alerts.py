"""Alerts delivered to a real HTTP receiver on 127.0.0.1: each event once (remembered on disk across restarts),
retried with backoff after a failure, in the webhook's format, failures recorded and shown on the overview, and
the dispatcher thread of the app delivering on its own."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agents.cost_ledger import CostLedger, default_ledger_path
from agents.sink import Source
from experiments.files import atomic_write_json
from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.paper.journal import save_state
from experiments.promotion.gate import promote
from experiments.web.alerts import AlertDispatcher, AlertsError, load_alerts
from experiments.web.app import create_app
from tests.web_fixtures import BASE, TOKEN


class Receiver:
    """A webhook receiver: records every JSON body; answers 500 to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.calls += 1
                if outer.calls <= outer.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append({"path": self.path, **json.loads(raw)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture()
def home(tmp_path: Path) -> Iterator[Path]:
    set_home(tmp_path)
    (tmp_path / "base_spec.yaml").write_text(BASE, encoding="utf-8")
    yield tmp_path
    set_home(None)


def _config(home: Path, hooks: str, extra: str = "") -> None:
    (home / "alerts.yaml").write_text(f"webhooks:\n{hooks}failures_in_a_row: 2\nretries: 3\nbackoff_s: 0.01\n"
                                      f"timeout_s: 2\ninterval_s: 0.05\n{extra}")


def _dead_pid() -> int:
    pid = 999_999
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


def _passing_run(home: Path, run_id: str) -> None:
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    (d / "spec.json").write_text(json.dumps({"hash": run_id[-6:], "spec": {"name": run_id}, "idea_id": None}))
    m = {"trades": 50, "pnl": 500.0, "pnl_pct": 10.0, "sharpe": 3.0, "days": 60, "return_skew": 0.0,
         "return_kurtosis": 3.0}
    (d / "metrics.json").write_text(json.dumps({"metrics": m, "baselines": {}}))
    (d / "holdout.json").write_text(json.dumps({"metrics": {"sharpe": 2.9}, "baselines": {}}))
    (home / "promotion.yaml").write_text("min_dsr: 0.0\nmust_beat_random: false\nmust_beat_buy_and_hold: false\n")


def test_each_event_is_sent_once_in_each_format(home: Path, receiver: Receiver) -> None:
    _config(home, f"  - {{name: ops, url: '{receiver.url}/json', format: json}}\n"
                  f"  - {{name: team, url: '{receiver.url}/slack', format: slack}}\n"
                  f"  - {{name: phone, url: '{receiver.url}/bot/sendMessage', format: telegram, chat_id: '42'}}\n")
    _passing_run(home, "20250101-000000-aaaaaa-0001")
    promote("20250101-000000-aaaaaa-0001", by="earlier")  # on disk before alerts start: seen, not sent
    d = AlertDispatcher(home, load_alerts(home))
    assert d.scan() == [] and receiver.bodies == []

    _passing_run(home, "20250102-000000-bbbbbb-0002")
    promote("20250102-000000-bbbbbb-0002", by="human:alice")
    atomic_write_json(home / "runs" / "optimizer_status.json", {
        "pid": _dead_pid(), "host": socket.gethostname(), "state": "running", "started": "2025-01-01T00:00:00+00:00",
        "heartbeat": "2025-01-01T00:00:00+00:00", "heartbeat_s": 15})
    q = IdeaQueue.from_home()
    for k in range(2):
        idea = q.propose(f"idea {k}", "", "", {"entry.momentum.lookback_bars": 11 + k}, Source(kind="human", name="t"))
        q.approve(idea.id, "human:t")
        q.start(idea.id, "w1")
        q.fail(idea.id, "w1", f"boom {k}\ntraceback lines")
    CostLedger(default_ledger_path(home)).record(model="m", usd=6.0, outcome="ok")
    save_state(home / "paper" / "replay-2025-01-02" / "state.json", {"bar": 12, "stopped": "max_daily_loss: -300"})

    keys = d.scan()
    kinds = sorted(k.split(":")[0] for k in keys)
    assert kinds == ["agent_cap", "demoted", "failures_in_a_row", "kill_switch", "optimizer_down", "promoted"]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for b in receiver.bodies:
        by_path.setdefault(b["path"], []).append(b)
    assert len(by_path["/json"]) == len(by_path["/slack"]) == len(by_path["/bot/sendMessage"]) == 6
    promoted = next(b for b in by_path["/json"] if b["event"] == "promoted")
    assert promoted["details"]["run_id"] == "20250102-000000-bbbbbb-0002" and "human:alice" in promoted["text"]
    assert set(by_path["/slack"][0]) == {"path", "text"}
    assert all(b["chat_id"] == "42" and b["text"].startswith("gaussian: ") for b in by_path["/bot/sendMessage"])
    fails = next(b for b in by_path["/json"] if b["event"] == "failures_in_a_row")
    assert fails["details"]["count"] == 2 and "boom 1" in fails["text"] and "traceback" not in fails["text"]

    assert d.scan() == [] and len(receiver.bodies) == 18
    again = AlertDispatcher(home, load_alerts(home))  # a restarted dashboard remembers what it sent
    assert again.scan() == [] and len(receiver.bodies) == 18


def test_delivery_is_retried_with_backoff(home: Path) -> None:
    flaky = Receiver(fail_first=2)
    try:
        _config(home, f"  - {{name: ops, url: '{flaky.url}/x'}}\n")
        d = AlertDispatcher(home, load_alerts(home), sleep=lambda s: waits.append(s))
        waits: list[float] = []
        d.scan()
        CostLedger(default_ledger_path(home)).record(model="m", usd=9.0, outcome="ok")
        assert [k.split(":")[0] for k in d.scan()] == ["agent_cap"]
        assert flaky.calls == 3 and len(flaky.bodies) == 1 and waits == [0.01, 0.02]
        state = json.loads((home / "alerts_state.json").read_text())
        assert state["failures"] == [] and next(iter(state["sent"].values()))["webhooks"] == {"ops": "delivered"}
    finally:
        flaky.close()


def test_failures_are_kept_and_shown_on_the_overview(home: Path, receiver: Receiver) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    closed = sock.getsockname()[1]
    sock.close()
    _config(home, f"  - {{name: down, url: 'http://127.0.0.1:{closed}/hook'}}\n"
                  f"  - {{name: up, url: '{receiver.url}/ok', events: [agent_cap]}}\n")
    d = AlertDispatcher(home, load_alerts(home), sleep=lambda s: None)
    d.scan()
    CostLedger(default_ledger_path(home)).record(model="m", usd=9.0, outcome="ok")
    d.scan()
    assert len(receiver.bodies) == 1
    state = json.loads((home / "alerts_state.json").read_text())
    assert len(state["failures"]) == 1 and state["failures"][0]["webhook"] == "down"
    assert d.scan() == []  # sent once: a failed delivery is recorded, not repeated forever
    with TestClient(create_app(home, TOKEN)) as client:
        doc = client.get("/api/v1/overview").json()
        assert any("alert delivery failed: webhook down: agent_cap" in h["message"] for h in doc["health"])
        page = client.get("/").text
        assert "webhook down: agent_cap" in page and f"127.0.0.1:{closed}" not in page


def test_the_app_delivers_from_its_own_thread(home: Path, receiver: Receiver) -> None:
    _config(home, f"  - {{name: ops, url: '{receiver.url}/t'}}\n")
    with TestClient(create_app(home, TOKEN, alerts=True)) as client:
        deadline = time.monotonic() + 60
        while not (home / "alerts_state.json").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        CostLedger(default_ledger_path(home)).record(model="m", usd=9.0, outcome="ok")
        while client.get("/api/v1/alerts").json()["sent"] < 1 and time.monotonic() < deadline:
            assert client.get("/api/v1/overview").status_code == 200  # pages keep answering meanwhile
            time.sleep(0.05)
        # delivered first, then recorded as sent: once recorded, the receiver has it
        assert client.get("/api/v1/alerts").json()["sent"] == 1
        assert [b["event"] for b in receiver.bodies] == ["agent_cap"]


@pytest.mark.parametrize("text, needle", [
    ("webhooks:\n  - {name: a, url: 'ftp://x/y'}\n", "must start with http"),
    ("webhooks:\n  - {name: a, url: 'http://x/y', format: teams}\n", "webhooks.0.format"),
    ("webhooks:\n  - {name: a, url: 'http://x/y', format: telegram}\n", "needs a chat_id"),
    ("webhooks: []\nretries: 0\n", "retries"),
    ("webhooks: []\nsurprise: 1\n", "'surprise' is not a known field"),
])
def test_a_bad_alerts_file_is_one_clear_error(home: Path, text: str, needle: str) -> None:
    (home / "alerts.yaml").write_text(text)
    with pytest.raises(AlertsError, match="alerts.yaml") as err:
        load_alerts(home)
    assert needle in str(err.value)
