"""The dashboard's FastAPI application over one home: templates, static files (Plotly served from the installed
`plotly` package, never a CDN), the JSON API and the pages, the token, and errors turned into one clear message
(404 naming the id, 422 naming the field, 401/403 for a missing or wrong token, 503 for a damaged queue file
with the recover action) instead of a traceback."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException

from experiments.home import set_home
from experiments.ideas.errors import QueueCorrupt
from experiments.web.auth import load_or_create_token
from experiments.web.responses import API_PREFIX, clean, error_response, status_for
from trader.errors import GaussianError

HERE = Path(__file__).resolve().parent

def plotly_js() -> Path:
    """plotly.min.js inside the installed `plotly` package."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise GaussianError("the `plotly` package is missing: pip install plotly (the dashboard serves its "
                            "plotly.min.js)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.exists():
        raise GaussianError(f"{path} is missing from the installed plotly package; reinstall plotly")
    return path


SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"same-origin")]


class _HomeAndHeaders:
    """ASGI middleware: point the process's readers at this app's home for each request (a process serves one
    home; tests run several apps one after another) and add the security headers to every response."""

    def __init__(self, app: Any, home: Path) -> None:
        self.app, self.home = app, home

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        set_home(self.home)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(home: Path, token: str | None = None, *, alerts: bool = False, datamanager: bool = True,
               db_url: str | None = None) -> FastAPI:
    """The dashboard over `home`. `token` guards every state-changing request (default: GAUSSIAN_WEB_TOKEN, else
    <home>/web_token, generated at first use with mode 600). With `alerts`, a thread delivers the home's
    alerts.yaml webhooks while the app runs. With `datamanager`, the Data Manager (bots API, competition, market
    bars) is mounted on the same app over `db_url` (default <home>/datamanager.db), its admin token the web token."""
    from experiments.web import api, pages
    from experiments.web.auth import env_token

    home = Path(home).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    set_home(home)
    token_created = False
    if token is None:
        token = env_token()
    if token is None:
        token, token_created = load_or_create_token(home)
    app = FastAPI(title="gaussian", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.home = home
    app.state.web_token = token
    app.state.token_created = token_created
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters["num"] = _num
    app.state.templates.env.filters["pct"] = _pct
    app.state.templates.env.filters["js"] = _js
    app.state.dispatcher = None

    app.add_middleware(_HomeAndHeaders, home=home)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        return error_response(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "request"
        return error_response(request, 422, f"{where}: {e.get('msg', 'invalid')}")

    @app.exception_handler(GaussianError)
    async def _gaussian(request: Request, exc: GaussianError) -> Response:
        return error_response(request, status_for(exc), str(exc), recover=isinstance(exc, QueueCorrupt))

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def _plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="application/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(pages.router)
    if datamanager:
        from experiments.web.datamanager import mount_datamanager

        mount_datamanager(app, home, db_url, token)

    if alerts:
        from experiments.web.alerts import AlertDispatcher, load_alerts

        cfg = load_alerts(home)
        if cfg is not None and cfg.webhooks:
            dispatcher = AlertDispatcher(home, cfg)
            app.state.dispatcher = dispatcher
            app.router.on_startup.append(dispatcher.start)
            app.router.on_shutdown.append(dispatcher.stop)
    return app


def _js(v: Any) -> Markup:
    """A value as JSON, safe inside a <script> block and in HTML text (no '<' survives)."""
    return Markup(json.dumps(clean(v), default=str).replace("<", "\\u003c").replace("&", "\\u0026"))


def _num(v: Any, digits: int = 2) -> str:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "-"
    return f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}"


def _pct(v: Any) -> str:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(float(v)):
        return "-"
    return f"{float(v):.1%}"
