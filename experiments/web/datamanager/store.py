"""The Data Manager's reads and writes over its tables: bots, trades, metrics, the leaderboard.

Idempotent inserts use the backend's INSERT ... ON CONFLICT DO NOTHING, so a retried report is stored once
without a read before the write.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import math
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, and_, case, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from experiments.web.datamanager.errors import ApiError
from experiments.web.datamanager.keys import new_key
from experiments.web.datamanager.models import MetricsIn, RegisterIn, TradeIn
from experiments.web.datamanager.tables import bots, metrics, trades

LEADERBOARD_METRICS = ("total_pnl", "win_rate", "sharpe", "trades")
SPEC_KEY = "experiment_spec"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite, writers of this process take turns on a lock instead of meeting SQLite's
    busy handler, which sleeps up to 100 ms at a time and makes the slowest requests very slow."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


def insert_ignoring(engine: Engine, table: Table, keys: list[str]) -> Insert:
    """INSERT into `table` that skips a row whose `keys` already exist (SQLite and PostgreSQL)."""
    return _insert_ignoring(engine.dialect.name, table, tuple(keys))


@functools.cache
def _insert_ignoring(dialect_name: str, table: Table, keys: tuple[str, ...]) -> Insert:
    # one statement object per table: executed with parameters, it is compiled once and then reused
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    stmt = dialect.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return stmt.returning(table.c.id) if "id" in table.c else stmt


# ------------------------------------------------------------------------------------------ config
def config_identity(config: dict[str, Any]) -> tuple[str, str]:
    """(kind, hash) of a bot's config: an ExperimentSpec hashes as the spec does (`gaussian run` agrees), any
    other config as the SHA-256 of its canonical JSON (16 hex digits). A bad spec is a 422 naming the field."""
    if SPEC_KEY in config:
        from experiments.spec.io import spec_hash, validate_spec
        from trader.errors import SpecError

        raw = config[SPEC_KEY]
        if not isinstance(raw, dict):
            raise ApiError(422, "invalid_spec", "config.experiment_spec must be a mapping of spec fields",
                           field="config.experiment_spec")
        try:
            spec = validate_spec(raw, "config.experiment_spec")
        except SpecError as exc:
            raise ApiError(422, "invalid_spec", str(exc), field="config.experiment_spec") from None
        return "experiment_spec", spec_hash(spec)
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return "other", hashlib.sha256(blob.encode()).hexdigest()[:16]


def exported_config(row: Any) -> tuple[str, dict[str, Any]]:
    """(file name, document) a replicator downloads: the validated spec for a spec bot (a file `gaussian run`
    accepts, with the same spec hash), else the config as registered."""
    if row.config_kind == "experiment_spec":
        from experiments.spec.io import validate_spec

        spec = validate_spec(row.config[SPEC_KEY], f"bot {row.id} config")
        return f"bot-{row.id}-{row.config_hash}.json", spec.model_dump(mode="json")
    return f"bot-{row.id}-{row.config_hash}-config.json", dict(row.config)


# -------------------------------------------------------------------------------------------- bots
def register_bot(engine: Engine, body: RegisterIn) -> dict[str, Any]:
    """Store a new bot; its key is returned once and kept only as a hash."""
    kind, computed = config_identity(body.config)
    if body.config_hash != computed:
        raise ApiError(422, "config_hash_mismatch", f"config_hash {body.config_hash!r} does not match the "
                       f"config's hash {computed!r}", field="config_hash")
    key, key_id, key_hash = new_key()
    try:
        with writing(engine) as conn:
            bot_id = conn.execute(bots.insert().values(
                name=body.name, owner=body.owner, config=body.config, config_hash=computed, config_kind=kind,
                key_id=key_id, key_hash=key_hash, created_at=now()).returning(bots.c.id)).scalar_one()
    except IntegrityError:
        with engine.connect() as conn:
            taken = conn.execute(select(bots.c.id).where(bots.c.name == body.name)).first() is not None
        if not taken:
            raise
        raise ApiError(409, "name_taken", f"a bot named {body.name!r} is already registered", field="name") \
            from None
    return {"bot_id": bot_id, "api_key": key, "config_hash": computed, "config_kind": kind}


def bot_by_key_id(engine: Engine, key_id: str) -> Any:
    """The bot row owning a key id (None if there is none)."""
    with engine.connect() as conn:
        return conn.execute(select(bots.c.id, bots.c.key_hash, bots.c.disabled_at, bots.c.config_hash)
                            .where(bots.c.key_id == key_id)).first()


def bot_row(engine: Engine, bot_id: int) -> Any:
    """A bot's full row, or a 404 naming the id."""
    with engine.connect() as conn:
        row = conn.execute(select(bots).where(bots.c.id == bot_id)).first()
    if row is None:
        raise ApiError(404, "unknown_bot", f"no bot with id {bot_id}", field="bot_id")
    return row


def bot_exists(engine: Engine, bot_id: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(bots.c.id).where(bots.c.id == bot_id)).first() is not None


def disable_bot(engine: Engine, bot_id: int) -> None:
    """Disable a bot: its key stops working at once; its trades stay on the record."""
    with writing(engine) as conn:
        done = conn.execute(bots.update().where(bots.c.id == bot_id, bots.c.disabled_at.is_(None))
                            .values(disabled_at=now())).rowcount
    if not done:
        bot_row(engine, bot_id)  # 404 when unknown; already disabled is fine


def delete_bot(engine: Engine, bot_id: int) -> None:
    """Delete a bot with its trades and metrics."""
    with writing(engine) as conn:
        conn.execute(trades.delete().where(trades.c.bot_id == bot_id))
        conn.execute(metrics.delete().where(metrics.c.bot_id == bot_id))
        done = conn.execute(bots.delete().where(bots.c.id == bot_id)).rowcount
    if not done:
        raise ApiError(404, "unknown_bot", f"no bot with id {bot_id}", field="bot_id")


def heartbeat(engine: Engine, bot: Any, status: str | None, config_hash: str | None) -> dt.datetime:
    """Record a heartbeat; a bot claiming a config other than its registered one is refused (409)."""
    if config_hash is not None and config_hash != bot.config_hash:
        raise ApiError(409, "config_changed", f"this bot was registered with config {bot.config_hash}, not "
                       f"{config_hash}: register the new config as a new bot", field="config_hash")
    at = now()
    with writing(engine) as conn:
        conn.execute(bots.update().where(bots.c.id == bot.id).values(last_heartbeat=at, status=status))
    return at


def public_bot(row: Any, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """What anyone may read about a bot (never its key or key hash)."""
    return {"bot_id": row.id, "name": row.name, "owner": row.owner, "config_hash": row.config_hash,
            "config_kind": row.config_kind, "created_at": row.created_at.isoformat(),
            "enabled": row.disabled_at is None,
            "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
            "last_heartbeat": row.last_heartbeat.isoformat() if row.last_heartbeat else None,
            "status": row.status, **(stats or {})}


def list_bots(engine: Engine) -> list[dict[str, Any]]:
    """Every bot with its trade count and total P&L."""
    q = (select(bots, func.count(trades.c.id).label("n"), func.coalesce(func.sum(trades.c.pnl), 0.0).label("pnl"))
         .select_from(bots.outerjoin(trades, trades.c.bot_id == bots.c.id)).group_by(bots.c.id).order_by(bots.c.id))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [public_bot(r, {"trades": int(r.n), "total_pnl": float(r.pnl)}) for r in rows]


def bot_stats(engine: Engine, bot_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        r = conn.execute(select(func.count(trades.c.id), func.coalesce(func.sum(trades.c.pnl), 0.0))
                         .where(trades.c.bot_id == bot_id)).one()
    return {"trades": int(r[0]), "total_pnl": float(r[1])}


# ------------------------------------------------------------------------------------------ trades
def _trade_values(body: TradeIn) -> dict[str, Any]:
    return {"client_trade_id": body.client_trade_id, "symbol": body.symbol, "action": body.action,
            "quantity": body.quantity, "price": body.price, "pnl": body.pnl,
            "time": body.time.astimezone(dt.UTC), "extra": body.extra}


def add_trade(engine: Engine, bot_id: int, body: TradeIn) -> tuple[int, bool]:
    """Store a trade once: (trade id, True) when new, (existing id, False) for a retry of the same trade; a
    different trade under a used `client_trade_id` is a 409."""
    values = _trade_values(body)
    stmt = insert_ignoring(engine, trades, ["bot_id", "client_trade_id"])
    with writing(engine) as conn:
        new_id = conn.execute(stmt, {"bot_id": bot_id, "received_at": now(), **values}).scalar()
        if new_id is not None:
            return int(new_id), True
        old = conn.execute(select(trades).where(trades.c.bot_id == bot_id,
                                                trades.c.client_trade_id == body.client_trade_id)).one()
    same = all(_same(getattr(old, k), v) for k, v in values.items())
    if not same:
        raise ApiError(409, "client_trade_id_reused", f"client_trade_id {body.client_trade_id!r} was already used "
                       "for a different trade", field="client_trade_id")
    return int(old.id), False


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return bool(a == b)


def list_trades(engine: Engine, bot_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """A bot's trades, oldest first."""
    q = (select(trades).where(trades.c.bot_id == bot_id).order_by(trades.c.time, trades.c.id)
         .limit(limit).offset(offset))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    return [{"trade_id": r.id, "client_trade_id": r.client_trade_id, "symbol": r.symbol, "action": r.action,
             "quantity": r.quantity, "price": r.price, "pnl": r.pnl, "time": r.time.isoformat(),
             "received_at": r.received_at.isoformat(), "extra": r.extra} for r in rows]


def add_metrics(engine: Engine, bot_id: int, body: MetricsIn) -> bool:
    """Store a metrics report once; True when new."""
    stmt = insert_ignoring(engine, metrics, ["bot_id", "client_metrics_id"])
    with writing(engine) as conn:
        return conn.execute(stmt, {"bot_id": bot_id, "client_metrics_id": body.client_metrics_id,
                                   "time": body.time.astimezone(dt.UTC), "received_at": now(),
                                   "values": body.values}).scalar() is not None


def list_metrics(engine: Engine, bot_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(metrics).where(metrics.c.bot_id == bot_id).order_by(metrics.c.time)).all()
    return [{"client_metrics_id": r.client_metrics_id, "time": r.time.isoformat(), "values": r.values}
            for r in rows]


# ------------------------------------------------------------------------------------- leaderboard
def leaderboard(engine: Engine, metric: str, hours: float | None) -> list[dict[str, Any]]:
    """Enabled bots ranked by `metric` over the trades received in the last `hours` (all time when None).
    win_rate: share of trades with pnl > 0; sharpe: mean over standard deviation of per-trade P&L (not
    annualised; None under two trades)."""
    if metric not in LEADERBOARD_METRICS:
        raise ApiError(422, "invalid_field", f"metric {metric!r} is not one of {', '.join(LEADERBOARD_METRICS)}",
                       field="metric")
    pnl = func.coalesce(trades.c.pnl, 0.0)
    cond = [trades.c.bot_id == bots.c.id]
    if hours is not None:
        cond.append(trades.c.received_at >= now() - dt.timedelta(hours=hours))

    q = (select(bots.c.id, bots.c.name, bots.c.owner, bots.c.config_hash, func.count(trades.c.id).label("n"),
                func.coalesce(func.sum(pnl), 0.0).label("total"),
                func.coalesce(func.sum(case((trades.c.pnl > 0, 1), else_=0)), 0).label("wins"),
                func.avg(pnl).label("mean"), func.avg(pnl * pnl).label("sq"))
         .select_from(bots.outerjoin(trades, and_(*cond))).where(bots.c.disabled_at.is_(None))
         .group_by(bots.c.id, bots.c.name, bots.c.owner, bots.c.config_hash))
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    out = []
    for r in rows:
        n = int(r.n)
        sharpe = None
        if n >= 2:
            var = (float(r.sq) - float(r.mean) ** 2) * n / (n - 1)
            sharpe = float(r.mean) / math.sqrt(var) if var > 1e-12 else None
        out.append({"bot_id": r.id, "name": r.name, "owner": r.owner, "config_hash": r.config_hash, "trades": n,
                    "total_pnl": round(float(r.total), 6), "win_rate": (int(r.wins) / n) if n else None,
                    "sharpe": sharpe})
    out.sort(key=lambda d: (d[metric] is None, d["trades"] == 0, -(d[metric] or 0.0), d["bot_id"]))
    for rank, d in enumerate(out, 1):
        d["rank"] = rank
    return out
