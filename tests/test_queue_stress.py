"""Four processes doing 200 mixed queue operations each at once: nothing lost, no duplicate ids, whole histories."""
from __future__ import annotations

import json
import multiprocessing as mp
import random
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from tinydb import TinyDB

from agents.sink import Source
from experiments.ideas.errors import DuplicateIdea, IllegalTransition, InvalidProposal
from experiments.ideas.models import ACTIVE_STATUSES, Status
from experiments.ideas.queue import IdeaQueue
from experiments.spec.model import ExperimentSpec

PROCS = 4
OPS = 200
SHARED_SEEDS = 6  # every process proposes these too: exactly one may be queued at a time
WEIGHTS = {
    "propose": 22, "shared": 6, "invalid": 3, "approve": 16, "reject": 5, "priority": 5, "edit": 5,
    "lease": 12, "heartbeat": 5, "complete": 8, "fail": 3, "release": 3, "reap": 2, "read": 5,
}


def _worker(path: str, proc: int, out: str) -> None:
    """Run OPS random operations against the shared queue and log every change this process made."""
    rng = random.Random(1000 + proc)
    q = IdeaQueue(path, base=ExperimentSpec(), lock_timeout=120)
    wid = f"w{proc}"
    human = f"human:{proc}"
    src = Source(kind="heuristic", name=f"p{proc}")
    created: list[str] = []
    events: list[list[str]] = []  # [idea id, action, actor] of every change this process committed
    mine: list[str] = []  # ideas this process holds the lease of
    outcome: Counter[str] = Counter()

    def pick(status: Status) -> str | None:
        ideas = q.list(status)
        return rng.choice(ideas).id if ideas else None

    for k in range(OPS):
        op = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        try:
            if op in ("propose", "shared"):
                seed = 9_000_000 + rng.randrange(SHARED_SEEDS) if op == "shared" else proc * 100_000 + k + 1
                idea = q.propose(f"p{proc}-{k}", "h", "r", {"seed": seed}, src, priority=rng.randrange(3))
                created.append(idea.id)
                events.append([idea.id, "propose", src.label()])
            elif op == "invalid":
                res = q.submit(f"bad{proc}-{k}", "", "", {"seed": -1 - 1000 * proc - k}, src)  # each its own
                assert not res.accepted and res.idea_id
                created.append(res.idea_id)
                events.append([res.idea_id, "propose", src.label()])
            elif op in ("approve", "reject", "priority", "edit"):
                idea_id = pick(Status.PROPOSED if op != "priority" or rng.random() < 0.5 else Status.APPROVED)
                if idea_id is None:
                    outcome["nothing"] += 1
                    continue
                if op == "approve":
                    q.approve(idea_id, human, "ok")
                elif op == "reject":
                    q.reject(idea_id, human, "no")
                elif op == "priority":
                    q.set_priority(idea_id, rng.randrange(-5, 6), human)
                else:
                    q.edit(idea_id, {"model.hidden": rng.choice([16, 24, 40, 48])}, human)
                events.append([idea_id, op, human])
            elif op == "lease":
                idea = q.lease_next(wid)
                if idea is not None:
                    mine.append(idea.id)
                    events.append([idea.id, "start", f"worker:{wid}"])
            elif op in ("heartbeat", "complete", "fail", "release") and mine:
                idea_id = rng.choice(mine)
                if op == "heartbeat":
                    q.heartbeat(idea_id, wid)
                    continue
                mine.remove(idea_id)
                if op == "complete":
                    q.complete(idea_id, wid, f"run-{proc}-{k}", {"pnl": float(k)})
                elif op == "fail":
                    q.fail(idea_id, wid, "boom")
                else:
                    q.release(idea_id, wid, "stopping")
                events.append([idea_id, op, f"worker:{wid}"])
            elif op == "reap":
                assert q.reap_stale(3600, max_attempts=3) == []  # every worker here is alive
            else:
                q.list()
                q.counts()
            outcome[op] += 1
        except InvalidProposal:
            raise
        except DuplicateIdea:
            outcome["duplicate"] += 1  # a shared seed already queued by someone: refused, as it must be
        except IllegalTransition:
            outcome["race"] += 1  # another process moved the idea between our read and our write
    for idea_id in mine:
        q.complete(idea_id, wid, f"run-{proc}-end", {})
        events.append([idea_id, "complete", f"worker:{wid}"])
    Path(out).write_text(json.dumps({"created": created, "events": events, "outcome": outcome}))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_four_processes_two_hundred_mixed_operations(tmp_path: Path) -> None:
    path = tmp_path / "queue" / "ideas.json"
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"proc{p}.json" for p in range(PROCS)]
    procs = [ctx.Process(target=_worker, args=(str(path), p, str(outs[p]))) for p in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(220)
    assert [p.exitcode for p in procs] == [0] * PROCS

    logs = [json.loads(o.read_text()) for o in outs]
    created = [i for log in logs for i in log["created"]]
    logged_events = Counter(tuple(e) for log in logs for e in log["events"])
    outcome = sum((Counter(log["outcome"]) for log in logs), Counter())
    assert outcome["duplicate"] > 0 and outcome["approve"] > 0 and outcome["complete"] > 0

    # no duplicate ids anywhere, and every created idea is present (nothing lost, nothing extra)
    raw = json.loads(path.read_text())["ideas"]
    raw_ids = [doc["id"] for doc in raw.values()]
    assert len(raw_ids) == len(set(raw_ids)) == len(created) == len(set(created))
    assert set(raw_ids) == set(created)
    db = TinyDB(path, access_mode="r")
    try:
        assert sorted(d["id"] for d in db.table("ideas").all()) == sorted(created)
    finally:
        db.close()

    q = IdeaQueue(path, base=ExperimentSpec())
    ideas = q.list()
    seqs = [i.seq for i in ideas]
    assert len(set(seqs)) == len(seqs)

    # every history is complete: exactly the changes the processes committed, chained, ending in the status
    history_events = Counter((i.id, e.action, e.actor) for i in ideas for e in i.history)
    assert history_events == logged_events
    for idea in ideas:
        h = idea.history
        assert h[0].action == "propose" and h[0].from_status is None
        assert all(later.from_status is earlier.to_status for earlier, later in pairwise(h))
        assert h[-1].to_status is idea.status
        assert [e.time for e in h] == sorted(e.time for e in h)
        starts = sum(e.action == "start" for e in h)
        releases = sum(e.action == "release" for e in h)
        assert idea.attempts == starts - releases
        assert idea.status is not Status.RUNNING and idea.lease is None
        if idea.status is Status.DONE:
            assert idea.result is not None and idea.result.run_id

    # at most one queued/running/done idea per spec hash, however the proposals raced
    active = Counter(i.spec_hash for i in ideas if i.status in ACTIVE_STATUSES)
    assert max(active.values()) == 1
