"""Bots get `disabled_at` (replacing `enabled`) and `config_kind`; metrics, collected bars and chain snapshots.

Revision ID: 0002
Revises: 0001
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("config_kind", sa.String(32), nullable=False, server_default="other"))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    conn = op.get_bind()
    bots = sa.table("bots", sa.column("id", sa.Integer), sa.column("config", sa.JSON),
                    sa.column("enabled", sa.Boolean), sa.column("config_kind", sa.String),
                    sa.column("disabled_at", sa.DateTime(timezone=True)))
    now = dt.datetime.now(dt.UTC)
    for row in conn.execute(sa.select(bots.c.id, bots.c.config, bots.c.enabled)).all():
        kind = "experiment_spec" if isinstance(row.config, dict) and "experiment_spec" in row.config else "other"
        conn.execute(bots.update().where(bots.c.id == row.id).values(
            config_kind=kind, disabled_at=None if row.enabled else now))
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("enabled")

    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("bot_id", sa.Integer, sa.ForeignKey("bots.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("client_metrics_id", sa.String(128), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.UniqueConstraint("bot_id", "client_metrics_id", name="uq_metrics_bot_client_id"),
    )
    op.create_table(
        "market_bars",
        sa.Column("symbol", sa.String(32), primary_key=True),
        sa.Column("interval", sa.String(16), primary_key=True),
        sa.Column("ts", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("open", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("close", sa.Float, nullable=False),
        sa.Column("volume", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "option_snapshots",
        sa.Column("underlying", sa.String(32), primary_key=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("option_symbol", sa.String(48), primary_key=True),
        sa.Column("expiry", sa.String(10), nullable=False),
        sa.Column("strike", sa.Float, nullable=False),
        sa.Column("right", sa.String(1), nullable=False),
        *[sa.Column(c, sa.Float, nullable=True)
          for c in ("bid", "ask", "volume", "open_interest", "iv", "delta", "gamma", "theta", "vega")],
    )


def downgrade() -> None:
    op.drop_table("option_snapshots")
    op.drop_table("market_bars")
    op.drop_table("metrics")
    with op.batch_alter_table("bots") as batch:
        batch.add_column(sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()))
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE bots SET enabled = (disabled_at IS NULL)"))
    with op.batch_alter_table("bots") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("config_kind")
