"""Opening the Data Manager's database: SQLite (WAL) under the home by default, or any PostgreSQL URL, always
migrated to the head schema first (Alembic, the migrations ship inside this package)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from trader.errors import GaussianError

DB_FILE = "datamanager.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseError(GaussianError):
    """The database URL is not usable or the database cannot be opened."""


def default_url(home: Path) -> str:
    """The home's SQLite database."""
    return f"sqlite:///{Path(home) / DB_FILE}"


def normalize_url(url: str) -> str:
    """Accept `postgresql://` (and `postgres://`) URLs, run them through psycopg 3; SQLite URLs as they are."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(f"--db {url!r} is not a database URL (use sqlite:///path or postgresql://...)") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise DatabaseError(f"--db: backend {backend!r} is not supported (use sqlite or postgresql)")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` (normalised); SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, pool_size=20,
                               max_overflow=20)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Any:
    """An Alembic config pointing at the packaged migrations and this engine."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (the head schema by default)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def open_database(home: Path, url: str | None = None) -> Engine:
    """The Data Manager's engine for `url` (default: the home's SQLite file), migrated to the head schema."""
    from sqlalchemy.exc import OperationalError

    engine = make_engine(url or default_url(home))
    try:
        upgrade(engine)
    except OperationalError as exc:
        engine.dispose()
        shown = make_url(normalize_url(url or default_url(home))).render_as_string(hide_password=True)
        raise DatabaseError(f"cannot open the database {shown}: {str(exc.orig).splitlines()[0]}") from None
    return engine
