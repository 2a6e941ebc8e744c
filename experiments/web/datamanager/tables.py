"""The Data Manager's tables (SQLAlchemy Core): bots, their trades and metrics, collected bars and chain snapshots.

This is the head schema; `migrations/` holds the steps that build it (and upgrade an older database to it).
Times are stored in UTC.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive values: they are UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


bots = Table(
    "bots", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("config_kind", String(32), nullable=False, server_default="other"),
    Column("key_id", String(32), nullable=False, unique=True),
    Column("key_hash", String(256), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("last_heartbeat", UTCDateTime, nullable=True),
    Column("status", String(64), nullable=True),
)

trades = Table(
    "trades", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", Integer, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("client_trade_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("action", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("price", Float, nullable=False),
    Column("pnl", Float, nullable=True),
    Column("time", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    Column("extra", JSON, nullable=True),
    UniqueConstraint("bot_id", "client_trade_id", name="uq_trades_bot_client_id"),
)

metrics = Table(
    "metrics", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot_id", Integer, ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("client_metrics_id", String(128), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("values", JSON, nullable=False),
    UniqueConstraint("bot_id", "client_metrics_id", name="uq_metrics_bot_client_id"),
)

market_bars = Table(
    "market_bars", metadata,
    Column("symbol", String(32), primary_key=True),
    Column("interval", String(16), primary_key=True),
    Column("ts", UTCDateTime, primary_key=True),
    Column("open", Float, nullable=False),
    Column("high", Float, nullable=False),
    Column("low", Float, nullable=False),
    Column("close", Float, nullable=False),
    Column("volume", BigInteger, nullable=False),
)

option_snapshots = Table(
    "option_snapshots", metadata,
    Column("underlying", String(32), primary_key=True),
    Column("taken_at", UTCDateTime, primary_key=True),
    Column("option_symbol", String(48), primary_key=True),
    Column("expiry", String(10), nullable=False),
    Column("strike", Float, nullable=False),
    Column("right", String(1), nullable=False),
    Column("bid", Float, nullable=True),
    Column("ask", Float, nullable=True),
    Column("volume", Float, nullable=True),
    Column("open_interest", Float, nullable=True),
    Column("iv", Float, nullable=True),
    Column("delta", Float, nullable=True),
    Column("gamma", Float, nullable=True),
    Column("theta", Float, nullable=True),
    Column("vega", Float, nullable=True),
)
