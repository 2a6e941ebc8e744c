"""The leaderboard: ranking on validation Sharpe (ties by P&L), baselines alongside, abandoned attempts left out."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from experiments.cli.optimize_cmd import register
from experiments.home import set_home
from experiments.promotion.gate import promote
from experiments.promotion.leaderboard import leaderboard
from experiments.runs import ledger

BASE = {"random_entry": {"pnl_pct": -2.0}, "buy_and_hold": {"pnl_pct": 1.0}}


@pytest.fixture()
def home(tmp_path: Path):
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def run(home: Path, run_id: str, sharpe: float | None, pnl: float, entry: str = "momentum",
        idea: str | None = None, finished: bool = True) -> Path:
    d = home / "runs" / run_id
    d.mkdir(parents=True)
    spec: dict[str, Any] = {"name": run_id[-4:], "entry": {"type": entry}, "model": {"encoder": "mamba2"}}
    (d / "spec.json").write_text(json.dumps({"hash": "h" + run_id[-4:], "spec": spec, "idea_id": idea}))
    m = {"trades": 50, "pnl": pnl, "pnl_pct": pnl / 50, "win_rate": 0.5, "sharpe": sharpe, "days": 40,
         "return_skew": 0.0, "return_kurtosis": 3.0}
    if finished:
        (d / "metrics.json").write_text(json.dumps({"metrics": m, "baselines": BASE}))
        (d / "holdout.json").write_text(json.dumps({"metrics": {"sharpe": sharpe}, "baselines": BASE}))
        ledger.record(run_id, "h", "done", m)
    return d


def test_ranked_by_sharpe_then_pnl_with_baselines(home: Path) -> None:
    run(home, "20250101-000001-aaaaaa-0001", 1.0, 100.0)
    run(home, "20250101-000002-bbbbbb-0002", 3.0, 50.0, entry="predictor")
    run(home, "20250101-000003-cccccc-0003", 1.0, 300.0)
    run(home, "20250101-000004-dddddd-0004", None, 999.0)
    run(home, "20250101-000005-eeeeee-0005", 9.0, 1.0, finished=False)  # still running: not ranked
    rows = leaderboard()
    assert [r["run_id"][-4:] for r in rows] == ["0002", "0003", "0001", "0004"]
    top = rows[0]
    assert top["rank"] == 1 and top["entry"] == "predictor" and top["encoder"] == "mamba2"
    assert rows[1]["encoder"] is None  # momentum uses no encoder
    assert top["random_pnl_pct"] == -2.0 and top["buy_hold_pnl_pct"] == 1.0
    assert top["dsr"] is not None and not top["promoted"]
    assert len(leaderboard(limit=2)) == 2


def test_abandoned_and_superseded_attempts_are_left_out(home: Path) -> None:
    from agents.sink import Source
    from experiments.ideas.queue import IdeaQueue

    (home / "base_spec.yaml").write_text("entry: {type: momentum}\n")
    q = IdeaQueue.from_home()
    idea = q.propose("t", "h", "r", {"entry.momentum.lookback_bars": 20}, Source(kind="human", name="t"))
    q.approve(idea.id, "human:t")
    q.lease_next("w1")
    old = run(home, "20250101-000001-aaaaaa-0001", 5.0, 10.0, idea=idea.id)  # killed after it finished
    q.reap_stale(0.0, 3)
    q.lease_next("w2")
    new = run(home, "20250101-000002-aaaaaa-0002", 5.0, 10.0, idea=idea.id)
    q.complete(idea.id, "w2", new.name, {"sharpe": 5.0})
    dead = run(home, "20250101-000003-bbbbbb-0003", 7.0, 10.0)
    (dead / "ABANDONED.json").write_text("{}")
    ids = [r["run_id"] for r in leaderboard()]
    assert ids == [new.name] and old.name not in ids


def test_cli_json_and_promoted_marker(home: Path) -> None:
    a = run(home, "20250101-000001-aaaaaa-0001", 2.0, 10.0)
    run(home, "20250101-000002-bbbbbb-0002", 1.0, 10.0)
    promote(a.name, force=True, by="test")
    cli = typer.Typer()
    register(cli)
    res = CliRunner().invoke(cli, ["leaderboard", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["promoted"] for r in rows] == [True, False]
    table = CliRunner().invoke(cli, ["leaderboard"], env={"COLUMNS": "250"})
    assert "* promoted" in table.output and "DSR over 2 trials" in table.output
