"""The HTML pages: overview, ideas (review with approve / reject / edit / priority), runs (leaderboard, one run,
comparison), promotion, paper, and sign-in. Form posts go through `require_token` (cookie + CSRF field) and the
same actions as the API; a refused action re-renders the page with the message and nothing stored."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from experiments.web import actions, views
from experiments.web.alerts import alerts_summary
from experiments.web.auth import COOKIE, require_token, same_token
from experiments.web.responses import render, status_for
from trader.errors import GaussianError

router = APIRouter(include_in_schema=False)
WRITE = [Depends(require_token)]


def _back(url: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"{url}?msg={quote(msg)}", status_code=303)


@router.get("/")
def overview(request: Request) -> Response:
    """Optimizer heartbeat and health, what is running, queue counts, agent spend, the promoted run."""
    return render(request, "overview.html", {"s": views.overview(alerts_summary(request.app.state.home))})


# ----- ideas ---------------------------------------------------------------------------------------------------


@router.get("/ideas")
def ideas(request: Request, status: str | None = None) -> Response:
    """The queue, filtered by status."""
    return render(request, "ideas.html", {"q": views.ideas(status or None)})


def _idea_page(request: Request, ref: str, error: str | None = None, code: int = 200,
               form: dict[str, Any] | None = None) -> Response:
    return render(request, "idea.html", {"d": views.idea(ref), "error": error, "msg": request.query_params.get("msg"),
                                         "form": form or {}}, code)


@router.get("/ideas/{ref}")
def idea(request: Request, ref: str) -> Response:
    """One idea: hypothesis, rationale, spec diff, motivating analysis, history and the review buttons."""
    return _idea_page(request, ref)


def _act(request: Request, ref: str, fn: Callable[[], dict[str, Any]], done: str, form: dict[str, Any]) -> Response:
    try:
        out = fn()
    except GaussianError as exc:
        return _idea_page(request, ref, str(exc), status_for(exc), form)
    return _back(f"/ideas/{out['id']}", f"{done}: now {out['status']}")


@router.post("/ideas/{ref}/approve", dependencies=WRITE)
def approve(request: Request, ref: str, note: str = Form(""), by: str = Form("")) -> Response:
    """Approve with an optional note."""
    return _act(request, ref, lambda: actions.approve(ref, note, by), "approved", {"note": note})


@router.post("/ideas/{ref}/reject", dependencies=WRITE)
def reject(request: Request, ref: str, note: str = Form(""), by: str = Form("")) -> Response:
    """Reject; the note saying why is required."""
    return _act(request, ref, lambda: actions.reject(ref, note, by), "rejected", {"note": note})


@router.post("/ideas/{ref}/edit", dependencies=WRITE)
def edit(request: Request, ref: str, field: str = Form(""), value: str = Form(""),
         note: str = Form(""), by: str = Form("")) -> Response:
    """Set one spec field (parsed as `--set field=value`); re-validated, back to proposed."""
    return _act(request, ref, lambda: actions.edit_field(ref, field, value, note, by), f"edited {field}",
                {"field": field, "value": value, "note": note})


@router.post("/ideas/{ref}/priority", dependencies=WRITE)
def priority(request: Request, ref: str, priority: str = Form(""), by: str = Form("")) -> Response:
    """Change the priority."""
    return _act(request, ref, lambda: actions.set_priority(ref, priority, by), "priority changed",
                {"priority": priority})


@router.post("/queue/recover", dependencies=WRITE)
def recover(request: Request) -> Response:
    """Restore the newest good backup of the queue file, then show the queue."""
    out = actions.recover()
    return _back("/ideas", f"restored {out['restored_from']} ({out['ideas']} ideas)")


# ----- runs ----------------------------------------------------------------------------------------------------


@router.get("/runs")
def runs(request: Request) -> Response:
    """The sortable leaderboard; tick runs to compare them."""
    return render(request, "runs.html", {"r": views.runs()})


@router.get("/runs/{run_id}")
def run(request: Request, run_id: str) -> Response:
    """One run: ANALYSIS.md, plots, the equity curve and the spec."""
    return render(request, "run.html", {"r": views.run(run_id), "curve": views.equity(run_id)})


@router.get("/runs/{run_id}/files/{rel:path}")
def run_file(run_id: str, rel: str) -> FileResponse:
    """A file of the run (its plots)."""
    return FileResponse(views.run_file(run_id, rel))


@router.get("/compare")
def compare(request: Request, run: list[str] = Query(default_factory=list)) -> Response:  # noqa: B008
    """Runs side by side: metrics table and equity curves on one chart."""
    return render(request, "compare.html", {"c": views.compare(run)})


# ----- promotion and paper -------------------------------------------------------------------------------------


@router.get("/promotion")
def promotion(request: Request, run: str | None = None) -> Response:
    """The promoted run, its evidence, the history, and the gate's checks for any run."""
    preview = views.gate_preview(run) if run else None
    return render(request, "promotion.html", {"p": views.promotion(), "preview": preview, "run": run or "",
                                              "rows": views.runs()["rows"], "decision": None})


@router.post("/promotion/promote", dependencies=WRITE)
def promote(request: Request, run: str = Form(""), by: str = Form("")) -> Response:
    """Run the gate on a run and show each check; promoted only when all pass."""
    decision = actions.promote(run, by)
    return render(request, "promotion.html", {"p": views.promotion(), "preview": None, "run": run,
                                              "rows": views.runs()["rows"], "decision": decision},
                  200 if decision["promoted"] else 422)


@router.get("/paper")
def paper(request: Request) -> Response:
    """Paper sessions with their kill-switch state."""
    return render(request, "paper.html", {"p": views.paper(), "s": None})


@router.get("/paper/{session}")
def paper_session(request: Request, session: str) -> Response:
    """One session: positions, journal tail and equity."""
    return render(request, "paper.html", {"p": views.paper(), "s": views.paper_session(session)})


# ----- sign-in -------------------------------------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    """Ask for the web token."""
    return render(request, "login.html", {"next": next, "error": None})


@router.post("/login")
def login(request: Request, token: str = Form(""), next: str = Form("/")) -> Response:
    """Check the token and set the sign-in cookie (HttpOnly, SameSite=Strict)."""
    if not token or not same_token(token.strip(), request.app.state.web_token):
        return render(request, "login.html", {"next": next, "error": "that is not the web token"},
                      401 if not token else 403)
    target = next if next.startswith("/") and not next.startswith("//") else "/"
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, request.app.state.web_token, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", max_age=30 * 86400)
    return resp


@router.post("/logout")
def logout() -> Response:
    """Forget the sign-in cookie."""
    resp = RedirectResponse("/", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp
