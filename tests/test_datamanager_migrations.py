"""Alembic migrations on SQLite and PostgreSQL: a database at the first schema, with bots and trades in it,
upgrades to the head schema without losing or changing a row, and the API then works over it."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from experiments.web.datamanager.db import default_url, make_engine, open_database, upgrade
from experiments.web.datamanager.keys import new_key
from experiments.web.datamanager.tables import bots, metadata, trades
from tests.datamanager_fixtures import (  # noqa: F401 - fixtures
    ADMIN,
    backend_fixture,
    pg_fixture,
    spec_bot,
    trade,
)
from tests.dm_server import ThreadServer, build_app


def _old_rows(engine: sa.Engine) -> tuple[str, str]:
    """Two bots at schema 0001 (one disabled, one a spec bot), each with a trade; their keys."""
    old_bots = sa.table("bots", *[sa.column(c) for c in ("name", "owner", "config_hash", "key_id",
                                                         "key_hash", "created_at", "enabled")],
                        sa.column("config", sa.JSON))
    old_trades = sa.table("trades", *[sa.column(c) for c in ("bot_id", "client_trade_id", "symbol", "action",
                                                             "quantity", "price", "pnl", "time", "received_at")])
    spec = spec_bot("old-spec")
    keys = []
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for i, (name, config, chash, enabled) in enumerate([
                ("old-spec", spec["config"], spec["config_hash"], True),
                ("old-off", {"strategy": "x"}, "feedbeef", False)], 1):
            key, key_id, key_hash = new_key()
            keys.append(key)
            bot_id = conn.execute(sa.insert(old_bots).values(
                name=name, owner="legacy", config=config, config_hash=chash, key_id=key_id,
                key_hash=key_hash, created_at=now, enabled=enabled).returning(sa.column("id"))).scalar_one()
            assert bot_id == i
            conn.execute(sa.insert(old_trades).values(bot_id=bot_id, client_trade_id=f"old-{i}", symbol="SPY",
                                                      action="BUY_PUT", quantity=2, price=1.25, pnl=-7.5 * i,
                                                      time=now, received_at=now))
    return keys[0], keys[1]


def test_an_old_database_upgrades_and_keeps_its_rows(tmp_path: Path, db_url: str | None) -> None:
    url = db_url or default_url(tmp_path)
    engine = make_engine(url)
    upgrade(engine, "0001")
    cols = {c["name"] for c in sa.inspect(engine).get_columns("bots")}
    assert "enabled" in cols and "disabled_at" not in cols
    assert not sa.inspect(engine).has_table("metrics")
    spec_key, off_key = _old_rows(engine)
    engine.dispose()

    engine = open_database(tmp_path, db_url)  # migrates to head
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        assert {c.name for c in table.columns} == {c["name"] for c in inspector.get_columns(table.name)}, table.name
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(bots)).all()}
        kept = conn.execute(sa.select(trades).order_by(trades.c.id)).all()
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == "0002"
    assert rows["old-spec"].disabled_at is None and rows["old-spec"].config_kind == "experiment_spec"
    assert rows["old-off"].disabled_at is not None and rows["old-off"].config_kind == "other"
    assert [(t.client_trade_id, t.pnl, t.quantity) for t in kept] == [("old-1", -7.5, 2), ("old-2", -15.0, 2)]
    assert kept[0].time.tzinfo is not None
    engine.dispose()

    server = ThreadServer(build_app(tmp_path, db_url, ADMIN)).start()
    try:
        import httpx

        with httpx.Client(base_url=server.url) as http:
            r = http.post("/api/v1/bots/1/trade", json=trade(1), headers={"X-API-Key": spec_key})
            assert r.status_code == 201, r.text
            assert http.post("/api/v1/bots/2/trade", json=trade(1), headers={"X-API-Key": off_key}).status_code == 401
            assert http.get("/api/v1/bots/1").json()["trades"] == 2
            assert http.get("/api/v1/bots/1/config/export").status_code == 200
            assert http.post("/api/v1/bots/register", json=spec_bot("new"),
                             headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 201
    finally:
        server.stop()
    # opening again is a no-op upgrade, and a downgrade to the first schema keeps the rows too
    engine = open_database(tmp_path, db_url)
    from alembic import command

    from experiments.web.datamanager.db import alembic_config

    command.downgrade(alembic_config(engine), "0001")
    with engine.connect() as conn:
        enabled = dict(conn.execute(sa.text("SELECT name, enabled FROM bots")).all())
        assert conn.execute(sa.text("SELECT COUNT(*) FROM trades")).scalar() == 3
    assert {k: bool(v) for k, v in enabled.items()} == {"old-spec": True, "old-off": False, "new": True}
    engine.dispose()
