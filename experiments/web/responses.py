"""How the dashboard answers: JSON documents (NaN as null), pages rendered with what every page needs, and user
errors as one message (JSON for the API, the error page for a browser) with the HTTP status that fits."""
from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from experiments.ideas.errors import (
    DuplicateIdea,
    IdeaNotFound,
    IllegalTransition,
    LeaseError,
    ProposalError,
    QueueCorrupt,
    QueueLocked,
)
from experiments.web.auth import csrf_for, signed_in
from experiments.web.views import NotFound
from trader.errors import SpecError

API_PREFIX = "/api/v1"

STATUS_FOR: list[tuple[type[BaseException], int]] = [
    (NotFound, 404), (IdeaNotFound, 404), (QueueCorrupt, 503), (QueueLocked, 503), (IllegalTransition, 409),
    (DuplicateIdea, 409), (LeaseError, 409), (ProposalError, 422), (SpecError, 422),
]


def status_for(exc: BaseException) -> int:
    """The HTTP status of a user-facing error (the first matching class; any other GaussianError is 422)."""
    for cls, code in STATUS_FOR:
        if isinstance(exc, cls):
            return code
    return 422


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (JSON has no NaN), tuples lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def json_response(doc: Any, status_code: int = 200) -> Response:
    """A JSON response of `doc` (NaN/inf as null, dates as ISO strings)."""
    return Response(json.dumps(clean(doc), default=str), status_code=status_code, media_type="application/json")


def wants_json(request: Request) -> bool:
    """API paths (and clients that ask for JSON) get JSON errors; pages get an HTML page."""
    return request.url.path.startswith(API_PREFIX) or "application/json" in request.headers.get("accept", "")


def render(request: Request, template: str, ctx: dict[str, Any], status_code: int = 200) -> Response:
    """A page from templates/, with what every page needs (signed-in state, the CSRF value, the nav)."""
    templates: Jinja2Templates = request.app.state.templates
    token = request.app.state.web_token
    base = {"signed_in": signed_in(request), "csrf": csrf_for(token) if signed_in(request) else "",
            "path": request.url.path, "home": str(request.app.state.home)}
    return templates.TemplateResponse(request, template, {**base, **ctx}, status_code=status_code)


def error_response(request: Request, code: int, message: str, recover: bool = False) -> Response:
    """One message as JSON ({"error", "status"}) or as the error page (with the recover button when it helps)."""
    if wants_json(request):
        doc = {"error": message, "status": code}
        if recover:
            doc["recover"] = f"POST {API_PREFIX}/queue/recover"
        return json_response(doc, code)
    return render(request, "error.html", {"code": code, "message": message, "recover": recover}, code)


