"""Containment: an experiment that raises, hangs, exceeds its memory cap or crashes is recorded with a log tail,
and the runner goes on to the next idea; a failing agent job does not stop the runner.

Uses the child runner's documented test hook GAUSSIAN_TEST_FAULT (`spec_name:mode`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.loop import OptimizerConfig, run_optimizer
from experiments.optimizer.status import collect_status
from experiments.runs import ledger
from tests.optimizer_fixtures import add_idea, make_home

TIMEOUT_S = 12.0


def broken_agent() -> None:
    """An agent job with a bug."""
    raise RuntimeError("the agent job exploded")


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = make_home(tmp_path_factory.mktemp("faults"))
    set_home(home)
    mp = pytest.MonkeyPatch()
    mp.setenv("GAUSSIAN_TEST_FAULT", "boom:raise,sleepy:hang,hog:oom,splat:crash")
    try:
        q = IdeaQueue.from_home()
        ids = {name: add_idea(q, name, lb, priority=p)
               for name, lb, p in (("boom", 11, 5), ("sleepy", 12, 4), ("hog", 13, 3), ("splat", 14, 2),
                                   ("fine", 16, 1))}  # 15 is the base's own value: a no-op
        cfg = OptimizerConfig(once=True, agent=True, agent_backlog=10, timeout_s=TIMEOUT_S, memory_mb=1500.0,
                              heartbeat_s=0.5, stale_after_s=5.0, poll_s=0.2, analyze=False)
        results = run_optimizer(cfg, agent_fn=broken_agent)
        ideas = {name: q.get(i) for name, i in ids.items()}
        yield {"home": home, "results": results, "ideas": ideas, "status": collect_status()}
    finally:
        mp.undo()
        set_home(None)


@pytest.mark.slow
def test_each_fault_is_contained_and_recorded(faulty_run: dict[str, Any]) -> None:
    ideas = faulty_run["ideas"]
    expect = {
        "boom": "RuntimeError: test fault: the experiment raised on purpose",
        "sleepy": f"timed out after {TIMEOUT_S:.0f} s",
        "hog": "exceeded the memory cap of 1500 MB",
        "splat": "exited with code 70 without a result",
    }
    for name, text in expect.items():
        idea = ideas[name]
        assert idea.status.value == "failed", name
        assert text in (idea.result.error or ""), (name, idea.result.error)
        assert idea.result.log_tail and "test fault" in idea.result.log_tail, name
    assert "killed by the parent" in ideas["sleepy"].result.log_tail
    assert "Traceback" in ideas["boom"].result.log_tail


@pytest.mark.slow
def test_the_runner_goes_on_to_the_next_idea(faulty_run: dict[str, Any]) -> None:
    fine = faulty_run["ideas"]["fine"]
    assert fine.status.value == "done" and fine.result.run_id
    order = [r["idea_id"] for r in faulty_run["results"]]
    assert order == [faulty_run["ideas"][n].id for n in ("boom", "sleepy", "hog", "splat", "fine")]
    # every executed experiment is a trial in the ledger: the parent records the ones it killed
    lines = _ledger(faulty_run["home"])
    assert sorted(e["status"] for e in lines) == ["done", "failed", "failed", "failed", "failed"]


@pytest.mark.slow
def test_a_failing_agent_job_does_not_stop_the_runner(faulty_run: dict[str, Any]) -> None:
    agent = faulty_run["status"]["optimizer"]["agent"]
    assert agent["runs"] == 1 and agent["errors"] == 1
    assert "the agent job exploded" in agent["last_error"]
    assert faulty_run["ideas"]["fine"].status.value == "done"
    health = " ".join(h["message"] for h in faulty_run["status"]["health"])
    assert "the last agent job failed" in health


def _ledger(home: Path) -> list[dict[str, Any]]:
    set_home(home)
    try:
        return ledger.entries()
    finally:
        set_home(None)
