"""One ledger line per completed idea, whatever was killed when: an attempt that never recorded its result on the
idea (its worker died between the child's ledger line and the parent's `complete`) withdraws its line."""
from __future__ import annotations

from pathlib import Path

import pytest

from experiments.home import runs_dir, set_home
from experiments.ideas.queue import IdeaQueue
from experiments.runs import ledger
from experiments.runs.attempts import abandon_attempts, attempt_dirs, is_abandoned
from experiments.runs.runner import run_experiment
from experiments.runs.store import create_run_dir, write_json
from experiments.spec.io import load_spec
from tests.optimizer_fixtures import add_idea, make_home


@pytest.fixture()
def home(tmp_path: Path):
    make_home(tmp_path)
    set_home(tmp_path)
    yield tmp_path
    set_home(None)


def _killed_attempt(idea_id: str, status: str = "done") -> str:
    """What a worker killed between the child's ledger line and the parent's `complete` leaves on disk: the
    attempt's run directory (its spec.json naming the idea) and its ledger line."""
    run_id, run_dir = create_run_dir("h")
    write_json(run_dir / "spec.json", {"hash": "h", "spec": {}, "idea_id": idea_id})
    ledger.record(run_id, "h", status, {"sharpe": 1.0}, idea_id=idea_id)
    return run_id


def test_a_killed_attempt_leaves_no_ledger_line_whether_reaped_first_or_not(home: Path) -> None:
    q = IdeaQueue.from_home()
    idea_id = add_idea(q, "twice", 20)
    other = _killed_attempt("another-idea")
    q.lease_next("w1")
    first = _killed_attempt(idea_id)
    # the reaper returns the idea and sets the attempt aside: its line goes with it
    abandon_attempts(idea_id, "its worker died (stale lease reaped)")
    assert [e["run_id"] for e in ledger.entries()] == [other] and is_abandoned(runs_dir() / first)
    # killed again before anyone reaped or marked it, once after the child's line, once after a parent's
    _killed_attempt(idea_id)
    ledger.record("-", "h", "failed", idea_id=idea_id, error="timeout recorded by a parent killed right after")
    spec = load_spec(None, ["entry.momentum.lookback_bars=20", "name=twice"])
    done = run_experiment(spec, cycles=60, idea_id=idea_id, analyze=False)  # the attempt that completes
    q.complete(idea_id, "w1", done.run_id, {})
    lines = [e for e in ledger.entries() if e["idea_id"] == idea_id]
    assert [(e["run_id"], e["status"]) for e in lines] == [(done.run_id, "done")]
    assert [d.name for d in attempt_dirs(idea_id) if not is_abandoned(d)] == [done.run_id]
    assert [e["run_id"] for e in ledger.entries()] == [other, done.run_id]


def test_other_ideas_lines_and_a_torn_last_line_are_kept_or_dropped_correctly(home: Path) -> None:
    ledger.record("r1", "h1", "done", idea_id="a")
    ledger.record("r2", "h2", "done", idea_id="b")
    ledger.record("r3", "h3", "done")  # a run outside the queue
    with ledger.ledger_path().open("a") as fh:
        fh.write('{"run_id": "r4", "idea')  # a writer killed mid-append
    assert ledger.withdraw(idea_id="a") == 1
    assert [e["run_id"] for e in ledger.entries()] == ["r2", "r3"]
    assert ledger.withdraw(run_ids=["r3", "nope"]) == 1 and ledger.trial_count() == 1
