"""The Data Manager's pages: bots, the leaderboard by metric and window, and a bot's trades, equity and
replicate button (server-rendered Jinja, no script)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from experiments.web.datamanager import store
from experiments.web.datamanager.errors import ApiError, limited_route
from experiments.web.datamanager.service import DataManager

PREFIX = "/datamanager"
WINDOWS = (("", "all time"), ("1", "last hour"), ("24", "last 24 hours"), ("168", "last 7 days"),
           ("720", "last 30 days"))


def _equity(pnls: list[float], width: int = 640, height: int = 180) -> dict[str, Any] | None:
    """An SVG polyline of cumulative P&L (a point per trade, starting from 0)."""
    if not pnls:
        return None
    curve = [0.0]
    for p in pnls:
        curve.append(curve[-1] + p)
    lo, hi = min(curve), max(curve)
    span = (hi - lo) or 1.0
    n = len(curve) - 1

    def y(v: float) -> float:
        return round(height - 4 - (v - lo) / span * (height - 8), 1)

    points = " ".join(f"{round(i / n * width, 1)},{y(v)}" for i, v in enumerate(curve))
    return {"width": width, "height": height, "points": points, "zero": y(0.0), "low": lo, "high": hi}


def pages_router(dm: DataManager) -> APIRouter:
    """/datamanager/... pages over `dm`."""
    env = Environment(loader=PackageLoader("experiments.web.datamanager", "templates"),
                      autoescape=select_autoescape(["html"]))
    r = APIRouter(prefix=PREFIX, route_class=limited_route(dm.max_body_bytes), include_in_schema=False)

    def page(name: str, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(prefix=PREFIX, **ctx))

    @r.get("/", response_class=HTMLResponse)
    def bots() -> HTMLResponse:
        return page("bots.html", bots=store.list_bots(dm.engine))

    @r.get("/leaderboard", response_class=HTMLResponse)
    def leaderboard(metric: str = Query("total_pnl"), hours: str = Query("")) -> HTMLResponse:
        try:
            window = float(hours) if hours else None
        except ValueError:
            raise ApiError(422, "invalid_field", f"hours={hours!r} is not a number", field="hours") from None
        if window is not None and window <= 0:
            raise ApiError(422, "invalid_field", "hours must be positive", field="hours")
        rows = store.leaderboard(dm.engine, metric, window)
        return page("leaderboard.html", rows=rows, metric=metric, metrics=store.LEADERBOARD_METRICS,
                    windows=WINDOWS, hours_text=hours)

    @r.get("/bots/{bot_id}", response_class=HTMLResponse)
    def bot(bot_id: int) -> HTMLResponse:
        row = store.bot_row(dm.engine, bot_id)
        trades = store.list_trades(dm.engine, bot_id, 10_000, 0)
        return page("bot.html", bot=store.public_bot(row), trades=trades,
                    equity=_equity([t["pnl"] or 0.0 for t in trades]),
                    export_url=f"/api/v1/bots/{bot_id}/config/export")

    return r
