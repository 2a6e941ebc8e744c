"""The bots API under /api/v1: register, report trades, metrics and heartbeats, read bots, trades, the
leaderboard, and export a bot's configuration for replication."""
from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from experiments.web.datamanager import store
from experiments.web.datamanager.errors import limited_route
from experiments.web.datamanager.models import HeartbeatIn, MetricsIn, RegisterIn, RegisterOut, TradeIn
from experiments.web.datamanager.service import DataManager


def bots_router(dm: DataManager) -> APIRouter:
    """/api/v1/bots/... and /api/v1/leaderboard over `dm`."""
    r = APIRouter(prefix="/api/v1", route_class=limited_route(dm.max_body_bytes), tags=["bots"])
    engine = dm.engine

    @r.post("/bots/register", status_code=201, response_model=RegisterOut)
    def register(body: RegisterIn, request: Request) -> dict[str, Any]:
        """Register a bot (admin token): its key is in this answer only."""
        dm.require_admin(request)
        return store.register_bot(engine, body)

    @r.get("/bots/me")
    def me(request: Request) -> dict[str, Any]:
        """The bot this key belongs to."""
        row = dm.whoami(request)
        return store.public_bot(store.bot_row(engine, row.id), store.bot_stats(engine, row.id))

    @r.post("/bots/{bot_id}/trade")
    def trade(bot_id: int, body: TradeIn, request: Request) -> JSONResponse:
        """Report a trade; a retry with the same client_trade_id is answered 200 and stored once."""
        dm.require_bot(request, bot_id)
        trade_id, new = store.add_trade(engine, bot_id, body)
        return JSONResponse({"trade_id": trade_id, "duplicate": not new}, status_code=201 if new else 200)

    @r.post("/bots/{bot_id}/metrics")
    def report_metrics(bot_id: int, body: MetricsIn, request: Request) -> JSONResponse:
        """Report a set of metrics (idempotent by client_metrics_id)."""
        dm.require_bot(request, bot_id)
        new = store.add_metrics(engine, bot_id, body)
        return JSONResponse({"duplicate": not new}, status_code=201 if new else 200)

    @r.post("/bots/{bot_id}/heartbeat")
    def beat(bot_id: int, body: HeartbeatIn, request: Request) -> dict[str, Any]:
        """Say the bot is alive."""
        row = dm.require_bot(request, bot_id)
        at = store.heartbeat(engine, row, body.status, body.config_hash)
        return {"bot_id": bot_id, "last_heartbeat": at.isoformat()}

    @r.post("/bots/{bot_id}/disable")
    def disable(bot_id: int, request: Request) -> dict[str, Any]:
        """Disable a bot (admin token): its key stops working at once."""
        dm.require_admin(request)
        store.disable_bot(engine, bot_id)
        dm.forget_keys()
        return store.public_bot(store.bot_row(engine, bot_id))

    @r.delete("/bots/{bot_id}", status_code=204)
    def delete(bot_id: int, request: Request) -> Response:
        """Delete a bot with its trades and metrics (admin token)."""
        dm.require_admin(request)
        store.delete_bot(engine, bot_id)
        dm.forget_keys()
        return Response(status_code=204)

    @r.get("/bots")
    def bots() -> dict[str, Any]:
        """Every bot, with its trade count and total P&L."""
        return {"bots": store.list_bots(engine)}

    @r.get("/bots/{bot_id}")
    def bot(bot_id: int) -> dict[str, Any]:
        """One bot (no key, no config: see config/export)."""
        return store.public_bot(store.bot_row(engine, bot_id), store.bot_stats(engine, bot_id))

    @r.get("/bots/{bot_id}/trades")
    def bot_trades(bot_id: int, limit: int = Query(1000, ge=1, le=10_000),
                   offset: int = Query(0, ge=0)) -> dict[str, Any]:
        """A bot's trades, oldest first."""
        store.bot_row(engine, bot_id)
        return {"bot_id": bot_id, "trades": store.list_trades(engine, bot_id, limit, offset)}

    @r.get("/bots/{bot_id}/metrics")
    def bot_metrics(bot_id: int) -> dict[str, Any]:
        """A bot's metrics reports, oldest first."""
        store.bot_row(engine, bot_id)
        return {"bot_id": bot_id, "metrics": store.list_metrics(engine, bot_id)}

    @r.get("/bots/{bot_id}/config/export")
    def export(bot_id: int) -> Response:
        """The bot's configuration as a file: for a spec bot, a spec `gaussian run` accepts (same spec hash)."""
        name, doc = store.exported_config(store.bot_row(engine, bot_id))
        return Response(json.dumps(doc, indent=2, sort_keys=True) + "\n", media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @r.get("/leaderboard")
    def board(metric: str = Query("total_pnl"), hours: float | None = Query(None, gt=0, le=24 * 366)) -> dict[str, Any]:
        """Enabled bots ranked by total_pnl, win_rate, sharpe or trades over the last `hours` (all time if absent)."""
        return {"metric": metric, "hours": hours, "bots": store.leaderboard(engine, metric, hours)}

    return r
