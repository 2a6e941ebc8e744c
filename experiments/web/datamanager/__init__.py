"""The Data Manager: bots register, report trades and metrics and compete on a leaderboard; collected market bars
are served. SQLAlchemy over SQLite or PostgreSQL, Alembic migrations; `mount_datamanager` adds it to an app."""
from experiments.web.datamanager.mount import mount_datamanager

__all__ = ["mount_datamanager"]
