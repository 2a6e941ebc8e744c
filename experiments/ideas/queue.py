"""The idea queue: proposals from agents, heuristics and people, reviewed, then leased to runners.

The contract between the agent that proposes, the person who reviews and the runner that executes. Every
change is one locked, atomic read-modify-write of the queue file (see experiments.ideas.store), so entries are
never lost or half-written, whatever crashes or runs at the same time.

Runner protocol: `lease_next(worker)` (or `start(id, worker)` for one approved idea by hand) -> `heartbeat`
every so often (LeaseHeartbeat does it from a thread) -> `complete(...)` or `fail(...)`, or `release(...)` on
a graceful stop. `reap_stale(grace, max_attempts)` returns ideas of dead workers to approved, or fails them
once `attempts` (runs started) reaches the maximum.
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from agents.sink import Source, SubmitResult
from experiments.home import queue_path
from experiments.ideas.autoapprove import AUTO_APPROVE_ACTOR, AutoApprovePolicy, load_autoapprove_policy, policy_day
from experiments.ideas.errors import (
    DuplicateIdea,
    InvalidProposal,
    LeaseError,
    ProposalError,
    QueueCorrupt,
    QueueLocked,
)
from experiments.ideas.models import (
    ACTIVE_STATUSES,
    HistoryEvent,
    Idea,
    IdeaResult,
    Lease,
    Proposal,
    Status,
    check_transition,
    clean_metrics,
)
from experiments.ideas.status import parse_status
from experiments.ideas.store import QueueState, QueueStore, RecoverResult
from experiments.spec.base import load_base_spec
from experiments.spec.io import (
    apply_overrides,
    describe_validation_error,
    flatten,
    parse_override,
    spec_diff,
    validate_spec,
)
from experiments.spec.io import spec_hash as hash_spec
from experiments.spec.model import ExperimentSpec
from trader.errors import SpecError

__all__ = [
    "Idea",
    "IdeaQueue",
    "LeaseHeartbeat",
    "RecoverResult",
    "Source",
    "Status",
    "SubmitResult",
    "normalise_changes",
    "parse_status",
]

REAPER_ACTOR = "reaper"
ERROR_LIMIT = 4000
LOG_TAIL_LIMIT = 8000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _worker_actor(worker_id: str) -> str:
    return f"worker:{worker_id}"


def normalise_changes(changes: dict[str, Any] | list[str]) -> dict[str, Any]:
    """Spec changes as {dotted.path: value}: `k=v` strings parsed, nested sections flattened, JSON-safe checked."""
    if isinstance(changes, list):
        out = {".".join(k): v for k, v in map(parse_override, changes)}
    elif isinstance(changes, dict):
        if any(not isinstance(k, str) or not k for k in changes):
            raise ProposalError("spec changes must be keyed by dotted field paths such as 'model.encoder'")
        out = flatten(changes)
    else:
        raise ProposalError(f"spec changes must be a mapping of field paths to values, got {type(changes).__name__}")
    try:
        return json.loads(json.dumps(out, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ProposalError(f"spec changes must be plain JSON values: {exc}") from None


def _resolve(base: dict[str, Any], changes: dict[str, Any], source: str) -> tuple[ExperimentSpec | None, list[str]]:
    try:
        return validate_spec(apply_overrides(base, changes), source=source), []
    except SpecError as exc:
        return None, [str(exc)]


def _describe_changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in changes.items())


def titled(title: str, diff: dict[str, tuple[Any, Any]], limit: int = 200) -> str:
    """The title, with the changes it does not name appended (`[+ entry.type="momentum"]`), so that a title says
    every change its idea makes; a change is named by its full path, its last part, or its section and new value
    ("entry controller consensus" names entry.type = consensus)."""
    low = title.lower()

    def named(path: str, new: Any) -> bool:
        value = str(new).lower()
        return (path.lower() in low or path.rsplit(".", 1)[-1].lower() in low
                or (path.split(".", 1)[0].lower() in low and len(value) > 1 and value in low))

    missing = [f"{path}={json.dumps(new, default=str)}" for path, (_, new) in diff.items() if not named(path, new)]
    if not missing:
        return title
    tail = f" [+ {', '.join(missing)}]"
    return title[: max(20, limit - len(tail))] + tail if len(title) + len(tail) > limit else title + tail


class IdeaQueue:
    """The idea queue over one TinyDB-format file; implements agents.sink.ProposalSink."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        policy: AutoApprovePolicy | None = None,
        base: ExperimentSpec | None = None,
        backups: int = 5,
        lock_timeout: float = 60.0,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.store = QueueStore(path if path is not None else queue_path(), backups=backups, lock_timeout=lock_timeout)
        self.policy = policy or AutoApprovePolicy()
        self._base = base
        self._clock = clock

    @classmethod
    def from_home(cls) -> IdeaQueue:
        """The home's queue (queue/ideas.json) with the home's auto-approve policy and base spec."""
        return cls(queue_path(), policy=load_autoapprove_policy())

    @property
    def path(self) -> Path:
        """The queue file."""
        return self.store.path

    def base_spec(self) -> ExperimentSpec:
        """The base spec proposals are applied to (given at construction, else the home's base_spec.yaml)."""
        return self._base if self._base is not None else load_base_spec()

    # ----- reading -----------------------------------------------------------------------------------------

    def resolve(self, ref: str, state: QueueState | None = None) -> str:
        """The full id for `ref`: an exact id, a sequence number ('42'), or a unique prefix or suffix of an id."""
        return self.store.resolve(ref, state)

    def get(self, ref: str) -> Idea:
        """One idea by id (or sequence number / unique suffix)."""
        return self.store.get(ref)

    def list(self, status: Status | str | None = None) -> list[Idea]:
        """All ideas in creation order, optionally only those with one status."""
        return self.store.ideas(status)

    def counts(self) -> dict[str, int]:
        """How many ideas are in each status (every status listed)."""
        return self.store.counts()

    def find_active_duplicate(self, spec_hash: str, state: QueueState | None = None,
                              exclude: str | None = None) -> Idea | None:
        """The queued, running or done idea with this spec hash, if any."""
        for idea in (state or self.store.load()).ideas.values():
            if idea.spec_hash == spec_hash and idea.status in ACTIVE_STATUSES and idea.id != exclude:
                return idea
        return None

    # ----- proposing -----------------------------------------------------------------------------------------

    def propose(
        self,
        title: str,
        hypothesis: str,
        rationale: str,
        changes: dict[str, Any] | list[str],
        source: Source | dict[str, Any],
        priority: int = 0,
        analysis_ref: str | None = None,
        base: ExperimentSpec | None = None,
    ) -> Idea:
        """Validate and queue a proposal (changes against the base spec); raises DuplicateIdea / InvalidProposal.

        A proposal whose spec fails validation is stored with status invalid (for audit) and InvalidProposal
        is raised carrying its id and errors; malformed title/text/source raise ProposalError and store nothing.
        """
        proposal = self._proposal(title, hypothesis, rationale, changes, source, priority, analysis_ref)
        base_spec = base or self.base_spec()
        spec, errors = _resolve(base_spec.model_dump(mode="json"), proposal.changes, f"proposal '{proposal.title}'")
        if spec is not None:
            diff = spec_diff(base_spec, spec)
            if not diff:
                raise DuplicateIdea(f"proposal '{proposal.title}' changes nothing against the base spec "
                                    f"(same spec hash {hash_spec(base_spec)})", None)
            proposal.title = titled(proposal.title, diff)
        idea = self._insert(proposal, base_spec, spec, errors)
        if idea.status is Status.INVALID:
            raise InvalidProposal(f"proposal '{proposal.title}' was stored as invalid idea {idea.id}: "
                                  f"{'; '.join(errors)}", idea.id, errors)
        return idea

    def submit(
        self,
        title: str,
        hypothesis: str,
        rationale: str,
        changes: dict[str, Any],
        source: Source,
        priority: int = 0,
        analysis_ref: str | None = None,
    ) -> SubmitResult:
        """ProposalSink: queue a proposal and answer accepted, or refused with reasons (never raises for it)."""
        try:
            idea = self.propose(title, hypothesis, rationale, changes, source, priority, analysis_ref)
        except InvalidProposal as exc:
            return SubmitResult(accepted=False, idea_id=exc.idea_id, reasons=list(exc.errors),
                                status=Status.INVALID.value)
        except (DuplicateIdea, ProposalError) as exc:
            return SubmitResult(accepted=False, idea_id=None, reasons=[str(exc)])
        return SubmitResult(accepted=True, idea_id=idea.id, reasons=[], status=idea.status.value)

    def record_invalid(
        self,
        title: str,
        hypothesis: str,
        rationale: str,
        changes: dict[str, Any],
        source: Source,
        reasons: list[str],
    ) -> SubmitResult:
        """ProposalSink: store a proposal of the wrong shape as invalid with its reasons (once: the same changes
        and reasons again give back the stored idea). What cannot be kept of it (text that is no text, changes
        that are not plain JSON) is left out and said so among the reasons."""
        errors = [str(r) for r in reasons]
        try:
            kept = normalise_changes(changes if isinstance(changes, dict) else {})
        except ProposalError as exc:
            kept, errors = {}, [*errors, f"changes left out: {exc}"]
        try:
            proposal = self._proposal(str(title or "").strip()[:200] or "(untitled proposal)",
                                      str(hypothesis or "")[:4000], str(rationale or "")[:20_000], kept, source,
                                      0, None)
            idea = self._insert(proposal, self.base_spec(), None, errors, same_errors=True)
        except ProposalError as exc:
            return SubmitResult(accepted=False, idea_id=None, reasons=[str(exc)])
        return SubmitResult(accepted=False, idea_id=idea.id, reasons=errors, status=Status.INVALID.value)

    def add_spec(
        self,
        spec: ExperimentSpec,
        title: str | None = None,
        hypothesis: str = "",
        rationale: str = "",
        source: Source | None = None,
        priority: int = 0,
        approve: bool = False,
        actor: str | None = None,
        note: str = "",
        base: ExperimentSpec | None = None,
    ) -> Idea:
        """Queue a person's own full spec (its changes are its diff against the base); optionally approve it."""
        base_spec = base or self.base_spec()
        changes = {k: new for k, (_, new) in spec_diff(base_spec, spec).items()}
        if title is None:
            title = spec.name if spec.name != "experiment" else ("changes: " + _describe_changes(changes)
                                                                 if changes else "the base spec")
        src = source or Source(kind="human", name=((actor or "").removeprefix("human:") or "human")[:80])
        proposal = self._proposal(title[:200], hypothesis, rationale, changes, src, priority, None)
        idea = self._insert(proposal, base_spec, spec, [], approve_by=(actor or src.label()) if approve else None,
                            approve_note=note)
        return idea

    def _proposal(self, title: str, hypothesis: str, rationale: str, changes: Any, source: Any, priority: int,
                  analysis_ref: str | None) -> Proposal:
        try:
            proposal = Proposal(title=title, hypothesis=hypothesis, rationale=rationale, changes={},
                                source=source, priority=priority, analysis_ref=analysis_ref)
        except ValidationError as err:
            raise ProposalError(describe_validation_error(err, "proposal")) from None
        proposal.changes = normalise_changes(changes)
        return proposal

    def _insert(self, proposal: Proposal, base: ExperimentSpec, spec: ExperimentSpec | None, errors: list[str],
                approve_by: str | None = None, approve_note: str = "", same_errors: bool = False) -> Idea:
        digest = hash_spec(spec) if spec is not None else None
        with self.store.transaction() as state:
            now = self._clock()
            if digest is not None:
                dup = self.find_active_duplicate(digest, state)
                if dup is not None:
                    raise DuplicateIdea(
                        f"proposal '{proposal.title}' duplicates idea {dup.id} ('{dup.title}', {dup.status.value}): "
                        f"same spec hash {digest}", dup.id)
            if spec is None:  # the same invalid proposal again (each agent job may repeat it): stored once
                same = [i for i in state.ideas.values() if i.status is Status.INVALID
                        and i.changes == proposal.changes and i.base_hash == hash_spec(base)
                        and (not same_errors or i.errors == errors)]
                if same:
                    return same[0]
            seq = state.next_seq
            status = Status.PROPOSED if spec is not None else Status.INVALID
            idea = Idea(
                id=f"{now:%Y%m%d-%H%M%S}-{seq:04d}", seq=seq, created=now, source=proposal.source,
                title=proposal.title, hypothesis=proposal.hypothesis, rationale=proposal.rationale,
                analysis_ref=proposal.analysis_ref, changes=proposal.changes, base_hash=hash_spec(base),
                spec=spec.model_dump(mode="json") if spec is not None else None, spec_hash=digest, errors=errors,
                priority=proposal.priority, status=status,
                history=[HistoryEvent(time=now, actor=proposal.source.label(), action="propose", from_status=None,
                                      to_status=status, note="; ".join(errors))],
            )
            if approve_by is not None:
                idea.record("approve", Status.APPROVED, approve_by, approve_note, when=now)
            elif spec is not None and self.policy.enabled:
                today = policy_day(now)
                used = sum(1 for i in state.ideas.values() for e in i.history
                           if e.actor == AUTO_APPROVE_ACTOR and e.action == "approve" and policy_day(e.time) == today)
                if not self.policy.refusals(spec_diff(base, spec), proposal.source.kind, used):
                    idea.record("approve", Status.APPROVED, AUTO_APPROVE_ACTOR, "within the auto-approve policy",
                                when=now)
            state.ideas[idea.id] = idea
            state.next_seq = seq + 1
            state.touch(idea.id)
        return idea

    # ----- reviewing -----------------------------------------------------------------------------------------

    def _change(self, ref: str, fn: Callable[[Idea, QueueState, dt.datetime], None]) -> Idea:
        with self.store.transaction() as state:
            idea = state.ideas[self.resolve(ref, state)]
            fn(idea, state, self._clock())
            state.touch(idea.id)
        return idea

    def approve(self, ref: str, actor: str, note: str = "") -> Idea:
        """proposed -> approved."""
        return self._change(ref, lambda i, s, now: i.record("approve", Status.APPROVED, actor, note, when=now))

    def reject(self, ref: str, actor: str, note: str) -> Idea:
        """proposed -> rejected; the note (why) is required."""
        if not note or not note.strip():
            raise ProposalError(f"rejecting idea {ref} needs a note saying why (--note)")
        return self._change(ref, lambda i, s, now: i.record("reject", Status.REJECTED, actor, note, when=now))

    def edit(self, ref: str, overrides: dict[str, Any] | list[str], actor: str, note: str = "") -> Idea:
        """Change fields of a proposed, approved or invalid idea; the new spec is re-validated and needs approval."""
        changes = normalise_changes(overrides)
        if not changes:
            raise ProposalError(f"editing idea {ref} needs at least one --set field=value")
        base = self.base_spec()

        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            check_transition(idea, "edit", Status.PROPOSED)
            merged = {**idea.changes, **changes}
            if idea.spec is not None:
                spec, errors = _resolve(idea.spec, changes, f"edit of idea {idea.id}")
            else:
                spec, errors = _resolve(base.model_dump(mode="json"), merged, f"edit of idea {idea.id}")
                idea.base_hash = hash_spec(base)
            if spec is None:
                raise SpecError(errors[0] + " (the idea was not changed)")
            digest = hash_spec(spec)
            dup = self.find_active_duplicate(digest, state, exclude=idea.id)
            if dup is not None:
                raise DuplicateIdea(f"editing idea {idea.id} would duplicate idea {dup.id} ('{dup.title}', "
                                    f"{dup.status.value}): same spec hash {digest}", dup.id)
            was = idea.status
            idea.changes, idea.spec, idea.spec_hash, idea.errors = merged, spec.model_dump(mode="json"), digest, []
            text = "set " + _describe_changes(changes)
            if was is Status.APPROVED:
                text += "; needs approving again"
            idea.record("edit", Status.PROPOSED, actor, f"{text} ({note})" if note else text, when=now)

        return self._change(ref, apply)

    def set_priority(self, ref: str, priority: int, actor: str) -> Idea:
        """Change a proposed or approved idea's priority (higher runs first)."""
        if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 1_000_000:
            raise ProposalError(f"priority must be an integer between -1000000 and 1000000, got {priority!r}")

        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            old = idea.priority
            idea.record("priority", idea.status, actor, f"priority {old} -> {priority}", when=now)
            idea.priority = priority

        return self._change(ref, apply)

    # ----- running -------------------------------------------------------------------------------------------

    @staticmethod
    def _begin(idea: Idea, worker_id: str, now: dt.datetime) -> None:
        if not worker_id:
            raise LeaseError("a worker id is required to lease an idea")
        idea.record("start", Status.RUNNING, _worker_actor(worker_id), f"attempt {idea.attempts + 1}", when=now)
        idea.attempts += 1
        idea.lease = Lease(worker_id=worker_id, started=now, heartbeat=now)

    def lease_next(self, worker_id: str) -> Idea | None:
        """Lease the highest-priority approved idea (oldest first among equals) to a worker, or None."""
        with self.store.transaction() as state:
            ready = [i for i in state.ideas.values() if i.status is Status.APPROVED]
            if not ready:
                return None
            idea = min(ready, key=lambda i: (-i.priority, i.seq))
            self._begin(idea, worker_id, self._clock())
            state.touch(idea.id)
        return idea

    def start(self, ref: str, worker_id: str) -> Idea:
        """Lease one approved idea by hand (`gaussian run --idea ID`); a proposed idea must be approved first."""
        return self._change(ref, lambda i, s, now: self._begin(i, worker_id, now))

    @staticmethod
    def _owned(idea: Idea, worker_id: str) -> Lease:
        if idea.status is not Status.RUNNING or idea.lease is None:
            raise LeaseError(f"idea {idea.id} is {idea.status.value}, not leased by worker {worker_id}; "
                             f"its lease was released or reaped")
        if idea.lease.worker_id != worker_id:
            raise LeaseError(f"idea {idea.id} is leased by worker {idea.lease.worker_id}, not {worker_id}")
        return idea.lease

    def heartbeat(self, ref: str, worker_id: str) -> Idea:
        """Tell the queue the worker holding the idea is alive."""
        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            self._owned(idea, worker_id).heartbeat = now

        return self._change(ref, apply)

    def complete(self, ref: str, worker_id: str, run_id: str, metrics: dict[str, Any]) -> Idea:
        """running -> done, recording the run id and its key metrics."""
        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            self._owned(idea, worker_id)
            idea.record("complete", Status.DONE, _worker_actor(worker_id), f"run {run_id}", when=now)
            idea.lease = None
            idea.result = IdeaResult(run_id=run_id, metrics=clean_metrics(metrics), finished=now)

        return self._change(ref, apply)

    def fail(self, ref: str, worker_id: str, error: str, log_tail: str = "", run_id: str | None = None) -> Idea:
        """running -> failed, recording the error and the tail of the run's log."""
        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            self._owned(idea, worker_id)
            text = (error or "").strip() or "failed"
            idea.record("fail", Status.FAILED, _worker_actor(worker_id), text.splitlines()[0][:500], when=now)
            idea.lease = None
            idea.result = IdeaResult(run_id=run_id, error=text[:ERROR_LIMIT],
                                     log_tail=log_tail[-LOG_TAIL_LIMIT:] or None, finished=now)

        return self._change(ref, apply)

    def release(self, ref: str, worker_id: str, note: str = "") -> Idea:
        """running -> approved on a graceful stop; the attempt is given back."""
        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            self._owned(idea, worker_id)
            idea.record("release", Status.APPROVED, _worker_actor(worker_id), note or "released", when=now)
            idea.lease = None
            idea.attempts = max(0, idea.attempts - 1)

        return self._change(ref, apply)

    def retry(self, ref: str, worker_id: str, note: str) -> Idea:
        """A leased idea starts again on another machine (its worker died): the attempt is counted, the lease kept."""
        def apply(idea: Idea, state: QueueState, now: dt.datetime) -> None:
            lease = self._owned(idea, worker_id)
            idea.attempts += 1
            idea.record("retry", Status.RUNNING, _worker_actor(worker_id), f"attempt {idea.attempts}: {note}",
                        when=now)
            lease.heartbeat = now

        return self._change(ref, apply)

    def reap_stale(self, grace_seconds: float, max_attempts: int, now: dt.datetime | None = None) -> list[Idea]:
        """Running ideas silent for over `grace_seconds` go back to approved, or to failed at `max_attempts`."""
        if max_attempts < 1:
            raise ProposalError(f"max_attempts must be at least 1, got {max_attempts}")
        reaped: list[Idea] = []
        with self.store.transaction() as state:
            t = now or self._clock()
            cutoff = t - dt.timedelta(seconds=grace_seconds)
            for idea in state.ideas.values():
                if idea.status is not Status.RUNNING or idea.lease is None or idea.lease.heartbeat >= cutoff:
                    continue
                lease = idea.lease
                why = (f"lease of worker {lease.worker_id} went stale (last heartbeat "
                       f"{lease.heartbeat.isoformat(timespec='seconds')}, attempt {idea.attempts})")
                if idea.attempts >= max_attempts:
                    idea.record("reap", Status.FAILED, REAPER_ACTOR, f"{why}; {max_attempts} attempts used", when=t)
                    idea.result = IdeaResult(error=f"{why}; gave up after {idea.attempts} attempts", finished=t)
                else:
                    idea.record("reap", Status.APPROVED, REAPER_ACTOR, f"{why}; back to approved", when=t)
                idea.lease = None
                reaped.append(idea)
            if reaped:
                state.touch(*(i.id for i in reaped))
        return reaped

    # ----- repair --------------------------------------------------------------------------------------------

    def recover(self, force: bool = False) -> RecoverResult:
        """Restore the newest backup that validates (only when the file is unreadable, unless force)."""
        return self.store.recover(force=force)


class LeaseHeartbeat:
    """Keep a lease alive from a background thread while a run executes; `lost` is set when the lease is gone."""

    def __init__(self, queue: IdeaQueue, idea_id: str, worker_id: str, interval: float = 30.0) -> None:
        self.queue, self.idea_id, self.worker_id, self.interval = queue, idea_id, worker_id, interval
        self.lost = threading.Event()
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{idea_id}", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.queue.heartbeat(self.idea_id, self.worker_id)
            except LeaseError as exc:
                self.error = str(exc)
                self.lost.set()
                return
            except QueueLocked as exc:  # transient: try again at the next beat
                self.error = str(exc)
            except QueueCorrupt as exc:
                self.error = str(exc)
                return
