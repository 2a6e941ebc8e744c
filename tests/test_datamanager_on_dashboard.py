"""The Data Manager mounted on the dashboard's own app: one server, the web token as the admin token, a nav link,
and a bad database URL refused with one line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from experiments.web.app import create_app
from tests.datamanager_fixtures import spec_bot, trade

TOKEN = "dashboard-token-for-tests"


def test_bots_register_with_the_web_token_and_show_on_the_dashboard(tmp_path: Path) -> None:
    with TestClient(create_app(tmp_path, TOKEN)) as client:
        body = spec_bot("alpha")
        assert client.post("/api/v1/bots/register", json=body).status_code == 401
        reg = client.post("/api/v1/bots/register", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert reg.status_code == 201, reg.text
        bot, key = reg.json()["bot_id"], reg.json()["api_key"]
        got = client.post(f"/api/v1/bots/{bot}/trade", json=trade(1, pnl=40.0), headers={"X-API-Key": key})
        assert got.status_code == 201, got.text
        board = client.get("/api/v1/leaderboard?metric=trades").json()
        assert "alpha" in str(board), board
        assert 'href="/datamanager/"' in client.get("/").text
        page = client.get("/datamanager/").text
        assert "alpha" in page and key not in page
    assert (tmp_path / "datamanager.db").exists()


def test_serve_refuses_a_bad_database_url_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "experiments.cli.main", "serve", "--home", str(tmp_path),
                          "--port", "5999", "--db", "nosuchdb://x/y"], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error:") and "nosuchdb" in lines[0], out.stderr
