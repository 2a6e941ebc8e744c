"""Alembic environment: runs the packaged migrations on the engine handed over in the config's attributes.

On SQLite, foreign keys are off while migrating: a batch migration rebuilds a table (copy, drop, rename), and
dropping `bots` with foreign keys on would cascade-delete every trade.
"""
from __future__ import annotations

from alembic import context

from experiments.web.datamanager.tables import metadata

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
