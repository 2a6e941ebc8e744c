"""The queue file as the dashboard last read it, re-read only when the file changes.

Reading and validating a queue of 1,000 ideas costs far more than the overview's 100 ms budget, and the overview
refreshes itself. Every write replaces the file by an atomic rename, so (inode, size, mtime) changes with each
write and names one version of the file; the parsed state is kept for that version only. Damaged files are never
cached: each request reads them again and reports the error. Callers must not modify the ideas they get.
"""
from __future__ import annotations

import threading
import time
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


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class FileMemo:
    """A value computed from files, kept while none of the files it names changes and for at most `max_age`
    seconds (for what the named files do not fully capture, such as a file inside a run folder)."""

    def __init__(self, max_age: float = 5.0) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._memo: dict[str, tuple[tuple[Any, ...], float, Any]] = {}

    def get(self, name: str, paths: list[Path], fn: Callable[[], Any]) -> Any:
        """fn(), or the value it gave last time if the files are unchanged and it is younger than max_age."""
        key = tuple((str(p), _stamp(p)) for p in paths)
        now = time.monotonic()
        with self._lock:
            hit = self._memo.get(name)
            if hit is not None and hit[0] == key and now - hit[1] < self.max_age:
                return hit[2]
        value = fn()
        with self._lock:
            self._memo[name] = (key, now, value)
        return value


MEMO = FileMemo()
"""The memo of this process (the leaderboard: every run folder read once per change of the runs folder, the
ledger, promoted.json or the queue, or every few seconds)."""
