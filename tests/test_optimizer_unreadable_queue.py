"""An unreadable queue file stops `gaussian optimize` at once with one error line and exit code 2, and
`gaussian status` calls the queue damaged (exit code 2) instead of empty."""
from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from experiments.home import set_home
from experiments.ideas.errors import QueueCorrupt
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.loop import Optimizer, OptimizerConfig
from tests.optimizer_fixtures import REPO, add_idea, gaussian, make_home


@pytest.fixture()
def home(tmp_path: Path):
    make_home(tmp_path)
    set_home(tmp_path)
    q = IdeaQueue.from_home()
    add_idea(q, "a", 20)
    add_idea(q, "b", 30)
    cut = q.path.read_bytes()[:1000]
    q.path.write_bytes(cut)  # head -c 1000
    yield tmp_path
    set_home(None)


def test_optimize_once_on_an_unreadable_queue_exits_2_with_one_line(home: Path) -> None:
    proc = subprocess.run(gaussian(home, "optimize", "--once", "--no-agent", "--poll", "0.2"), check=False, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "ideas.json" in errors[0] and "gaussian queue recover" in errors[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_a_queue_damaged_while_the_optimizer_runs_stops_it(home: Path) -> None:
    q = IdeaQueue.from_home()
    q.recover()
    opt = Optimizer(OptimizerConfig(agent=False, poll_s=0.1, heartbeat_s=0.2, stale_after_s=1.0), queue=q)
    done: list[object] = []

    def run() -> None:
        try:
            done.append(opt.run())
        except QueueCorrupt as exc:
            done.append(exc)

    q.path.write_text('{"ideas": {"1": ')  # damaged before the first lease, after the start-up check
    opt.queue.counts = dict  # the start-up look passes (the damage came later)
    t = threading.Thread(target=run)
    t.start()
    t.join(60)
    assert not t.is_alive() and len(done) == 1 and isinstance(done[0], QueueCorrupt)
    log = (home / "runs" / "optimizer.log").read_text()
    assert log.count(" ERROR ") == 1 and "stopping: " in log  # said once, not every poll


def test_status_says_the_queue_is_damaged(home: Path) -> None:
    proc = subprocess.run(gaussian(home, "status"), check=False, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "damaged" in proc.stdout and "queue empty" not in proc.stdout.replace("\n", " ")
