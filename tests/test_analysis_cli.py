"""`gaussian analyze`: one run by id, prefix or path; --backfill [--force]; clear usage errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from experiments.cli.analyze_cmd import register
from experiments.home import set_home
from tests.analysis_fixtures import fixed_trades, write_run
from trader.errors import GaussianError, StateError


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    set_home(None)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    register(app)
    return app


def test_analyze_one_run_by_id_prefix_and_path(cli: typer.Typer, tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "runs", fixed_trades(24))
    runner = CliRunner()
    res = runner.invoke(cli, ["analyze", run_dir.name, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["run_id"] == run_dir.name and (run_dir / "ANALYSIS.md").exists()
    assert out["plots"] and out["findings"] > 0
    res = runner.invoke(cli, ["analyze", run_dir.name[:15]])
    assert res.exit_code == 0 and "wrote" in res.stdout
    res = runner.invoke(cli, ["analyze", str(run_dir), "--min-trades", "5"])
    assert res.exit_code == 0
    assert json.loads((run_dir / "analysis.json").read_text())["min_trades"] == 5


def test_backfill_and_force(cli: typer.Typer, tmp_path: Path) -> None:
    a = write_run(tmp_path / "runs", fixed_trades(24), run_id="20240101-000000-aaaaaa-0001")
    b = write_run(tmp_path / "runs", fixed_trades(6), run_id="20240102-000000-bbbbbb-0002")
    (b / "trades.parquet").unlink()
    runner = CliRunner()
    res = runner.invoke(cli, ["analyze", "--backfill", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["analyzed"] == [a.name] and "trades.parquet is missing" in out["failed"][b.name]
    res = runner.invoke(cli, ["analyze", "--backfill"])
    assert res.exit_code == 0 and "analyzed 0 run(s)" in res.stdout
    res = runner.invoke(cli, ["analyze", "--backfill", "--force"])
    assert "analyzing " + a.name in res.stdout and "analyzed 1 run(s)" in res.stdout


def test_usage_errors_are_one_sentence(cli: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    for args in (["analyze"], ["analyze", "x", "--backfill"], ["analyze", "x", "--force"]):
        res = runner.invoke(cli, args)
        assert isinstance(res.exception, GaussianError), args
    res = runner.invoke(cli, ["analyze", "no-such-run"])
    assert isinstance(res.exception, StateError) and "not found" in str(res.exception)
