"""The JSON API under /api/v1: everything the pages show (the same documents the CLI's --json prints) and every
action they offer, each action behind `require_token`."""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from experiments.home import queue_path
from experiments.web import actions, views
from experiments.web.alerts import alerts_summary
from experiments.web.auth import require_token
from experiments.web.cache import QUEUES
from experiments.web.responses import clean, json_response

router = APIRouter()
WRITE = [Depends(require_token)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReviewBody(_Body):
    """approve (note optional) or reject (note required)."""

    note: str = Field("", max_length=20_000)
    by: str | None = Field(None, max_length=200)


class EditBody(_Body):
    """Spec changes as {"path.to.field": value} or ["path.to.field=value", ...], as `queue edit --set`."""

    set: dict[str, Any] | list[str]
    note: str = Field("", max_length=20_000)
    by: str | None = Field(None, max_length=200)


class PriorityBody(_Body):
    """A new priority (an integer; the range is checked with the CLI's message)."""

    priority: Any
    by: str | None = Field(None, max_length=200)


class PromoteBody(_Body):
    """Which run to put through the gate."""

    run: str = Field(min_length=1, max_length=200)
    by: str | None = Field(None, max_length=200)


@router.get("/overview")
def overview(request: Request) -> Response:
    """`gaussian status --json`, plus live progress and the alerts' state."""
    return json_response(views.overview(alerts_summary(request.app.state.home)))


@router.get("/ideas")
def ideas(status: str | None = None) -> Response:
    """The queue's ideas (optionally one status) and the counts per status (serialised once per queue version)."""
    body = QUEUES.derived(queue_path(), f"api-ideas:{status or ''}",
                          lambda _state: json.dumps(clean(views.ideas(status)), default=str))
    return Response(body, media_type="application/json")


@router.get("/ideas/{ref}")
def idea(ref: str) -> Response:
    """One idea: everything `gaussian queue show --json` gives, plus the actions allowed now."""
    return json_response(views.idea(ref))


@router.post("/ideas/{ref}/approve", dependencies=WRITE)
def approve(ref: str, body: ReviewBody) -> Response:
    """proposed -> approved."""
    return json_response(actions.approve(ref, body.note, body.by))


@router.post("/ideas/{ref}/reject", dependencies=WRITE)
def reject(ref: str, body: ReviewBody) -> Response:
    """proposed -> rejected (the note is required)."""
    return json_response(actions.reject(ref, body.note, body.by))


@router.post("/ideas/{ref}/edit", dependencies=WRITE)
def edit(ref: str, body: EditBody) -> Response:
    """Change spec fields; the idea is re-validated and goes back to proposed."""
    return json_response(actions.edit(ref, body.set, body.note, body.by))


@router.post("/ideas/{ref}/priority", dependencies=WRITE)
def priority(ref: str, body: PriorityBody) -> Response:
    """Change a proposed or approved idea's priority."""
    return json_response(actions.set_priority(ref, body.priority, body.by))


@router.post("/queue/recover", dependencies=WRITE)
def recover() -> Response:
    """Restore the newest good backup of an unreadable queue file."""
    return json_response(actions.recover())


@router.get("/runs")
def runs() -> Response:
    """The leaderboard (`gaussian leaderboard --json` as `rows`)."""
    return json_response(views.runs())


@router.get("/runs/{run_id}")
def run(run_id: str) -> Response:
    """One run: spec, metrics, baselines, plot URLs and ANALYSIS.md."""
    return json_response(views.run(run_id))


@router.get("/runs/{run_id}/equity")
def equity(run_id: str) -> Response:
    """A run's validation equity curve."""
    return json_response(views.equity(run_id))


@router.get("/compare")
def compare(run: list[str] = Query(default_factory=list)) -> Response:  # noqa: B008 (FastAPI's declaration)
    """Two or more runs side by side (?run=A&run=B)."""
    return json_response(views.compare(run))


@router.get("/promotion")
def promotion() -> Response:
    """The promoted run, the gate's settings and the decision history."""
    return json_response(views.promotion())


@router.get("/promotion/check/{run_id}")
def gate_check(run_id: str) -> Response:
    """The gate's validation checks for a run (the holdout stays sealed)."""
    return json_response(views.gate_preview(run_id))


@router.post("/promotion/promote", dependencies=WRITE)
def promote(body: PromoteBody) -> Response:
    """Apply the gate to a run and promote it when every check passes; the decision either way (422 when refused)."""
    decision = actions.promote(body.run, body.by)
    if decision["promoted"]:
        return json_response(decision)
    return json_response({**decision, "error": decision["message"], "status": 422}, 422)


@router.get("/paper")
def paper() -> Response:
    """Every paper session with its kill-switch state."""
    return json_response(views.paper())


@router.get("/paper/{session}")
def paper_session(session: str) -> Response:
    """One paper session: positions, journal tail, equity."""
    return json_response(views.paper_session(session))


@router.get("/alerts")
def alerts(request: Request) -> Response:
    """The alerts' webhooks (by name), events sent and delivery failures."""
    return json_response(alerts_summary(request.app.state.home))
