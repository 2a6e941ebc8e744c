"""Idea queue: proposals, validation, duplicates, the status machine, leases, reaping and edits."""
from __future__ import annotations

import datetime as dt
import math
import time
from pathlib import Path

import pytest
from tinydb import TinyDB

from agents.sink import ProposalSink, Source, SubmitResult
from experiments.home import set_home
from experiments.ideas.errors import (
    DuplicateIdea,
    IdeaNotFound,
    IllegalTransition,
    InvalidProposal,
    LeaseError,
    ProposalError,
)
from experiments.ideas.models import TRANSITIONS, Status
from experiments.ideas.queue import IdeaQueue, LeaseHeartbeat
from experiments.spec.base import load_base_spec
from experiments.spec.io import spec_hash, validate_spec
from experiments.spec.model import ExperimentSpec
from trader.errors import SpecError

AGENT = Source(kind="agent", name="proposer", model="claude-sonnet-4-6")
HUMAN = "human:alice"


@pytest.fixture
def q(tmp_path: Path) -> IdeaQueue:
    return IdeaQueue(tmp_path / "queue" / "ideas.json", base=ExperimentSpec())


def _propose(q: IdeaQueue, seed: int, **kw):
    return q.propose(f"seed {seed}", "hyp", "because", {"seed": seed, **kw}, AGENT)


def test_propose_resolves_full_spec_hash_and_history(q: IdeaQueue) -> None:
    idea = q.propose("mamba", "SSMs see further", "analysis of run x", {"model": {"encoder": "mamba2"}}, AGENT,
                     priority=3, analysis_ref="run-1")
    assert idea.status is Status.PROPOSED and idea.priority == 3 and idea.attempts == 0
    assert idea.changes == {"model.encoder": "mamba2"}
    expected = validate_spec({"model": {"encoder": "mamba2"}})
    assert idea.spec_hash == spec_hash(expected) and idea.experiment_spec() == expected
    assert idea.base_hash == spec_hash(ExperimentSpec())
    (event,) = idea.history
    assert (event.action, event.from_status, event.to_status) == ("propose", None, Status.PROPOSED)
    assert event.actor == "agent:proposer (claude-sonnet-4-6)"
    assert q.get(idea.id) == idea
    assert q.counts()["proposed"] == 1


def test_file_is_tinydb_readable(q: IdeaQueue) -> None:
    ids = [_propose(q, s).id for s in (1, 2, 3)]
    db = TinyDB(q.path, access_mode="r")
    try:
        docs = db.table("ideas").all()
    finally:
        db.close()
    assert sorted(d["id"] for d in docs) == sorted(ids)
    assert [d.doc_id for d in sorted(docs, key=lambda d: d.doc_id)] == [1, 2, 3]


def test_ids_sortable_and_resolvable(q: IdeaQueue) -> None:
    ideas = [_propose(q, s) for s in range(1, 13)]
    ids = [i.id for i in ideas]
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert q.resolve("3") == ids[2]
    assert q.resolve(ids[4][-4:]) == ids[4]
    assert q.resolve(ids[5]) == ids[5]
    with pytest.raises(IdeaNotFound, match="no idea 'nope'"):
        q.get("nope")
    with pytest.raises(IdeaNotFound, match="ambiguous"):
        q.resolve(ids[0][:8])


def test_invalid_proposal_is_kept_for_audit(q: IdeaQueue) -> None:
    with pytest.raises(InvalidProposal) as info:
        q.propose("bad", "", "", {"trading.contracts": 0, "model.hiden": 3}, AGENT)
    idea = q.get(info.value.idea_id)
    assert idea.status is Status.INVALID and idea.spec is None and idea.spec_hash is None
    assert "model.hiden" in idea.errors[0] and "trading.contracts" in idea.errors[0]
    res = q.submit("bad again", "", "", {"seed": -1}, AGENT)
    assert isinstance(res, SubmitResult) and not res.accepted and res.status == "invalid"
    assert res.idea_id and "seed" in res.reasons[0]
    assert q.counts()["invalid"] == 2


def test_malformed_proposal_stores_nothing(q: IdeaQueue) -> None:
    with pytest.raises(ProposalError, match="title"):
        q.propose("", "", "", {"seed": 1}, AGENT)
    res = q.submit("t", "", "", {"seed": 1}, {"kind": "agent", "name": "x"})  # type: ignore[arg-type]
    assert not res.accepted and res.idea_id is None and "model" in res.reasons[0]
    res = q.submit("t", "", "", {"seed": math.nan}, AGENT)
    assert not res.accepted and "JSON" in res.reasons[0]
    assert q.list() == []


def test_submit_accepts_and_queue_is_a_sink(q: IdeaQueue) -> None:
    assert isinstance(q, ProposalSink)
    res = q.submit("t", "h", "r", {"exits.stop_loss_pct": 6}, AGENT, priority=2, analysis_ref="r1")
    assert res.accepted and res.status == "proposed" and res.reasons == []
    assert q.get(res.idea_id).analysis_ref == "r1"


def test_duplicates_refused_naming_the_existing_idea(q: IdeaQueue) -> None:
    first = q.propose("a", "", "", {"model.encoder": "lstm"}, AGENT)
    with pytest.raises(DuplicateIdea, match=first.id) as info:
        q.propose("same, nested", "", "", {"model": {"encoder": "lstm"}}, AGENT)
    assert info.value.existing_id == first.id
    res = q.submit("same via sink", "", "", {"model.encoder": "lstm", "name": "cosmetic"}, AGENT)
    assert not res.accepted and first.id in res.reasons[0] and "duplicates" in res.reasons[0]
    # approved, running and done still block; rejected and failed free the hash
    q.approve(first.id, HUMAN)
    assert not q.submit("x", "", "", {"model.encoder": "lstm"}, AGENT).accepted
    q.lease_next("w1")
    assert not q.submit("x", "", "", {"model.encoder": "lstm"}, AGENT).accepted
    q.fail(first.id, "w1", "boom")
    again = q.submit("retry", "", "", {"model.encoder": "lstm"}, AGENT)
    assert again.accepted
    q.approve(again.idea_id, HUMAN)
    q.start(again.idea_id, "w2")
    q.complete(again.idea_id, "w2", "run-9", {"pnl": 1.0})
    with pytest.raises(DuplicateIdea, match=f"{again.idea_id}.*done"):
        q.propose("x", "", "", {"model.encoder": "lstm"}, AGENT)
    other = _propose(q, 77)
    q.reject(other.id, HUMAN, "no")
    assert _propose(q, 77).status is Status.PROPOSED
    assert len(q.list()) == 4  # refusals stored nothing


def _drive_to(q: IdeaQueue, status: Status, seed: int):
    if status is Status.INVALID:
        res = q.submit("bad", "", "", {"seed": -seed}, AGENT)
        return q.get(res.idea_id)
    idea = _propose(q, seed)
    if status is Status.REJECTED:
        return q.reject(idea.id, HUMAN, "nope")
    if status is Status.PROPOSED:
        return idea
    q.approve(idea.id, HUMAN)
    if status is Status.APPROVED:
        return q.get(idea.id)
    q.start(idea.id, "w")
    if status is Status.DONE:
        return q.complete(idea.id, "w", "run", {})
    if status is Status.FAILED:
        return q.fail(idea.id, "w", "err")
    return q.get(idea.id)


def test_illegal_transitions_are_refused_and_change_nothing(q: IdeaQueue) -> None:
    actions = {
        "approve": lambda i: q.approve(i, HUMAN),
        "reject": lambda i: q.reject(i, HUMAN, "why"),
        "start": lambda i: q.start(i, "w"),
        "edit": lambda i: q.edit(i, ["model.hidden=24"], HUMAN),
        "priority": lambda i: q.set_priority(i, 5, HUMAN),
    }
    allowed = {
        "approve": {Status.PROPOSED}, "reject": {Status.PROPOSED}, "start": {Status.APPROVED},
        "edit": {Status.PROPOSED, Status.APPROVED, Status.INVALID}, "priority": {Status.PROPOSED, Status.APPROVED},
    }
    refused = 0
    for n, status in enumerate(Status, start=1):
        for action, call in actions.items():
            if status in allowed[action]:
                continue
            idea = _drive_to(q, status, 1000 * n + len(q.list()))
            before = q.path.read_bytes()
            with pytest.raises(IllegalTransition, match=f"idea {idea.id} is {status.value}; cannot {action}"):
                call(idea.id)
            assert q.path.read_bytes() == before
            refused += 1
    assert refused >= 20
    idea = _propose(q, 5)
    with pytest.raises(IllegalTransition, match="approve it first"):
        q.start(idea.id, "w")
    for done_like in (Status.DONE, Status.FAILED, Status.REJECTED):
        assert TRANSITIONS[done_like] == frozenset()


def test_reject_needs_a_note(q: IdeaQueue) -> None:
    idea = _propose(q, 1)
    with pytest.raises(ProposalError, match="note"):
        q.reject(idea.id, HUMAN, "  ")
    r = q.reject(idea.id, HUMAN, "out of bounds for our account size")
    assert r.status is Status.REJECTED and r.history[-1].note.startswith("out of bounds")


def test_lease_order_priority_then_age(q: IdeaQueue) -> None:
    a, b, c, d = (_propose(q, s) for s in (1, 2, 3, 4))
    for i in (a, b, c):
        q.approve(i.id, HUMAN)
    q.set_priority(c.id, 5, HUMAN)
    assert q.lease_next("w1").id == c.id
    first = q.lease_next("w1")
    assert first.id == a.id and first.attempts == 1 and first.lease.worker_id == "w1"
    assert first.history[-1].actor == "worker:w1"
    assert q.lease_next("w2").id == b.id
    assert q.lease_next("w2") is None  # d is only proposed
    assert q.get(d.id).status is Status.PROPOSED


def test_lease_ownership_and_results(q: IdeaQueue) -> None:
    a, b = _propose(q, 1), _propose(q, 2)
    q.approve(a.id, HUMAN)
    q.approve(b.id, HUMAN)
    q.start(a.id, "w1")
    q.start(b.id, "w1")
    with pytest.raises(LeaseError, match="leased by worker w1, not w2"):
        q.complete(a.id, "w2", "run", {})
    with pytest.raises(LeaseError):
        q.heartbeat(a.id, "w2")
    beat = q.heartbeat(a.id, "w1")
    assert beat.lease.heartbeat >= beat.lease.started
    done = q.complete(a.id, "w1", "run-1", {"pnl": 12.5, "sharpe": math.inf, "trades": 4, "note": "ok"})
    assert done.status is Status.DONE and done.lease is None
    assert done.result.run_id == "run-1"
    assert done.result.metrics == {"pnl": 12.5, "sharpe": None, "trades": 4, "note": "ok"}
    with pytest.raises(LeaseError, match="is done"):
        q.heartbeat(a.id, "w1")
    failed = q.fail(b.id, "w1", "ValueError: boom\nmore", log_tail="x" * 20_000)
    assert failed.status is Status.FAILED and failed.result.error.startswith("ValueError: boom")
    assert len(failed.result.log_tail) == 8000 and failed.history[-1].note == "ValueError: boom"


def test_release_returns_to_approved_and_gives_the_attempt_back(q: IdeaQueue) -> None:
    a = _propose(q, 1)
    q.approve(a.id, HUMAN)
    q.start(a.id, "w1")
    r = q.release(a.id, "w1", "scheduler stopping")
    assert r.status is Status.APPROVED and r.attempts == 0 and r.lease is None
    assert q.lease_next("w2").attempts == 1


def test_reap_stale_leases(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)]
    q = IdeaQueue(tmp_path / "ideas.json", base=ExperimentSpec(), clock=lambda: now[0])
    a, b = _propose(q, 1), _propose(q, 2)
    q.approve(a.id, HUMAN)
    q.approve(b.id, HUMAN)
    q.lease_next("dead")
    q.lease_next("alive")
    now[0] += dt.timedelta(seconds=500)
    q.heartbeat(b.id, "alive")
    now[0] += dt.timedelta(seconds=200)
    assert q.reap_stale(600, max_attempts=2, now=now[0] - dt.timedelta(seconds=200)) == []
    (reaped,) = q.reap_stale(600, max_attempts=2)
    assert reaped.id == a.id and reaped.status is Status.APPROVED and reaped.attempts == 1
    assert reaped.history[-1].actor == "reaper" and "dead" in reaped.history[-1].note
    assert q.get(b.id).status is Status.RUNNING
    with pytest.raises(LeaseError, match="is approved"):
        q.complete(a.id, "dead", "run", {})
    assert q.lease_next("dead2").id == a.id
    now[0] += dt.timedelta(seconds=601)
    reaped = {i.id: i for i in q.reap_stale(600, max_attempts=2)}
    assert reaped[a.id].status is Status.FAILED and reaped[a.id].attempts == 2
    assert "gave up after 2 attempts" in reaped[a.id].result.error
    assert reaped[b.id].status is Status.APPROVED  # b: attempt 1 of 2
    with pytest.raises(ProposalError):
        q.reap_stale(60, max_attempts=0)


def test_edit_revalidates_and_keeps_history(q: IdeaQueue) -> None:
    a = q.propose("a", "", "", {"model.encoder": "lstm"}, AGENT)
    e = q.edit(a.id, ["model.hidden=48"], HUMAN, note="bigger")
    assert e.status is Status.PROPOSED and e.changes == {"model.encoder": "lstm", "model.hidden": 48}
    assert e.experiment_spec().model.hidden == 48 and e.spec_hash != a.spec_hash
    assert e.history[-1].action == "edit" and "model.hidden=48" in e.history[-1].note
    before = q.path.read_bytes()
    with pytest.raises(SpecError, match="model.hidden"):
        q.edit(a.id, {"model.hidden": 1}, HUMAN)
    assert q.path.read_bytes() == before
    q.approve(a.id, HUMAN)
    e = q.edit(a.id, {"exits": {"stop_loss_pct": 5}}, HUMAN)
    assert e.status is Status.PROPOSED and "needs approving again" in e.history[-1].note
    assert [h.action for h in e.history] == ["propose", "edit", "approve", "edit"]
    b = q.propose("b", "", "", {"model.encoder": "lstm", "model.hidden": 48}, AGENT)
    with pytest.raises(DuplicateIdea, match=a.id):
        q.edit(b.id, {"exits.stop_loss_pct": 5}, HUMAN)
    with pytest.raises(ProposalError):
        q.edit(b.id, [], HUMAN)


def test_edit_fixes_an_invalid_idea(q: IdeaQueue) -> None:
    res = q.submit("bad", "", "", {"trading.contracts": 0, "model.encoder": "tcn"}, AGENT)
    fixed = q.edit(res.idea_id, ["trading.contracts=2"], HUMAN)
    assert fixed.status is Status.PROPOSED and fixed.errors == []
    assert fixed.experiment_spec().trading.contracts == 2


def test_priority_bounds(q: IdeaQueue) -> None:
    a = _propose(q, 1)
    assert q.set_priority(a.id, -7, HUMAN).priority == -7
    assert q.get(a.id).history[-1].note == "priority 0 -> -7"
    with pytest.raises(ProposalError):
        q.set_priority(a.id, 10**9, HUMAN)


def test_add_spec_of_a_person(q: IdeaQueue) -> None:
    spec = validate_spec({"name": "my-idea", "model": {"encoder": "transformer"}, "seed": 4})
    idea = q.add_spec(spec, rationale="hunch", approve=True, actor=HUMAN, note="mine")
    assert idea.title == "my-idea" and idea.status is Status.APPROVED
    assert idea.changes == {"model.encoder": "transformer", "seed": 4}
    assert idea.source.kind == "human" and idea.history[-1].actor == HUMAN
    assert idea.spec["name"] == "my-idea"
    with pytest.raises(DuplicateIdea, match=idea.id):
        q.add_spec(spec)


def test_base_spec_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_home(None)
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    assert load_base_spec() == ExperimentSpec()
    (tmp_path / "base_spec.yaml").write_text("model:\n  encoder: lstm\ntrading:\n  contracts: 2\n")
    base = load_base_spec()
    assert base.model.encoder == "lstm" and base.trading.contracts == 2
    q = IdeaQueue(tmp_path / "queue" / "ideas.json")
    idea = q.propose("x", "", "", {"seed": 3}, AGENT)
    spec = idea.experiment_spec()
    assert spec.model.encoder == "lstm" and spec.trading.contracts == 2 and spec.seed == 3
    assert idea.base_hash == spec_hash(base)
    with pytest.raises(SpecError, match="not found"):
        load_base_spec(tmp_path / "missing.yaml")


def test_lease_heartbeat_thread(q: IdeaQueue) -> None:
    a = _propose(q, 1)
    q.approve(a.id, HUMAN)
    started = q.start(a.id, "w1")
    with LeaseHeartbeat(q, a.id, "w1", interval=0.05) as hb:
        deadline = time.time() + 5
        while q.get(a.id).lease.heartbeat == started.lease.heartbeat and time.time() < deadline:
            time.sleep(0.02)
        assert q.get(a.id).lease.heartbeat > started.lease.heartbeat
        q.reap_stale(0, max_attempts=5, now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60))
        assert hb.lost.wait(5)
    assert "not leased by worker w1" in hb.error


def test_the_same_invalid_proposal_is_stored_once(tmp_path: Path) -> None:
    q = IdeaQueue(tmp_path / "queue" / "ideas.json", base=ExperimentSpec())
    ids = []
    for _ in range(3):  # an agent job repeating a spec-invalid proposal every time
        with pytest.raises(InvalidProposal) as info:
            q.propose("bad stop", "", "", {"exits.stop_loss_pct": 500.0}, Source(kind="heuristic", name="rules"))
        ids.append(info.value.idea_id)
    assert len(set(ids)) == 1 and [i.status.value for i in q.list()] == ["invalid"]
