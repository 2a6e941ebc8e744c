"""BotReporter against a Data Manager in its own process: reports never block, the server is killed mid-session
and restarted, and every trade arrives exactly once, in order; the outbox survives the reporter too."""
from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from experiments.paper.reporter import BotReporter, ReporterError, trade_report
from tests.datamanager_fixtures import ADMIN, spec_bot, trade
from tests.dm_server import spawn
from tests.pg_cluster import free_port


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _trades(url: str, bot_id: int) -> list[str]:
    doc = httpx.get(f"{url}/api/v1/bots/{bot_id}/trades", timeout=10).json()
    return [t["client_trade_id"] for t in doc["trades"]]


def _reporter(url: str, outbox: Path, **kw) -> BotReporter:
    return BotReporter(url, outbox, backoff_s=0.05, max_backoff_s=0.4, timeout=2.0, **kw)


def test_every_trade_arrives_once_across_a_killed_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home, outbox = tmp_path / "dm", tmp_path / "outbox.sqlite"
    reg = spec_bot("survivor")
    server = spawn(home, port, ADMIN)
    try:
        rep = _reporter(url, outbox, admin_token=ADMIN)
        rep.register(reg["config"], reg["config_hash"], "survivor", "tester")
        rep.start()
        for n in range(10):
            rep.report_trade(trade(n))
        assert rep.flush(20)
        bot_id = httpx.get(f"{url}/api/v1/bots").json()["bots"][0]["bot_id"]
        assert _trades(url, bot_id) == [f"t-{n}" for n in range(10)]

        server.kill()  # mid-session, no goodbye
        server.wait(10)
        waits = [_timed(rep.report_trade, trade(n)) for n in range(10, 20)]
        waits.append(_timed(rep.report_metrics, "s1/eod", "2024-01-02T16:00:00+00:00", {"pnl": 12.5, "x": None}))
        assert max(waits) < 0.25, waits  # queued on disk, never waiting for the network
        time.sleep(0.6)  # the sender retries against the dead port meanwhile
        assert rep.outbox.pending() == 11

        server = spawn(home, port, ADMIN)
        assert rep.flush(30)
        assert _trades(url, bot_id) == [f"t-{n}" for n in range(20)]
        # a report sent again (an acknowledgement lost in a crash) is counted once
        rep.report_trade(trade(5))
        assert rep.flush(10)
        assert len(_trades(url, bot_id)) == 20

        # the reporter itself stops while the server is down: the outbox keeps what is left for the next one
        server.kill()
        server.wait(10)
        for n in range(20, 25):
            rep.report_trade(trade(n))
        assert rep.close(0.3) == 5
        server = spawn(home, port, ADMIN)
        again = _reporter(url, outbox, admin_token=ADMIN)
        again.register(reg["config"], reg["config_hash"], "survivor", "tester")  # known: not registered twice
        again.start()
        again.report_trade({**trade(25), "action": "HODL"})  # refused for good: set aside, not blocking
        again.report_trade(trade(26))
        assert again.flush(30)
        assert _trades(url, bot_id) == [f"t-{n}" for n in (*range(25), 26)]
        dead = again.outbox.dead()
        assert [d["body"]["client_trade_id"] for d in dead] == ["t-25"] and dead[0]["status"] == 422
        assert "action" in dead[0]["reason"]
        bots = httpx.get(f"{url}/api/v1/bots").json()["bots"]
        assert len(bots) == 1 and bots[0]["config_hash"] == reg["config_hash"]
        metrics = httpx.get(f"{url}/api/v1/bots/{bot_id}/metrics").json()["metrics"]
        assert [m["client_metrics_id"] for m in metrics] == ["s1/eod"] and metrics[0]["values"] == {"pnl": 12.5}
        again.close(1.0)
    finally:
        server.kill()
        server.wait(10)


def test_a_bot_key_must_match_the_reported_config(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = spawn(tmp_path / "dm", port, ADMIN)
    try:
        reg = spec_bot("keyed")
        out = httpx.post(f"{url}/api/v1/bots/register", json=reg, headers={"Authorization": f"Bearer {ADMIN}"}).json()
        rep = _reporter(url, tmp_path / "a.sqlite", api_key=out["api_key"])
        rep.register(reg["config"], reg["config_hash"], "ignored", "ignored")
        rep.start()
        rep.report_trade(trade(1))
        assert rep.flush(15) and _trades(url, out["bot_id"]) == ["t-1"]
        rep.close()
        other = spec_bot("other", "seed=9")
        rep = _reporter(url, tmp_path / "b.sqlite", api_key=out["api_key"])
        rep.register(other["config"], other["config_hash"], "ignored", "ignored")
        rep.start()
        rep.report_trade(trade(2))
        assert rep.flush(15)
        assert _trades(url, out["bot_id"]) == ["t-1"]  # not mixed into a bot running another config
        assert {d["kind"] for d in rep.outbox.dead()} == {"register", "trade"}
        assert all(out["api_key"] not in d["reason"] for d in rep.outbox.dead())
        rep.close()
    finally:
        server.kill()
        server.wait(10)


def test_reporter_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ReporterError, match="base_url"):
        BotReporter("ftp://x", tmp_path / "o.sqlite", api_key="k")
    with pytest.raises(ReporterError, match="api_key"):
        BotReporter("http://127.0.0.1:1", tmp_path / "o.sqlite")
    rep = BotReporter("http://127.0.0.1:1", tmp_path / "o.sqlite", admin_token="adm-SECRET-55")
    with pytest.raises(ReporterError, match="register"):
        rep.report_trade(trade(1))
    assert "SECRET" not in repr(rep)
    rep.close()


def test_a_closed_trade_becomes_one_stable_report() -> None:
    rec = {"trade_id": 3, "symbol": "SPY240103C00470000", "right": "C", "contracts": 2, "entry_price": 1.5,
           "exit_price": 1.9, "pnl": 78.7, "exit_time": "2024-01-03T15:01:00+00:00",
           "entry_time": "2024-01-03T14:31:00+00:00", "exit_reason": "take_profit", "strategy": "momentum"}
    body = trade_report(rec, "replay-2024-01-03")
    assert body["client_trade_id"] == trade_report(dict(rec), "replay-2024-01-03")["client_trade_id"]
    assert body["client_trade_id"] != trade_report({**rec, "pnl": 1.0}, "replay-2024-01-03")["client_trade_id"]
    # the same trade closed again by a process that redid the bar after a kill (its own count of trades differs)
    assert body["client_trade_id"] == trade_report({**rec, "trade_id": 1}, "replay-2024-01-03")["client_trade_id"]
    assert body["action"] == "BUY_CALL" and body["quantity"] == 2 and body["extra"]["exit_reason"] == "take_profit"
    assert trade_report({**rec, "right": "P"}, "s")["action"] == "BUY_PUT"
