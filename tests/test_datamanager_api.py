"""The Data Manager's bot API against SQLite and a real PostgreSQL, over HTTP on 127.0.0.1: registration, the
auth matrix, idempotent trades, size and rate limits, the leaderboard, exports, pages, and keys never leaking."""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from experiments.spec.io import load_spec, spec_hash
from experiments.web.datamanager.tables import bots, trades
from tests.datamanager_fixtures import (  # noqa: F401 - fixtures
    ADMIN,
    LiveDM,
    backend_fixture,
    dm_fixture,
    pg_fixture,
    spec_bot,
    trade,
)

KEYED = ("trade", "metrics", "heartbeat")


def _body(kind: str, n: int = 1) -> dict:
    if kind == "trade":
        return trade(n)
    if kind == "metrics":
        return {"client_metrics_id": f"m-{n}", "time": "2024-01-02T16:00:00+00:00", "values": {"pnl": 1.5}}
    return {"status": "running"}


def _error(r: httpx.Response, status: int, rule: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(r.json()) == {"error"} and err["status"] == status and err["rule"] == rule, err
    if field is not None:
        assert err["field"] == field, err
    assert err["message"]
    return err


def test_registering_needs_the_admin_token_and_shows_the_key_once(dm: LiveDM) -> None:
    body = spec_bot("alpha")
    _error(dm.http.post("/api/v1/bots/register", json=body), 401, "admin_token_missing", "Authorization")
    _error(dm.http.post("/api/v1/bots/register", json=body, headers={"Authorization": "Bearer nope"}), 401,
           "admin_token_invalid")
    r = dm.http.post("/api/v1/bots/register", json=body, headers={"X-Admin-Token": ADMIN})
    assert r.status_code == 201, r.text
    out = r.json()
    key = out["api_key"]
    assert key.startswith("dm_") and out["config_hash"] == body["config_hash"]
    assert out["config_kind"] == "experiment_spec"
    engine = dm.app.state.datamanager.engine
    with engine.connect() as conn:
        row = conn.execute(select(bots)).one()
    assert row.key_hash.startswith("$argon2id$") and key not in row.key_hash and key[3:19] == row.key_id
    _error(dm.http.post("/api/v1/bots/register", json=body, headers=dm.admin()), 409, "name_taken", "name")
    shown = dm.http.get(f"/api/v1/bots/{out['bot_id']}").json()
    assert shown["name"] == "alpha" and "api_key" not in shown and "key_hash" not in shown


def test_registration_validates_the_spec_and_its_hash(dm: LiveDM) -> None:
    body = spec_bot("beta")
    bad = json.loads(json.dumps(body))
    bad["config"]["experiment_spec"]["entry"]["type"] = "telepathy"
    err = _error(dm.http.post("/api/v1/bots/register", json=bad, headers=dm.admin()), 422, "invalid_spec",
                 "config.experiment_spec")
    assert "entry.type" in err["message"]
    wrong = {**body, "config_hash": "0123456789abcdef"}
    err = _error(dm.http.post("/api/v1/bots/register", json=wrong, headers=dm.admin()), 422,
                 "config_hash_mismatch", "config_hash")
    assert body["config_hash"] in err["message"]
    _error(dm.http.post("/api/v1/bots/register", json={**body, "admin": True}, headers=dm.admin()), 422,
           "unknown_field", "admin")
    _error(dm.http.post("/api/v1/bots/register", json={k: v for k, v in body.items() if k != "owner"},
                        headers=dm.admin()), 422, "missing_field", "owner")
    # a config that is not a spec is hashed as canonical JSON
    import hashlib

    other = {"strategy": "hand-written", "threshold": 0.6}
    digest = hashlib.sha256(json.dumps(other, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
    out = dm.register("gamma", other, config_hash=digest)
    assert out["config_kind"] == "other"


def test_the_auth_matrix(dm: LiveDM) -> None:
    a, b = dm.register("a"), dm.register("b", config=spec_bot("b", "seed=3")["config"],
                                         config_hash=spec_bot("b", "seed=3")["config_hash"])
    ka, kb = {"X-API-Key": a["api_key"]}, {"X-API-Key": b["api_key"]}
    ida, idb = a["bot_id"], b["bot_id"]
    forged = "dm_" + a["api_key"][3:19] + "_" + "x" * 43  # a's key id with a wrong secret
    for n, kind in enumerate(KEYED):
        url = f"/api/v1/bots/{ida}/{kind}"
        assert dm.http.post(url, json=_body(kind, n), headers=ka).status_code in (200, 201)
        _error(dm.http.post(url, json=_body(kind, n)), 401, "api_key_missing", "X-API-Key")
        _error(dm.http.post(url, json=_body(kind, n), headers={"X-API-Key": "hello"}), 401, "api_key_invalid")
        _error(dm.http.post(url, json=_body(kind, n), headers={"X-API-Key": forged}), 401, "api_key_invalid")
        _error(dm.http.post(url, json=_body(kind, n), headers=kb), 403, "not_your_bot", "bot_id")
        _error(dm.http.post(f"/api/v1/bots/9999/{kind}", json=_body(kind, n), headers=ka), 404, "unknown_bot")
        _error(dm.http.post(f"/api/v1/bots/9999/{kind}", json=_body(kind, n)), 401, "api_key_missing")
    assert dm.http.get("/api/v1/bots/me", headers=kb).json()["bot_id"] == idb
    # admin actions need the admin token, not a bot key
    _error(dm.http.post(f"/api/v1/bots/{idb}/disable", headers=kb), 401, "admin_token_missing")
    # a disabled bot's key (verified and remembered a moment ago) stops working at once
    assert dm.http.post(f"/api/v1/bots/{idb}/heartbeat", json={}, headers=kb).status_code == 200
    assert dm.http.post(f"/api/v1/bots/{idb}/disable", headers=dm.admin()).json()["enabled"] is False
    _error(dm.http.post(f"/api/v1/bots/{idb}/heartbeat", json={}, headers=kb), 401, "bot_disabled")
    # a deleted bot's key too, and its trades are gone with it
    assert dm.http.delete(f"/api/v1/bots/{ida}", headers=dm.admin()).status_code == 204
    _error(dm.http.post(f"/api/v1/bots/{ida}/trade", json=trade(50), headers=ka), 401, "api_key_invalid")
    _error(dm.http.get(f"/api/v1/bots/{ida}"), 404, "unknown_bot", "bot_id")
    _error(dm.http.delete(f"/api/v1/bots/{ida}", headers=dm.admin()), 404, "unknown_bot")


def test_a_repeated_client_trade_id_is_stored_once(dm: LiveDM) -> None:
    bot = dm.register("idem")
    key, url = {"X-API-Key": bot["api_key"]}, f"/api/v1/bots/{bot['bot_id']}/trade"
    first = dm.http.post(url, json=trade(1), headers=key)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    again = dm.http.post(url, json=trade(1), headers=key)
    assert again.status_code == 200 and again.json() == {"trade_id": first.json()["trade_id"], "duplicate": True}
    _error(dm.http.post(url, json=trade(1, pnl=-3.0), headers=key), 409, "client_trade_id_reused",
           "client_trade_id")
    # concurrent retries of one trade: one row
    codes: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=dm.url, timeout=10) as c:
            codes.append(c.post(url, json=trade(2), headers=key).status_code)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 7 + [201]
    got = dm.http.get(f"/api/v1/bots/{bot['bot_id']}/trades").json()["trades"]
    assert [t["client_trade_id"] for t in got] == ["t-1", "t-2"] and got[0]["pnl"] == 10.0


def test_bad_fields_are_one_json_error_naming_the_field(dm: LiveDM) -> None:
    bot = dm.register("fields")
    key, url = {"X-API-Key": bot["api_key"]}, f"/api/v1/bots/{bot['bot_id']}/trade"
    cases = [({"quantity": 0}, "quantity"), ({"time": "2024-01-02T10:00:00"}, "time"),
             ({"action": "HODL"}, "action"), ({"symbol": "spy; drop"}, "symbol"), ({"price": -1}, "price"),
             ({"client_trade_id": ""}, "client_trade_id")]
    for change, field in cases:
        _error(dm.http.post(url, json={**trade(9), **change}, headers=key), 422, "invalid_field", field)
    nan = json.dumps(trade(9)).replace('"pnl": 10.0', '"pnl": NaN')
    _error(dm.http.post(url, content=nan, headers={**key, "content-type": "application/json"}), 422,
           "invalid_field", "pnl")
    _error(dm.http.post(url, content="{not json", headers={**key, "content-type": "application/json"}), 422,
           "invalid_json", "body")
    assert dm.http.get(f"/api/v1/bots/{bot['bot_id']}/trades").json()["trades"] == []


def test_bodies_over_the_limit_are_refused(dm: LiveDM) -> None:
    bot = dm.register("big")
    key, url = {"X-API-Key": bot["api_key"]}, f"/api/v1/bots/{bot['bot_id']}/trade"
    huge = trade(1, extra={f"k{i}": "x" * 100 for i in range(60)})
    _error(dm.http.post(url, json=huge, headers=key), 413, "body_too_large", "body")

    def chunks():  # no Content-Length: the limit holds on the bytes read
        blob = json.dumps(huge).encode()
        for i in range(0, len(blob), 512):
            yield blob[i:i + 512]

    _error(dm.http.post(url, content=chunks(), headers={**key, "content-type": "application/json"}), 413,
           "body_too_large")
    _error(dm.http.post("/api/v1/bots/register", json={**spec_bot("x"), "owner": "o" * 5000}, headers=dm.admin()),
           413, "body_too_large")
    assert dm.http.post(url, json=trade(1), headers=key).status_code == 201


def test_the_rate_limit_is_per_key_with_retry_after(dm: LiveDM) -> None:
    a, b = dm.register("fast"), dm.register("slow", config=spec_bot("s", "seed=5")["config"],
                                            config_hash=spec_bot("s", "seed=5")["config_hash"])
    url = f"/api/v1/bots/{a['bot_id']}/heartbeat"
    codes = [dm.http.post(url, json={}, headers={"X-API-Key": a["api_key"]}) for _ in range(40)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and sum(r.status_code == 200 for r in codes) >= 20  # the burst (20) passes
    err = _error(limited[0], 429, "rate_limited", "X-API-Key")
    assert int(limited[0].headers["Retry-After"]) >= 1 and "retry in" in err["message"]
    other = dm.http.post(f"/api/v1/bots/{b['bot_id']}/heartbeat", json={}, headers={"X-API-Key": b["api_key"]})
    assert other.status_code == 200


def test_the_leaderboard_ranks_by_metric_and_window(dm: LiveDM) -> None:
    ids = {}
    pnls = {"steady": [5.0, 6.0, 4.0, 5.0], "lucky": [50.0, -20.0, -15.0], "busy": [1.0, -1.0] * 4}
    for n, (name, values) in enumerate(pnls.items()):
        reg = spec_bot(name, f"seed={n + 10}")
        bot = dm.register(name, config=reg["config"], config_hash=reg["config_hash"])
        ids[name] = bot["bot_id"]
        for i, p in enumerate(values):
            r = dm.http.post(f"/api/v1/bots/{bot['bot_id']}/trade", json=trade(i, pnl=p),
                             headers={"X-API-Key": bot["api_key"]})
            assert r.status_code == 201

    def order(metric: str, **params: object) -> list[str]:
        doc = dm.http.get("/api/v1/leaderboard", params={"metric": metric, **params}).json()
        assert [row["rank"] for row in doc["bots"]] == list(range(1, len(doc["bots"]) + 1))
        return [row["name"] for row in doc["bots"]]

    assert order("total_pnl") == ["steady", "lucky", "busy"]
    assert order("trades") == ["busy", "steady", "lucky"]
    assert order("win_rate") == ["steady", "busy", "lucky"]
    assert order("sharpe")[0] == "steady"
    board = {r["name"]: r for r in dm.http.get("/api/v1/leaderboard").json()["bots"]}
    assert board["lucky"]["total_pnl"] == 15.0 and board["busy"]["win_rate"] == 0.5
    # the window counts trades received within it: age steady's trades by two days
    engine = dm.app.state.datamanager.engine
    with engine.begin() as conn:
        conn.execute(update(trades).where(trades.c.bot_id == ids["steady"])
                     .values(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=48)))
    assert order("total_pnl", hours=24) == ["lucky", "busy", "steady"]
    assert order("total_pnl", hours=72)[0] == "steady"
    _error(dm.http.get("/api/v1/leaderboard", params={"metric": "vibes"}), 422, "invalid_field", "metric")
    _error(dm.http.get("/api/v1/leaderboard", params={"hours": -1}), 422, "invalid_field", "hours")
    dm.http.post(f"/api/v1/bots/{ids['busy']}/disable", headers=dm.admin())
    assert "busy" not in order("trades")


def test_the_export_is_a_spec_with_the_same_hash(dm: LiveDM, tmp_path: Path) -> None:
    reg = spec_bot("replica", "entry.type=momentum", "cycles=300", "costs.latency_bars=0")
    bot = dm.register("replica", config=reg["config"], config_hash=reg["config_hash"])
    r = dm.http.get(f"/api/v1/bots/{bot['bot_id']}/config/export")
    assert r.status_code == 200 and f"bot-{bot['bot_id']}-{reg['config_hash']}.json" in r.headers[
        "content-disposition"]
    path = tmp_path / "exported.json"
    path.write_bytes(r.content)
    assert spec_hash(load_spec(path)) == reg["config_hash"]
    assert bot["api_key"] not in r.text


def test_pages_show_bots_leaderboard_trades_and_replicate(dm: LiveDM, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot = dm.register("paged")
    key = {"X-API-Key": bot["api_key"]}
    for i, p in enumerate([3.0, -1.0, 4.0]):
        dm.http.post(f"/api/v1/bots/{bot['bot_id']}/trade", json=trade(i, pnl=p), headers=key)
    dm.http.post(f"/api/v1/bots/{bot['bot_id']}/heartbeat", json={"status": "trading"}, headers=key)
    listing = dm.http.get("/datamanager/")
    assert listing.status_code == 200
    h = spec_bot("paged")["config_hash"]
    assert "paged" in listing.text and "trading" in listing.text and h in listing.text
    board = dm.http.get("/datamanager/leaderboard", params={"metric": "win_rate", "hours": "24"})
    assert board.status_code == 200 and "66.7%" in board.text and 'value="win_rate" selected' in board.text
    page = dm.http.get(f"/datamanager/bots/{bot['bot_id']}")
    assert page.status_code == 200 and "<polyline" in page.text and "t-2" in page.text
    link = f"/api/v1/bots/{bot['bot_id']}/config/export"
    assert f'href="{link}" download' in page.text
    assert dm.http.get(link).headers["content-disposition"].startswith("attachment")
    # keys appear in no page, no read and no log line
    reads = [listing, board, page] + [dm.http.get(u) for u in (
        "/api/v1/bots", f"/api/v1/bots/{bot['bot_id']}", f"/api/v1/bots/{bot['bot_id']}/trades",
        "/api/v1/leaderboard", link, f"/api/v1/bots/{bot['bot_id']}/metrics")]
    for r in reads:
        assert r.status_code == 200 and bot["api_key"] not in r.text and bot["api_key"][20:] not in r.text
    assert bot["api_key"] not in caplog.text and ADMIN not in caplog.text
