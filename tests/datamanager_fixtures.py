"""Shared pieces of the Data Manager tests: a throw-away PostgreSQL cluster for the session, the backend
parameter (SQLite, PostgreSQL), a live Data Manager on 127.0.0.1 and registration helpers.

Import into a test module with
`from tests.datamanager_fixtures import backend_fixture, dm_fixture, pg_fixture  # noqa: F401`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from experiments.spec.io import load_spec, spec_hash
from tests.dm_server import ThreadServer, build_app
from tests.pg_cluster import PostgresCluster

ADMIN = "admin-SECRET-token-9d2f"
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", name="pg")
def pg_fixture() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the whole test session."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=BACKENDS, name="db_url")
def backend_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (the home's SQLite file) or a fresh PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("pg").new_database()


@dataclass
class LiveDM:
    url: str
    home: Path
    db_url: str | None
    server: ThreadServer
    http: httpx.Client
    app: Any

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN}"}

    def register(self, name: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        """Register a bot (a spec bot by default); its id and key."""
        body = spec_bot(name) if config is None else {"name": name, "owner": "tester", "config": config,
                                                      "config_hash": extra.pop("config_hash")}
        r = self.http.post("/api/v1/bots/register", json=body, headers=self.admin())
        assert r.status_code == 201, r.text
        return r.json()


def spec_bot(name: str, *overrides: str) -> dict[str, Any]:
    """A registration body for a bot running the base spec with overrides."""
    spec = load_spec(None, list(overrides))
    return {"name": name, "owner": "tester", "config": {"experiment_spec": spec.model_dump(mode="json")},
            "config_hash": spec_hash(spec)}


def trade(n: int, pnl: float = 10.0, **kw: Any) -> dict[str, Any]:
    """A trade body numbered n."""
    return {"client_trade_id": f"t-{n}", "symbol": "SPY", "action": "BUY_CALL", "quantity": 1, "price": 2.5,
            "pnl": pnl, "time": f"2024-01-02T10:{n % 60:02d}:00-05:00", **kw}


@pytest.fixture(name="dm")
def dm_fixture(tmp_path: Path, db_url: str | None) -> Iterator[LiveDM]:
    """A Data Manager on a bare FastAPI app, served by uvicorn on 127.0.0.1, over the backend parameter."""
    app = build_app(tmp_path, db_url, ADMIN, rate_per_s=5.0, burst=20, max_body_bytes=4096)
    server = ThreadServer(app).start()
    http = httpx.Client(base_url=server.url, timeout=10)
    try:
        yield LiveDM(server.url, tmp_path, db_url, server, http, app)
    finally:
        http.close()
        server.stop()
