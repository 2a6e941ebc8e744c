"""Where gaussian keeps its state: the home directory and the paths inside it."""
from __future__ import annotations

import os
from pathlib import Path

_override: Path | None = None


def set_home(path: str | Path | None) -> None:
    """Point this process at a home directory (the CLI's --home option)."""
    global _override
    _override = Path(path).expanduser().resolve() if path else None


def home_dir() -> Path:
    """The home: --home if given, else GAUSSIAN_HOME, else the current directory."""
    if _override is not None:
        return _override
    env = os.environ.get("GAUSSIAN_HOME")
    return Path(env).expanduser().resolve() if env else Path.cwd().resolve()


def runs_dir() -> Path:
    """Folder holding one directory per run, the ledger and promoted.json."""
    return home_dir() / "runs"


def data_dir() -> Path:
    """Market data cache (Parquet)."""
    return home_dir() / "data"


def queue_path() -> Path:
    """The idea queue's TinyDB file."""
    return home_dir() / "queue" / "ideas.json"
