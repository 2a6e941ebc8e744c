"""Alembic environment: runs the packaged migrations on the engine handed over in the config's attributes."""
from __future__ import annotations

from alembic import context

from experiments.web.datamanager.tables import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
