"""Running one queued idea: lease it, run its spec, record the result (or the failure) on it."""
from __future__ import annotations

import os
import socket
import traceback

from experiments.ideas.queue import IdeaQueue, LeaseHeartbeat
from experiments.runs.runner import RunResult, run_experiment
from experiments.runs.summary import key_metrics
from experiments.spec.io import apply_overrides, validate_spec

HEARTBEAT_SECONDS = 30.0


def worker_id(kind: str = "manual") -> str:
    """An id naming who holds a lease: kind, host and process."""
    return f"{kind}-{socket.gethostname()}-{os.getpid()}"


def run_idea(ref: str, overrides: list[str] | None = None, cycles: int | None = None, worker: str | None = None,
             queue: IdeaQueue | None = None) -> RunResult:
    """Lease an approved idea (id, number or unique part), run it, record the run id and key metrics on it."""
    q = queue or IdeaQueue.from_home()
    wid = worker or worker_id()
    idea = q.start(ref, wid)
    try:
        with LeaseHeartbeat(q, idea.id, wid, HEARTBEAT_SECONDS):
            data = idea.spec or {}
            if overrides:
                data = apply_overrides(data, overrides)
            spec = validate_spec(data, f"idea {idea.id}")
            result = run_experiment(spec, cycles=cycles, idea_id=idea.id)
    except BaseException as exc:
        tail = "".join(traceback.format_exception(exc))[-4000:]
        q.fail(idea.id, wid, f"{type(exc).__name__}: {exc}", tail)
        raise
    q.complete(idea.id, wid, result.run_id, key_metrics(result.metrics))
    return result
