"""The queue's file: TinyDB's JSON layout, written only under a cross-process lock, atomically, with backups.

Layout (readable by `tinydb.TinyDB(path).table("ideas")`):

    {"ideas": {"<seq>": {...idea...}, ...}, "meta": {"1": {"format": 1, "next_seq": N}}}

Safety rules:
- Every write holds `ideas.json.lock` (filelock; released by the OS if the writer dies), rotates the backups,
  writes the new state to `ideas.json.bak.1` (a copy of its own, not a link: damage to the file in place
  cannot reach it), then to the file: each through a temp file in the same folder, fsynced, renamed, the
  folder fsynced (the very first write: the file, then the backup). `.bak.1` is thus the last committed state,
  `.bak.2` the one before, ... A reader always sees a whole old or a whole new file and needs no lock.
- Every read parses and validates the whole file; a file that fails is never overwritten: QueueCorrupt is
  raised and `recover()` restores the newest backup that validates (the bad file is kept aside), which gives
  back every acknowledged write.

Reading (`load`, `ideas`, `counts`, `get`) needs neither the lock nor the spec models, so the read-only commands
read the queue through this store, not through IdeaQueue (which loads the spec and the auto-approve policy).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from experiments.ideas.errors import IdeaNotFound, QueueCorrupt, QueueLocked
from experiments.ideas.models import Idea
from experiments.ideas.status import Status, parse_status
from trader.errors import StateError

FORMAT = 1
IDEAS_TABLE = "ideas"
META_TABLE = "meta"
RECOVER_HINT = "run `gaussian queue recover` to restore the newest good backup"


@dataclass
class QueueState:
    """The whole queue in memory: ideas by id (in sequence order) and the next sequence number."""

    ideas: dict[str, Idea] = field(default_factory=dict)
    next_seq: int = 1
    dirty: bool = False
    raw: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)  # documents as read, by idea id
    changed: set[str] = field(default_factory=set)

    def touch(self, *idea_ids: str) -> None:
        """Mark these ideas (new or modified) as changed so the transaction writes them."""
        self.dirty = True
        self.changed.update(idea_ids)


@dataclass(frozen=True)
class RecoverResult:
    """What recover() did: the backup it restored, where the replaced file went, and how many ideas are back."""

    restored_from: Path
    saved_as: Path | None
    ideas: int


def _short(err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(p) for p in e["loc"])
    return f"{loc}: {e['msg']}" if loc else e["msg"]


def parse_queue_text(text: str, source: Path) -> QueueState:
    """Parse and validate the queue file's text, or raise QueueCorrupt naming the file and the problem."""

    def bad(why: str) -> QueueCorrupt:
        return QueueCorrupt(f"{source}: the idea queue file cannot be read ({why}); it was left untouched, "
                            f"{RECOVER_HINT}")

    if not text.strip():
        raise bad("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict) or not isinstance(data.get(IDEAS_TABLE, {}), dict):
        raise bad(f"expected a TinyDB document with an '{IDEAS_TABLE}' table")
    meta_table = data.get(META_TABLE, {})
    meta = meta_table.get("1", {}) if isinstance(meta_table, dict) else None
    if not isinstance(meta, dict):
        raise bad(f"the '{META_TABLE}' table is malformed")
    if meta.get("format", FORMAT) != FORMAT:
        raise bad(f"unknown queue file format {meta.get('format')!r} (this version reads {FORMAT})")
    state = QueueState()
    for key, doc in data.get(IDEAS_TABLE, {}).items():
        try:
            idea = Idea.model_validate(doc)
        except ValidationError as err:
            raise bad(f"document {key}: {_short(err)}") from None
        if key != str(idea.seq):
            raise bad(f"document {key} holds idea {idea.id} with sequence {idea.seq}")
        if idea.id in state.ideas:
            raise bad(f"idea id {idea.id} appears twice")
        state.ideas[idea.id] = idea
        state.raw[idea.id] = doc
    top = max((i.seq for i in state.ideas.values()), default=0)
    next_seq = meta.get("next_seq", top + 1)
    if not isinstance(next_seq, int) or next_seq <= top:
        raise bad(f"meta.next_seq {next_seq!r} is not above the highest sequence {top}")
    state.next_seq = next_seq
    state.ideas = dict(sorted(state.ideas.items(), key=lambda kv: kv[1].seq))
    return state


def _checked_doc(idea: Idea) -> dict[str, Any]:
    doc = idea.model_dump(mode="json")
    try:
        Idea.model_validate(doc)
    except ValidationError as err:
        raise StateError(f"refusing to write an inconsistent idea {idea.id} ({_short(err)}); "
                         f"the queue file was not changed") from None
    return doc


def render_queue(state: QueueState) -> str:
    """The queue as TinyDB JSON text; changed ideas are re-validated, unchanged ones written back as read."""
    ideas = {
        str(i.seq): state.raw[i.id] if i.id in state.raw and i.id not in state.changed else _checked_doc(i)
        for i in state.ideas.values()
    }
    data: dict[str, Any] = {IDEAS_TABLE: ideas, META_TABLE: {"1": {"format": FORMAT, "next_seq": state.next_seq}}}
    return json.dumps(data, ensure_ascii=True, allow_nan=False)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class QueueStore:
    """The locked, atomic, backed-up file behind the idea queue."""

    def __init__(self, path: str | Path, backups: int = 5, lock_timeout: float = 60.0) -> None:
        if backups < 1:
            raise StateError(f"the queue keeps at least one backup, got backups={backups}")
        self.path = Path(path)
        self.backups = backups
        self.lock_timeout = lock_timeout
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def backup_path(self, k: int) -> Path:
        """The k-th newest backup (1 = the file as it was before the last write)."""
        return self.path.with_name(f"{self.path.name}.bak.{k}")

    def existing_backups(self) -> list[Path]:
        """Backups present on disk, newest first."""
        return [p for p in (self.backup_path(k) for k in range(1, self.backups + 1)) if p.exists()]

    def load(self) -> QueueState:
        """Read and validate the current file (no lock needed: writes replace the file atomically)."""
        if not self.path.exists():
            if self.existing_backups():
                raise QueueCorrupt(f"{self.path}: the idea queue file is missing but backups exist; {RECOVER_HINT}")
            return QueueState()
        return parse_queue_text(self._read_text(self.path), self.path)

    def ideas(self, status: Status | str | None = None) -> list[Idea]:
        """All ideas in creation order, optionally only those with one status."""
        wanted = parse_status(status)
        return [i for i in self.load().ideas.values() if wanted is None or i.status is wanted]

    def counts(self) -> dict[str, int]:
        """How many ideas are in each status (every status listed)."""
        out = {s.value: 0 for s in Status}
        for idea in self.load().ideas.values():
            out[idea.status.value] += 1
        return out

    def resolve(self, ref: str, state: QueueState | None = None) -> str:
        """The full id for `ref`: an exact id, a sequence number ('42'), or a unique prefix or suffix of an id."""
        ideas = (state or self.load()).ideas
        if ref in ideas:
            return ref
        ref = ref.strip()
        if ref.isdigit():
            for idea in ideas.values():
                if idea.seq == int(ref):
                    return idea.id
        hits = [i for i in ideas if i.startswith(ref) or i.endswith(ref)] if ref else []
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise IdeaNotFound(f"idea '{ref}' is ambiguous in {self.path}: matches {', '.join(hits[:5])}")
        raise IdeaNotFound(f"no idea '{ref}' in {self.path} (see `gaussian queue list`)")

    def get(self, ref: str) -> Idea:
        """One idea by id (or sequence number / unique suffix)."""
        state = self.load()
        return state.ideas[self.resolve(ref, state)]

    @staticmethod
    def _read_text(path: Path) -> str:
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise QueueCorrupt(f"{path}: the idea queue file is not UTF-8 text; {RECOVER_HINT}") from None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the queue's cross-process lock."""
        from filelock import FileLock, Timeout  # writers only: reading the queue needs no lock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise QueueLocked(
                f"{self.lock_path}: another process has held the idea queue lock for over {self.lock_timeout:.0f} s"
            ) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[QueueState]:
        """Lock, read and validate, hand out the state, and write it back atomically if it was touched."""
        with self.locked():
            state = self.load()
            yield state
            if state.dirty:
                self._write(render_queue(state))
                state.dirty = False
                state.changed.clear()

    def _cleanup_temps(self) -> None:
        # Under the lock no other writer is mid-write, so any temp file is left over from a killed writer.
        for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            tmp.unlink(missing_ok=True)

    def _rotate_backups(self) -> None:
        for k in range(self.backups - 1, 0, -1):
            src = self.backup_path(k)
            if src.exists():
                os.replace(src, self.backup_path(k + 1))

    def _write_file(self, target: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(self.path.parent)

    def _write(self, text: str) -> None:
        # the backup first: a writer killed in between leaves a backup one write ahead of the file (a write
        # never acknowledged), never a file ahead of every backup (an acknowledged write recover would lose).
        # The very first write goes the other way round: a backup without a file is what a deleted queue looks
        # like, and a lock-free reader must never see that mid-write; with no file yet there is no
        # acknowledged write to lose.
        self._cleanup_temps()
        first = not self.path.exists()
        self._rotate_backups()
        targets = (self.path, self.backup_path(1)) if first else (self.backup_path(1), self.path)
        for target in targets:
            self._write_file(target, text)

    def recover(self, force: bool = False) -> RecoverResult:
        """Restore the newest backup that validates (the last committed state); the replaced file is kept as
        ideas.json.corrupt-<time>. With `force`, a readable file is rolled back to the newest different backup."""
        with self.locked():
            current_ok = False
            if self.path.exists():
                try:
                    state = parse_queue_text(self._read_text(self.path), self.path)
                    current_ok = True
                except QueueCorrupt:
                    pass  # expected: this is what recover is for
            if current_ok and not force:
                raise StateError(
                    f"{self.path}: the idea queue file is readable ({len(state.ideas)} ideas); nothing to recover "
                    f"(use --force to roll back to the newest backup anyway)"
                )
            chosen: tuple[Path, QueueState] | None = None
            tried = []
            current = self.path.read_bytes() if current_ok else None
            for bak in self.existing_backups():
                if current is not None and bak.read_bytes() == current:
                    continue  # a forced roll-back goes to the state before the current one
                try:
                    chosen = (bak, parse_queue_text(self._read_text(bak), bak))
                    break
                except QueueCorrupt as exc:
                    tried.append(str(exc))
            if chosen is None:
                where = "; ".join(tried) if tried else "there are no backups"
                raise QueueCorrupt(f"{self.path}: no readable backup to restore ({where}); the file was left as it is")
            bak, restored = chosen
            saved_as = None
            if self.path.exists():  # copied aside, then replaced atomically: readers never see a missing file
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")
                kind = "rolled-back" if current_ok else "corrupt"
                saved_as = self.path.with_name(f"{self.path.name}.{kind}-{stamp}")
                shutil.copyfile(self.path, saved_as)
            self._cleanup_temps()
            self._write_file(self.path, bak.read_text(encoding="utf-8"))
            return RecoverResult(restored_from=bak, saved_as=saved_as, ideas=len(restored.ideas))
