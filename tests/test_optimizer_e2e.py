"""A bounded `optimize` end to end on tiny data: the offline agent proposes, auto-approved ideas run in child
processes, each is analysed and put through the promotion gate; status and the leaderboard show it all."""
from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from filelock import FileLock
from typer.testing import CliRunner

from experiments.cli.optimize_cmd import register
from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.loop import OptimizerBusy, OptimizerConfig, parse_until, run_optimizer
from experiments.optimizer.status import collect_status
from experiments.promotion.gate import promotion_history
from experiments.promotion.leaderboard import leaderboard
from tests.optimizer_fixtures import add_idea, make_home
from trader.errors import StateError

AUTOAPPROVE = """enabled: true
allowed_fields: [exits., entry.momentum., entry.cooldown_bars]
max_changes: 3
max_per_day: 50
sources: [agent, heuristic, optimizer]
"""


@pytest.fixture()
def home(tmp_path: Path):
    make_home(tmp_path)
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


@pytest.mark.slow
def test_bounded_optimize_end_to_end(home: Path) -> None:
    (home / "autoapprove.yaml").write_text(AUTOAPPROVE)
    q = IdeaQueue.from_home()
    mine = add_idea(q, "by-hand", 25, priority=100)
    # The agent runs at the start (backlog low: it has no report yet, so it explores entry controllers, which
    # this policy leaves for a person) and again after the first run, whose analysis it turns into an
    # auto-approvable proposal that the runner then executes.
    cfg = OptimizerConfig(max_experiments=2, auto_promote=True, offline=True, max_proposals=3, agent_backlog=5,
                          agent_min_gap_s=0.0, heartbeat_s=0.5, stale_after_s=5.0, poll_s=0.2, timeout_s=120.0)
    results: list[dict[str, Any]] = run_optimizer(cfg)

    assert len(results) == 2 and results[0]["idea_id"] == mine  # the highest priority first
    assert all(r["status"] == "done" for r in results), results
    ideas = {i.id: i for i in q.list()}
    second = ideas[results[1]["idea_id"]]
    assert second.source.kind != "human" and second.analysis_ref == results[0]["run_id"]
    assert any(h.actor == "auto-approve" for h in second.history)
    for r in results:
        run_dir = home / "runs" / r["run_id"]
        assert ideas[r["idea_id"]].status.value == "done"
        assert ideas[r["idea_id"]].result.run_id == r["run_id"]
        assert (run_dir / "ANALYSIS.md").exists()  # analysed after the run
        assert "promotion" in r  # auto-promote applied the gate
    decided = {h["run_id"] for h in promotion_history() if h["action"] in ("promote", "refuse")}
    assert decided == {r["run_id"] for r in results}
    assert not q.list("running")

    board = leaderboard()
    assert {row["run_id"] for row in board} == {r["run_id"] for r in results}
    status = collect_status()
    assert status["optimizer"]["state"] == "stopped" and not status["optimizer"]["running"]
    assert status["optimizer"]["experiments_run"] == 2
    assert "--max-experiments 2 reached" in status["optimizer"]["stop_reason"]
    assert status["optimizer"]["agent"]["runs"] == 2 and not status["optimizer"]["agent"]["last_error"]
    cli = typer.Typer()
    register(cli)
    shown = CliRunner().invoke(cli, ["status"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0 and "optimizer not running" in shown.output and "recent results" in shown.output
    assert json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)["queue"]["done"] == 2
    assert status["queue"]["done"] == 2 and len(status["recent"]) == 2 and status["queue"]["proposed"] >= 1


def test_until_in_the_past_runs_nothing(home: Path) -> None:
    q = IdeaQueue.from_home()
    add_idea(q, "later", 20)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    results = run_optimizer(OptimizerConfig(until=past, agent=False, heartbeat_s=0.5, stale_after_s=5.0))
    assert results == [] and q.counts()["approved"] == 1


def test_one_optimizer_per_home(home: Path) -> None:
    (home / "runs").mkdir()
    with FileLock(str(home / "runs" / "optimizer.lock")), pytest.raises(OptimizerBusy, match="another optimizer"):
        run_optimizer(OptimizerConfig(once=True, agent=False, heartbeat_s=0.5, stale_after_s=5.0))


def test_parse_until() -> None:
    now = dt.datetime(2025, 3, 3, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York
    assert parse_until("11:30", now).hour == 11 and parse_until("11:30", now).day == 3
    assert parse_until("09:00", now).day == 4  # already passed today: tomorrow
    assert parse_until("2025-03-05T18:00", now).utcoffset() == dt.timedelta(hours=-5)
    with pytest.raises(StateError, match="not a time"):
        parse_until("soon", now)


def test_stopping_at_once_leaves_the_scheduler_thread_clean(home: Path) -> None:
    """A stop that lands while the scheduler is still handing out the first runner tick ends without an
    exception in APScheduler's thread (it printed a JobLookupError traceback on about one stop in eight)."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    for _ in range(25):
        assert run_optimizer(OptimizerConfig(until=past, agent=False, heartbeat_s=0.5, stale_after_s=5.0)) == []


def test_the_runner_keeps_ticking_while_idle(home: Path, monkeypatch) -> None:
    """Hundreds of idle runner ticks back to back (each re-arms the next one-off tick from inside the job): the
    runner keeps ticking to the end and never overlaps itself."""
    from experiments.optimizer.loop import Optimizer

    ticks: list[float] = []
    running = []
    real = Optimizer._runner_job

    def counted(self) -> None:
        assert not running, "two runner ticks overlapped"
        running.append(1)
        ticks.append(time.monotonic())
        try:
            real(self)
        finally:
            running.pop()

    monkeypatch.setattr(Optimizer, "_runner_job", counted)
    start = time.monotonic()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    run_optimizer(OptimizerConfig(until=until, agent=False, heartbeat_s=0.5, stale_after_s=5.0, poll_s=0.002))
    assert len(ticks) > 100
    assert ticks[-1] - start > 1.5, f"the runner stopped ticking {ticks[-1] - start:.2f} s after the start"
