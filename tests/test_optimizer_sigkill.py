"""`gaussian optimize` SIGKILLed at random moments (mid-run, mid-analysis, between child and parent), then run to
the end: never a traceback, each idea done once, and exactly one ledger line per completed idea."""
from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.runs import ledger
from experiments.runs.attempts import attempt_dirs, is_abandoned
from tests.optimizer_fixtures import add_idea, make_home, read_status, start

FAST = ["--no-agent", "--heartbeat", "0.5", "--stale-after", "2", "--poll", "0.2", "--timeout", "300",
        "--max-attempts", "30"]
KILLS = 10


@pytest.fixture()
def home(tmp_path: Path):
    make_home(tmp_path)
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


@pytest.mark.slow
def test_optimize_killed_at_random_moments_completes_each_idea_once(home: Path) -> None:
    q = IdeaQueue.from_home()
    ideas = [add_idea(q, f"k{n}", lb) for n, lb in enumerate((16, 25, 35))]  # 15 is the base: a no-op
    env = {k: v for k, v in os.environ.items() if k not in ("GAUSSIAN_TEST_FAULT", "GAUSSIAN_HOME")}
    rng = random.Random(1616)
    log = home / "optimizer.out"
    for _ in range(KILLS):
        proc = start(home, ["optimize", *FAST], env, log)
        end = time.monotonic() + 60
        while proc.poll() is None and read_status(home).get("pid") != proc.pid and time.monotonic() < end:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 8.0))  # inside a run, its analysis, or between the child and the parent
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        time.sleep(2.5)  # its lease goes stale: the next optimizer reaps it
    final = start(home, ["optimize", *FAST, "--once"], env, log)
    assert final.wait(600) == 0, log.read_text()[-3000:]
    assert "Traceback" not in log.read_text()
    lines = ledger.entries()
    for idea_id in ideas:
        idea = q.get(idea_id)
        assert idea.status.value == "done"
        assert [e.action for e in idea.history].count("complete") == 1
        mine = [e for e in lines if e.get("idea_id") == idea_id]
        assert [(e["run_id"], e["status"]) for e in mine] == [(idea.result.run_id, "done")], mine
        kept = [d.name for d in attempt_dirs(idea_id) if not is_abandoned(d)]
        assert kept == [idea.result.run_id]
    assert len(lines) == len(ideas)
