"""The queue file as the dashboard last read it, re-read only when the file changes.

Reading and validating a queue of 1,000 ideas costs far more than the overview's 100 ms budget, and the overview
refreshes itself. Every write replaces the file by an atomic rename, so (inode, size, mtime) changes with each
write and names one version of the file; the parsed state is kept for that version only. Damaged files are never
cached: each request reads them again and reports the error. Callers must not modify the ideas they get.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments.ideas.models import Idea
from experiments.ideas.store import QueueState, QueueStore


class QueueCache:
    """One parsed version of one queue file, shared by the requests of a dashboard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int, int] | None = None
        self._state: QueueState | None = None
        self._derived: dict[str, Any] = {}

    def state(self, path: Path) -> QueueState:
        """The parsed queue (validated as QueueStore.load does); raises QueueCorrupt for a damaged file."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return QueueStore(path).load()  # empty, or QueueCorrupt when only backups are left
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        with self._lock:
            if key == self._key and self._state is not None:
                return self._state
        state = QueueStore(path).load()
        with self._lock:
            self._key, self._state, self._derived = key, state, {}
        return state

    def derived(self, path: Path, name: str, fn: Callable[[QueueState], Any]) -> Any:
        """fn(state), computed once per version of the file (e.g. the ideas list's summaries)."""
        state = self.state(path)
        with self._lock:
            if self._state is state and name in self._derived:
                return self._derived[name]
        value = fn(state)
        with self._lock:
            if self._state is state:
                self._derived[name] = value
        return value

    def ideas(self, path: Path) -> list[Idea]:
        """Every idea in sequence order."""
        return list(self.state(path).ideas.values())


QUEUES = QueueCache()
"""The cache of this process (a dashboard serves one home)."""
