"""mount_datamanager: add the Data Manager (bots API, leaderboard, market bars, pages) to any FastAPI app."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from experiments.web.datamanager.api import bots_router
from experiments.web.datamanager.db import open_database
from experiments.web.datamanager.market_api import market_router
from experiments.web.datamanager.pages import pages_router
from experiments.web.datamanager.ratelimit import RateLimiter
from experiments.web.datamanager.service import DataManager


def mount_datamanager(app: FastAPI, home: Path, db_url: str | None, admin_token: str, *,
                      rate_per_s: float = 200.0, burst: int = 400, max_body_bytes: int = 64 * 1024) -> DataManager:
    """Open (and migrate) the database at `db_url` (default <home>/datamanager.db) and add the routes under
    /api/v1/bots, /api/v1/leaderboard, /api/v1/market and the pages under /datamanager to `app`; the engine is
    disposed when the app shuts down. Returns the mounted Data Manager."""
    if not admin_token:
        raise ValueError("the Data Manager needs an admin token (registering bots requires it)")
    engine = open_database(Path(home), db_url)
    dm = DataManager(home=Path(home), engine=engine, admin_token=admin_token,
                     limiter=RateLimiter(rate_per_s, burst), max_body_bytes=max_body_bytes)
    app.include_router(bots_router(dm))
    app.include_router(market_router(dm))
    app.include_router(pages_router(dm))
    app.router.on_shutdown.append(engine.dispose)
    app.state.datamanager = dm
    return dm
