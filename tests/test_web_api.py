"""The dashboard's JSON API and pages through FastAPI's TestClient over a real home: the same figures as the CLI,
404/422/401/403 with the id or field named and nothing stored, a damaged queue shown with its recover action,
no secret ever rendered, and the token rules."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from experiments.cli.main import cli
from experiments.home import set_home
from experiments.web.app import create_app
from experiments.web.auth import COOKIE, csrf_for, load_or_create_token
from tests.web_fixtures import RUN_A, RUN_B, TOKEN, build_home, copy_home

AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("web") / "template"
    ids = build_home(root, analyze=False)
    set_home(None)
    yield root, ids


@pytest.fixture()
def site(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[tuple[TestClient, Path, list[str]]]:
    root, ids = template
    home = copy_home(root, tmp_path / "home")
    with TestClient(create_app(home, TOKEN)) as client:
        yield client, home, list(ids.values())
    set_home(None)


def _queue_bytes(home: Path) -> bytes:
    return (home / "queue" / "ideas.json").read_bytes()


def test_api_returns_the_cli_figures(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    runner = CliRunner()
    cli_rows = json.loads(runner.invoke(cli, ["--home", str(home), "leaderboard", "--json"]).output)
    assert client.get("/api/v1/runs").json()["rows"] == json.loads(json.dumps(cli_rows))
    cli_status = json.loads(runner.invoke(cli, ["--home", str(home), "status", "--json"]).output)
    api = client.get("/api/v1/overview").json()
    assert api["queue"] == cli_status["queue"] == {**api["queue"], "proposed": 3}
    assert api["promoted"] == cli_status["promoted"] and api["health"] == cli_status["health"]
    cli_idea = json.loads(runner.invoke(cli, ["--home", str(home), "queue", "show", ids[0], "--json"]).output)
    api_idea = client.get(f"/api/v1/ideas/{ids[0]}").json()
    assert api_idea["idea"] == cli_idea["idea"]
    assert {d["field"]: [d["base"], d["idea"]] for d in api_idea["diff"]} == cli_idea["diff"]
    assert api_idea["actions"] == ["approve", "reject", "edit", "priority"]
    assert api_idea["analysis"] == {"run_id": RUN_A, "exists": False, "url": None}  # the template is not analysed
    listed = client.get("/api/v1/ideas", params={"status": "proposed"}).json()
    assert [i["id"] for i in listed["ideas"]] == ids and listed["counts"]["proposed"] == 3


def test_pages_render(site: tuple[TestClient, Path, list[str]]) -> None:
    client, _, ids = site
    for url in ("/", "/ideas", "/ideas?status=proposed", f"/ideas/{ids[0]}", "/runs", f"/runs/{RUN_A}",
                f"/compare?run={RUN_A}&run={RUN_B}", "/promotion", f"/promotion?run={RUN_B}", "/paper", "/login"):
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        assert "<nav class=\"top\">" in r.text and "Traceback" not in r.text
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    curves = client.get("/api/v1/compare", params=[("run", RUN_A), ("run", RUN_B)]).json()["curves"]
    assert [c["run_id"] for c in curves] == [RUN_A, RUN_B] and all(len(c["x"]) == len(c["y"]) > 100 for c in curves)
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()


@pytest.mark.parametrize("url", ["/api/v1/ideas/no-such-idea", "/ideas/no-such-idea"])
def test_unknown_idea_is_a_404_naming_it(site: tuple[TestClient, Path, list[str]], url: str) -> None:
    client, _, _ = site
    r = client.get(url)
    assert r.status_code == 404 and "no-such-idea" in r.text and "Traceback" not in r.text


@pytest.mark.parametrize("url", ["/api/v1/runs/20990101-000000-ffffff-0009", "/runs/20990101-000000-ffffff-0009",
                                 "/api/v1/runs/20990101-000000-ffffff-0009/equity",
                                 "/api/v1/promotion/check/20990101-000000-ffffff-0009"])
def test_unknown_run_is_a_404_naming_it(site: tuple[TestClient, Path, list[str]], url: str) -> None:
    client, _, _ = site
    r = client.get(url)
    assert r.status_code == 404 and "20990101-000000-ffffff-0009" in r.text


def test_run_files_stay_inside_the_run(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, _ = site
    (home / "secret.txt").write_text("nope")
    assert client.get(f"/runs/{RUN_A}/files/metrics.json").status_code == 200
    for rel in ("../../secret.txt", "..%2F..%2Fsecret.txt", "/etc/passwd"):
        assert client.get(f"/runs/{RUN_A}/files/{rel}").status_code == 404


def test_writes_need_the_token_and_change_nothing_without_it(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    before = _queue_bytes(home)
    for path, body in ((f"/api/v1/ideas/{ids[0]}/approve", {"note": "x"}),
                       (f"/api/v1/ideas/{ids[0]}/reject", {"note": "x"}),
                       (f"/api/v1/ideas/{ids[0]}/edit", {"set": {"entry.momentum.lookback_bars": 12}}),
                       (f"/api/v1/ideas/{ids[0]}/priority", {"priority": 5}),
                       ("/api/v1/promotion/promote", {"run": RUN_A}), ("/api/v1/queue/recover", {})):
        missing = client.post(path, json=body)
        assert missing.status_code == 401 and "token" in missing.json()["error"], path
        wrong = client.post(path, json=body, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 403, path
    assert _queue_bytes(home) == before
    assert not (home / "runs" / "promoted.json").exists() and not (home / "runs" / "promotions.jsonl").exists()


def test_form_posts_need_the_cookie_and_the_csrf_field(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    before = _queue_bytes(home)
    assert client.post(f"/ideas/{ids[0]}/approve", data={"note": "x"}).status_code == 401
    client.cookies.set(COOKIE, TOKEN)
    assert client.post(f"/ideas/{ids[0]}/approve", data={"note": "x"}).status_code == 403  # no CSRF field
    assert client.post(f"/ideas/{ids[0]}/approve", data={"note": "x", "csrf": "0" * 64}).status_code == 403
    client.cookies.set(COOKIE, "a-wrong-cookie-value")
    assert client.post(f"/ideas/{ids[0]}/approve", data={"note": "x", "csrf": csrf_for(TOKEN)}).status_code == 403
    assert _queue_bytes(home) == before
    client.cookies.set(COOKIE, TOKEN)
    ok = client.post(f"/ideas/{ids[0]}/approve", data={"note": "looks right", "csrf": csrf_for(TOKEN)},
                     follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith(f"/ideas/{ids[0]}")
    idea = client.get(f"/api/v1/ideas/{ids[0]}").json()["idea"]
    assert idea["status"] == "approved" and idea["history"][-1]["note"] == "looks right"
    assert idea["history"][-1]["actor"] == "human:web"


def test_login_sets_a_strict_httponly_cookie(site: tuple[TestClient, Path, list[str]]) -> None:
    client, _, ids = site
    assert client.post("/login", data={"token": "wrong"}).status_code == 403
    r = client.post("/login", data={"token": TOKEN, "next": f"/ideas/{ids[0]}"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/ideas/{ids[0]}"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get(f"/ideas/{ids[0]}").text
    assert csrf_for(TOKEN) in page and TOKEN not in page
    assert client.post("/login", data={"token": TOKEN, "next": "//evil.example"},
                       follow_redirects=False).headers["location"] == "/"


def test_review_actions_with_the_clis_rules(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    before = _queue_bytes(home)
    bad = client.post(f"/api/v1/ideas/{ids[1]}/edit", json={"set": {"entry.momentum.lookback_bars": -5}},
                      headers=AUTH)
    assert bad.status_code == 422
    assert "entry.momentum.lookback_bars" in bad.json()["error"] and "greater than or equal to 2" in bad.json()["error"]
    unknown = client.post(f"/api/v1/ideas/{ids[1]}/edit", json={"set": {"entry.nope": 1}}, headers=AUTH)
    assert unknown.status_code == 422 and "entry.nope" in unknown.json()["error"]
    no_note = client.post(f"/api/v1/ideas/{ids[1]}/reject", json={"note": "  "}, headers=AUTH)
    assert no_note.status_code == 422 and "needs a note" in no_note.json()["error"]
    prio = client.post(f"/api/v1/ideas/{ids[1]}/priority", json={"priority": 10**9}, headers=AUTH)
    assert prio.status_code == 422 and "between -1000000 and 1000000" in prio.json()["error"]
    text = client.post(f"/api/v1/ideas/{ids[1]}/priority", json={"priority": "high"}, headers=AUTH)
    assert text.status_code == 422 and "'high'" in text.json()["error"]
    extra = client.post(f"/api/v1/ideas/{ids[1]}/approve", json={"note": "x", "sneaky": 1}, headers=AUTH)
    assert extra.status_code == 422 and "sneaky" in extra.json()["error"]
    assert _queue_bytes(home) == before

    edited = client.post(f"/api/v1/ideas/{ids[1]}/edit", json={"set": ["exits.stop_loss_pct=0.6"], "note": "n"},
                         headers=AUTH)
    assert edited.status_code == 200 and edited.json()["changes"]["exits.stop_loss_pct"] == 0.6
    assert client.post(f"/api/v1/ideas/{ids[1]}/priority", json={"priority": 7}, headers=AUTH).json()["priority"] == 7
    rejected = client.post(f"/api/v1/ideas/{ids[1]}/reject", json={"note": "not now"}, headers=AUTH)
    assert rejected.json()["status"] == "rejected"
    again = client.post(f"/api/v1/ideas/{ids[1]}/approve", json={}, headers=AUTH)
    assert again.status_code == 409 and "only a proposed idea can be approved" in again.json()["error"]
    dup = client.post(f"/api/v1/ideas/{ids[2]}/edit", json={"set": {"entry.momentum.lookback_bars": 10}},
                      headers=AUTH)
    assert dup.status_code == 409 and ids[0] in dup.json()["error"]


def test_invalid_edit_in_the_page_shows_the_message(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    client.cookies.set(COOKIE, TOKEN)
    before = _queue_bytes(home)
    r = client.post(f"/ideas/{ids[2]}/edit", data={"field": "entry.momentum.lookback_bars", "value": "1",
                                                   "csrf": csrf_for(TOKEN)})
    assert r.status_code == 422 and "greater than or equal to 2" in r.text and 'id="action-error"' in r.text
    assert 'value="entry.momentum.lookback_bars"' in r.text  # the form keeps what was typed
    assert _queue_bytes(home) == before


def test_damaged_queue_offers_recover(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    client.post(f"/api/v1/ideas/{ids[0]}/priority", json={"priority": 3}, headers=AUTH)  # leaves a backup
    (home / "queue" / "ideas.json").write_text('{"ideas": {"1": {"id": ')
    page = client.get("/ideas")
    assert page.status_code == 503 and "cannot be read" in page.text and "Traceback" not in page.text
    assert "Sign in" in page.text and "recover" in page.text
    client.cookies.set(COOKIE, TOKEN)
    page = client.get(f"/ideas/{ids[0]}")
    assert page.status_code == 503 and 'action="/queue/recover"' in page.text
    api = client.get("/api/v1/ideas")
    assert api.status_code == 503 and api.json()["recover"] == "POST /api/v1/queue/recover"
    overview = client.get("/api/v1/overview")
    assert overview.status_code == 200 and any("cannot be read" in h["message"] for h in overview.json()["health"])
    r = client.post("/queue/recover", data={"csrf": csrf_for(TOKEN)}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/api/v1/ideas").json()["counts"]["proposed"] == 3


def test_no_secret_is_ever_rendered(site: tuple[TestClient, Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    client, home, ids = site
    secrets = {"ANTHROPIC_API_KEY": "sk-ant-secret-aaaa1111", "TRADIER_TOKEN": "tradier-secret-bbbb2222",
               "TRADIER_ACCOUNT_ID": "VA-secret-3333"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    (home / "alerts.yaml").write_text("webhooks:\n  - {name: phone, url: 'https://api.telegram.org/botSECRETBOT/"
                                      "sendMessage', format: telegram, chat_id: '1'}\n")
    client.cookies.set(COOKIE, TOKEN)
    urls = ["/", "/ideas", f"/ideas/{ids[0]}", "/runs", f"/runs/{RUN_A}", "/promotion", "/paper",
            "/api/v1/overview", "/api/v1/ideas", f"/api/v1/ideas/{ids[0]}", "/api/v1/runs", f"/api/v1/runs/{RUN_A}",
            "/api/v1/promotion", "/api/v1/alerts", "/api/v1/paper", "/api/openapi.json"]
    for url in urls:
        text = client.get(url).text
        for bad in [*secrets.values(), TOKEN, "SECRETBOT"]:
            assert bad not in text, (url, bad)
    assert client.get("/api/v1/alerts").json()["webhooks"] == ["phone"]


def test_promote_runs_the_gate_and_shows_each_check(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, _ = site
    refused = client.post("/api/v1/promotion/promote", json={"run": RUN_A}, headers=AUTH)
    assert refused.status_code == 422 and refused.json()["promoted"] is False
    assert [c["name"] for c in refused.json()["checks"]][-1] == "holdout"
    (home / "promotion.yaml").write_text("min_trades: 10\nmin_dsr: 0.0\nmust_beat_random: false\n"
                                         "must_beat_buy_and_hold: false\nholdout_margin: 10.0\n")
    (home / "runs" / RUN_A / "holdout.json").write_text(json.dumps(
        {"split": "holdout", "metrics": {"sharpe": 1.0, "pnl_pct": 1.0, "trades": 20}, "baselines": {}}))
    preview = client.get(f"/api/v1/promotion/check/{RUN_A}").json()
    assert preview["validation_failed"] == [] and preview["checks"][-1]["passed"] is None
    client.cookies.set(COOKIE, TOKEN)
    page = client.post("/promotion/promote", data={"run": RUN_A, "csrf": csrf_for(TOKEN)})
    assert page.status_code == 200 and 'id="decision-checks"' in page.text and f"promoted run {RUN_A}" in page.text
    doc = client.get("/api/v1/promotion").json()
    assert doc["promoted"]["run_id"] == RUN_A and doc["history"][0]["action"] == "promote"
    assert client.get("/api/v1/overview").json()["promoted"]["run_id"] == RUN_A
    assert next(r for r in client.get("/api/v1/runs").json()["rows"] if r["run_id"] == RUN_A)["promoted"]


def test_token_is_generated_once_with_mode_600(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GAUSSIAN_WEB_TOKEN", raising=False)
    app = create_app(tmp_path / "h")
    path = tmp_path / "h" / "web_token"
    assert app.state.token_created and path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().strip() == app.state.web_token and len(app.state.web_token) >= 32
    again = create_app(tmp_path / "h")
    assert not again.state.token_created and again.state.web_token == app.state.web_token
    assert load_or_create_token(tmp_path / "h") == (app.state.web_token, False)
    monkeypatch.setenv("GAUSSIAN_WEB_TOKEN", "from-the-environment-123456")
    assert create_app(tmp_path / "h").state.web_token == "from-the-environment-123456"
    set_home(None)


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GAUSSIAN_WEB_TOKEN"}
    r = subprocess.run([sys.executable, "-m", "experiments.cli.main", "serve", "--home", str(tmp_path),
                        "--host", "0.0.0.0", "--port", "5999"], capture_output=True, text=True, env=env, cwd=REPO,
                       timeout=60, check=False)
    assert r.returncode == 2 and r.stderr.startswith("error: refusing to listen on 0.0.0.0")
    assert "Traceback" not in r.stderr and not (tmp_path / "web_token").exists()


def test_a_change_made_elsewhere_shows_at_once(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, ids = site
    assert client.get("/api/v1/ideas").json()["counts"]["proposed"] == 3  # read and kept
    r = CliRunner().invoke(cli, ["--home", str(home), "queue", "approve", ids[2], "--by", "human:cli"])
    assert r.exit_code == 0, r.output
    set_home(home)
    assert client.get("/api/v1/ideas").json()["counts"] == {**client.get("/api/v1/ideas").json()["counts"],
                                                           "proposed": 2, "approved": 1}
    assert client.get("/api/v1/overview").json()["queue"]["approved"] == 1
    assert client.get(f"/api/v1/ideas/{ids[2]}").json()["idea"]["history"][-1]["actor"] == "human:cli"


def _free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_gaussian_serve_prints_a_new_token_once(tmp_path: Path) -> None:
    import time

    import httpx

    env = {k: v for k, v in os.environ.items() if k != "GAUSSIAN_WEB_TOKEN"}
    home, port = tmp_path / "home", _free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.cli.main", "--home", str(home), "serve",
                                 "--port", str(port)], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/api/v1/overview", timeout=5).status_code
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/queue/recover")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    token = (home / "web_token").read_text().strip()
    out = log.read_text()
    assert status == 200 and refused.status_code == 401 and f"on http://127.0.0.1:{port}/" in out
    assert out.count(token) == 1 and (home / "web_token").stat().st_mode & 0o777 == 0o600


def test_paper_sessions_show_positions_journal_and_kill_switch(site: tuple[TestClient, Path, list[str]]) -> None:
    from experiments.paper.journal import Journal, save_state

    client, home, _ = site
    d = home / "paper" / "replay-2024-01-12"
    journal = Journal(d / "journal.jsonl")
    journal("session", action="start", run_id=RUN_A, venue="replay")
    for bar, eq in enumerate((10_000.0, 10_050.0, 9_700.0)):
        journal("bar", bar=bar, time=f"2024-01-12T09:3{bar}:00-05:00", equity=eq, cash=eq, open_value=0.0, n_open=1)
    journal("kill_switch", bar=2, switch="max_daily_loss", reason="max_daily_loss: equity 9700.00 is 300.00 below")
    save_state(d / "state.json", {"run_id": RUN_A, "venue": "replay", "bar": 2, "time": "2024-01-12 09:32",
                                  "positions": [{"symbol": "SPY240112C00470000", "contracts": 1, "entry_price": 1.25,
                                                 "entry_time": "2024-01-12T09:31:00-05:00"}], "working": [],
                                  "stopped": "max_daily_loss: equity 9700.00 is 300.00 below"})
    listed = client.get("/api/v1/paper").json()["sessions"]
    assert listed == [{**listed[0], "session": "replay-2024-01-12", "positions": 1, "venue": "replay",
                       "stopped": "max_daily_loss: equity 9700.00 is 300.00 below", "run_id": RUN_A}]
    one = client.get("/api/v1/paper/replay-2024-01-12").json()
    assert one["equity"]["y"] == [10_000.0, 10_050.0, 9_700.0]
    assert one["kill_switch_events"][0]["switch"] == "max_daily_loss"
    assert [e["event"] for e in one["journal_tail"]][-1] == "kill_switch"
    page = client.get("/paper/replay-2024-01-12").text
    assert "tripped" in page and "SPY240112C00470000" in page and "max_daily_loss" in page
    assert client.get("/paper/no-such-session").status_code == 404
    assert "no-such-session" in client.get("/api/v1/paper/no-such-session").json()["error"]


def test_text_from_proposals_is_escaped(site: tuple[TestClient, Path, list[str]]) -> None:
    from agents.sink import Source
    from experiments.ideas.queue import IdeaQueue

    client, _, _ = site
    idea = IdeaQueue.from_home().propose("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "r",
                                         {"name": "</script><b>bold</b>", "exits.stop_loss_pct": 31.0},
                                         Source(kind="heuristic", name="x"))
    for url in ("/ideas", f"/ideas/{idea.id}"):
        text = client.get(url).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text and "</script><b>" not in text
        assert "&lt;script&gt;alert(1)" in text


def test_overview_shows_the_running_idea_with_its_log(site: tuple[TestClient, Path, list[str]]) -> None:
    import datetime as dt
    import socket

    from experiments.optimizer.status import write_optimizer_status

    client, home, ids = site
    log = home / "runs" / "_workers" / f"{ids[0]}.log"
    log.parent.mkdir(parents=True)
    log.write_text("loading market\nfitting on train\nevaluating bar 300 of 600\n")
    now = dt.datetime.now(dt.UTC)
    write_optimizer_status({"pid": os.getpid(), "host": socket.gethostname(), "state": "running",
                            "started": now.isoformat(), "heartbeat": now.isoformat(), "heartbeat_s": 60.0,
                            "current": {"idea_id": ids[0], "title": "shorter momentum lookback",
                                        "since": (now - dt.timedelta(seconds=90)).isoformat(), "attempt": 1,
                                        "child_pid": None, "log": str(log)}})
    doc = client.get("/api/v1/overview").json()
    assert doc["optimizer"]["running"] is True
    assert doc["progress"]["log_tail"][-1] == "evaluating bar 300 of 600" and doc["progress"]["elapsed_s"] >= 90
    page = client.get("/").text
    assert "evaluating bar 300 of 600" in page and "badge ok\">running" in page


def test_unknown_paths_and_runs_to_promote_are_404s(site: tuple[TestClient, Path, list[str]]) -> None:
    client, home, _ = site
    page = client.get("/no/such/page")
    assert page.status_code == 404 and 'id="error-message"' in page.text
    assert client.get("/api/v1/no-such-endpoint").json() == {"error": "Not Found", "status": 404}
    r = client.post("/api/v1/promotion/promote", json={"run": "20990101-000000-ffffff-0009"}, headers=AUTH)
    assert r.status_code == 404 and "20990101-000000-ffffff-0009" in r.json()["error"]
    assert not (home / "runs" / "promotions.jsonl").exists()


def test_a_new_run_shows_on_the_leaderboard_at_once(site: tuple[TestClient, Path, list[str]]) -> None:
    from tests.analysis_fixtures import fixed_trades, spec_dict, write_run

    client, home, _ = site
    assert len(client.get("/api/v1/runs").json()["rows"]) == 2  # read and kept
    new = "20240203-120000-cccccc-0003"
    d = write_run(home / "runs", fixed_trades(48, 5), spec_dict({"name": "new"}), run_id=new)
    from experiments.runs import ledger

    ledger.record(new, "h", "done", json.loads((d / "metrics.json").read_text())["metrics"])
    doc = client.get("/api/v1/runs").json()
    assert new in [r["run_id"] for r in doc["rows"]] and doc["trials"] == 3


def test_overview_shows_the_dask_workers_what_each_runs_and_what_waits(site: tuple[TestClient, Path, list[str]]) -> None:
    import datetime as dt
    import socket

    from experiments.optimizer.status import write_optimizer_status

    client, _home, ids = site
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    workers = [
        {"address": "tcp://127.0.0.1:40001", "host": "node-a", "pid": 4242, "nthreads": 1, "idea_id": ids[0],
         "title": "shorter momentum lookback", "since": now, "child_pid": 4343, "starts": 2},
        {"address": "tcp://127.0.0.1:40002", "host": "node-b", "pid": None, "nthreads": 1, "idea_id": None,
         "title": None, "since": None, "child_pid": None, "starts": None},
        {"waiting": True, "idea_id": ids[1], "title": "a waiting idea", "since": now, "starts": 0},
    ]
    write_optimizer_status({"pid": os.getpid(), "host": socket.gethostname(), "state": "running", "started": now,
                            "heartbeat": now, "heartbeat_s": 60.0, "current": None, "workers": workers})
    assert client.get("/api/v1/overview").json()["optimizer"]["workers"] == workers
    page = client.get("/").text
    table = page[page.index('id="workers"'):page.index("</table>", page.index('id="workers"'))]
    rows = table.split("<tr")[2:]
    assert "tcp://127.0.0.1:40001" in rows[0] and "4242" in rows[0] and ids[0] in rows[0] and now in rows[0]
    assert "tcp://127.0.0.1:40002" in rows[1] and "idle" in rows[1]
    assert "waiting for a worker" in rows[2] and ids[1] in rows[2] and f"submitted {now}" in rows[2]
