"""A paper replay session reporting to a live Data Manager in the same test: the promoted run's spec is
registered, every closed trade and the end-of-day metrics arrive once (a resumed session adds only its new
trades), and the exported spec runs to the same spec hash."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.main import cli
from experiments.home import set_home
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec
from tests.datamanager_fixtures import ADMIN
from tests.dm_server import ThreadServer, build_app

SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=6", "splits.embargo_bars=45",
         "cycles=300", "costs.latency_bars=0"]


@pytest.fixture()
def promoted(tmp_path: Path):
    home = tmp_path / "home"
    set_home(home)
    try:
        res = run_experiment(load_spec(None, SMALL), analyze=False)
    finally:
        set_home(None)
    (home / "runs" / "promoted.json").write_text(json.dumps({"run_id": res.run_id}))
    return home, res.run_id


@pytest.mark.slow
def test_a_paper_session_reports_to_a_live_data_manager(promoted, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home, run_id = promoted
    server = ThreadServer(build_app(tmp_path / "dm", None, ADMIN)).start()
    monkeypatch.setenv("DATA_MANAGER_ADMIN_TOKEN", ADMIN)
    (home / "paper.yaml").write_text("max_open_positions: 2\ndata_manager:\n  enabled: false\n  owner: ci\n")
    try:
        base = ["--home", str(home), "paper", "--report-to", server.url, "--json"]
        r = CliRunner().invoke(cli, [*base, "--bars", "120"])
        assert r.exit_code == 0, (r.output, r.exception)
        doc = json.loads(r.output)
        sdir = Path(doc["session_dir"])
        r = CliRunner().invoke(cli, [*base, "--bars", "90", "--resume"])
        assert r.exit_code == 0, (r.output, r.exception)
        doc = json.loads(r.output)
        local = pd.read_parquet(sdir / "trades.parquet")
        assert len(local) >= 2, "the replay should close some trades"

        with httpx.Client(base_url=server.url, timeout=10) as http:
            bots = http.get("/api/v1/bots").json()["bots"]
            assert len(bots) == 1  # the resumed session reported as the same bot
            bot = bots[0]
            run_hash = json.loads((home / "runs" / run_id / "spec.json").read_text())["hash"]
            assert bot["config_hash"] == run_hash and bot["owner"] == "ci"
            assert bot["status"] == "session paused" and bot["last_heartbeat"]
            got = http.get(f"/api/v1/bots/{bot['bot_id']}/trades").json()["trades"]
            assert len(got) == len(local) == len({t["client_trade_id"] for t in got})
            assert sum(t["pnl"] for t in got) == pytest.approx(local["pnl"].sum())
            assert sorted(t["quantity"] for t in got) == sorted(local["contracts"].tolist())
            metrics = http.get(f"/api/v1/bots/{bot['bot_id']}/metrics").json()["metrics"]
            assert len(metrics) == 2 and metrics[-1]["values"]["trades"] == len(local)
            exported = http.get(f"/api/v1/bots/{bot['bot_id']}/config/export")
        assert ADMIN not in exported.text and not list((home / "paper").glob("*.json"))
        spec_file = tmp_path / "replicate.json"
        spec_file.write_bytes(exported.content)
        r = CliRunner().invoke(cli, ["--home", str(tmp_path / "replica"), "run", str(spec_file), "--json"])
        assert r.exit_code == 0, (r.output, r.exception)
        replica = json.loads(r.output)
        rdir = tmp_path / "replica" / "runs" / replica["run_id"]
        assert json.loads((rdir / "spec.json").read_text())["hash"] == run_hash
        original = json.loads((home / "runs" / run_id / "metrics.json").read_text())
        assert json.loads((rdir / "metrics.json").read_text())["metrics"] == original["metrics"]
    finally:
        server.stop()


def test_reporting_settings_are_checked_before_a_session_starts(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from experiments.paper.reporting import load_settings
    from trader.errors import SpecError

    monkeypatch.delenv("DATA_MANAGER_API_KEY", raising=False)
    monkeypatch.delenv("DATA_MANAGER_ADMIN_TOKEN", raising=False)
    assert load_settings(tmp_path).enabled is False  # no paper.yaml: off
    (tmp_path / "paper.yaml").write_text("data_manager:\n  enabled: true\n")
    with pytest.raises(SpecError, match="base_url"):
        load_settings(tmp_path)
    (tmp_path / "paper.yaml").write_text("data_manager:\n  enabled: true\n  base_url: http://127.0.0.1:9\n")
    with pytest.raises(SpecError, match="DATA_MANAGER_API_KEY"):
        load_settings(tmp_path)
    with pytest.raises(SpecError, match="http://"):
        load_settings(tmp_path, "127.0.0.1:9")
    (tmp_path / "paper.yaml").write_text("data_manager:\n  enabled: true\n  apikey: x\n")
    with pytest.raises(SpecError, match="data_manager.apikey"):
        load_settings(tmp_path)
    monkeypatch.setenv("DATA_MANAGER_API_KEY", "dm_k")
    (tmp_path / "paper.yaml").write_text("max_open_positions: 1\ndata_manager:\n  base_url: http://h:1\n")
    settings = load_settings(tmp_path, "http://other:2")
    assert settings.enabled and settings.base_url == "http://other:2" and settings.api_key == "dm_k"
    assert "dm_k" not in repr(settings)
