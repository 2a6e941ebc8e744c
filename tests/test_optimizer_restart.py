"""Real `gaussian optimize` processes: SIGKILL mid-experiment then restart completes the idea exactly once;
SIGINT lets the running experiment finish; SIGTERM returns it to the queue."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil
import pytest

from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.status import collect_status
from experiments.promotion.leaderboard import leaderboard
from experiments.runs import ledger
from experiments.runs.attempts import attempt_dirs
from tests.optimizer_fixtures import add_idea, make_home, read_status, start, wait_for

FAST = ["--no-agent", "--heartbeat", "0.5", "--stale-after", "2", "--poll", "0.2", "--timeout", "120"]


@pytest.fixture()
def home(tmp_path: Path):
    make_home(tmp_path)
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def _env(fault: str | None = None, slow_s: float = 60.0) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GAUSSIAN_TEST_FAULT", "GAUSSIAN_HOME")}
    if fault:
        env["GAUSSIAN_TEST_FAULT"] = fault
        env["GAUSSIAN_TEST_SLOW_S"] = str(slow_s)
    return env


def _inside_experiment(home: Path, idea_id: str) -> int | None:
    """The child's pid once the experiment has made its run directory (it is then inside run_experiment)."""
    cur = read_status(home).get("current") or {}
    if cur.get("idea_id") == idea_id and cur.get("child_pid") and attempt_dirs(idea_id):
        return int(cur["child_pid"])
    return None


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.slow
def test_sigkill_mid_experiment_then_restart_completes_exactly_once(home: Path) -> None:
    q = IdeaQueue.from_home()
    idea_id = add_idea(q, "slowpoke", 20)
    log = home / "optimizer.out"
    first = start(home, ["optimize", *FAST, "--max-experiments", "1"], _env("slowpoke:slow"), log)
    try:
        child = wait_for(lambda: _inside_experiment(home, idea_id), 60, "the experiment to start", log)
        live = collect_status()
        assert live["optimizer"]["running"] and live["optimizer"]["current"]["idea_id"] == idea_id
        assert [r["idea_id"] for r in live["running"]] == [idea_id]
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    wait_for(lambda: _gone(child), 10, "the orphaned experiment to die with its parent")
    dead = collect_status()
    assert not dead["optimizer"]["running"] and "is gone" in dead["optimizer"]["why"]
    assert any("not running" in h["message"] for h in dead["health"])
    killed = q.get(idea_id)
    assert killed.status.value == "running" and killed.attempts == 1  # a stale lease, nobody completed it
    (half,) = attempt_dirs(idea_id)
    assert not (half / "metrics.json").exists()

    second = start(home, ["optimize", *FAST, "--max-experiments", "1"], _env(), log)
    assert second.wait(120) == 0, log.read_text()[-3000:]

    idea = q.get(idea_id)
    assert idea.status.value == "done" and idea.attempts == 2
    actions = [e.action for e in idea.history]
    assert actions.count("complete") == 1 and actions.count("reap") == 1 and actions.count("start") == 2
    dirs = attempt_dirs(idea_id)
    assert [d.name for d in dirs] == [half.name, idea.result.run_id]
    assert (half / "ABANDONED.json").exists() and not (half / "metrics.json").exists()
    assert (dirs[-1] / "metrics.json").exists()
    mine = [e for e in ledger.entries() if e["idea_id"] == idea_id]
    assert [e["status"] for e in mine] == ["done"] and mine[0]["run_id"] == idea.result.run_id
    assert [r["run_id"] for r in leaderboard()] == [idea.result.run_id]


@pytest.mark.slow
def test_sigint_finishes_the_experiment_and_sigterm_returns_it(home: Path) -> None:
    q = IdeaQueue.from_home()
    a = add_idea(q, "gentle", 20, priority=2)
    b = add_idea(q, "abrupt", 30, priority=1)
    log = home / "optimizer.out"

    proc = start(home, ["optimize", *FAST], _env("gentle:slow,abrupt:slow", slow_s=4.0), log)
    wait_for(lambda: _inside_experiment(home, a), 60, "the first experiment to start", log)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    assert q.get(a).status.value == "done"  # it finished
    assert q.get(b).status.value == "approved" and q.get(b).attempts == 0  # nothing new was leased
    assert "finishing the running experiment first" in json.dumps(read_status(home)["stop_reason"])

    proc = start(home, ["optimize", *FAST], _env("abrupt:slow", slow_s=60.0), log)
    child = wait_for(lambda: _inside_experiment(home, b), 60, "the second experiment to start", log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()[-3000:]
    assert _gone(child)
    idea = q.get(b)
    assert idea.status.value == "approved" and idea.attempts == 0  # returned, its attempt given back
    assert idea.history[-1].action == "release"
    (partial,) = attempt_dirs(b)
    assert (partial / "ABANDONED.json").exists()
    assert not [e for e in ledger.entries() if e["idea_id"] == b]  # an abandoned attempt is not a trial
