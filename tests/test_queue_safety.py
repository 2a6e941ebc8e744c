"""Idea queue file safety: atomic writes, rotating backups, corrupt files never overwritten, recovery, SIGKILL."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
from filelock import FileLock
from tinydb import TinyDB

from agents.sink import Source
from experiments.ideas.errors import QueueCorrupt, QueueLocked
from experiments.ideas.models import Status
from experiments.ideas.queue import IdeaQueue
from experiments.ideas.store import parse_queue_text
from experiments.spec.model import ExperimentSpec
from trader.errors import StateError

SRC = Source(kind="heuristic", name="grid")


def _queue(tmp_path: Path, **kw) -> IdeaQueue:
    return IdeaQueue(tmp_path / "queue" / "ideas.json", base=ExperimentSpec(), **kw)


def _fill(q: IdeaQueue, n: int, start: int = 1) -> list[str]:
    return [q.propose(f"t{s}", "", "", {"seed": s}, SRC).id for s in range(start, start + n)]


def test_backups_rotate_and_hold_earlier_versions(tmp_path: Path) -> None:
    q = _queue(tmp_path, backups=3)
    _fill(q, 5)
    baks = q.store.existing_backups()
    assert [p.name for p in baks] == ["ideas.json.bak.1", "ideas.json.bak.2", "ideas.json.bak.3"]
    counts = [len(parse_queue_text(p.read_text(), p).ideas) for p in baks]
    assert counts == [5, 4, 3]  # bak.1 is the last committed state, the same as the file
    assert baks[0].read_bytes() == q.path.read_bytes() and os.stat(baks[0]).st_ino != os.stat(q.path).st_ino
    assert not list(q.path.parent.glob(".ideas.json.*"))  # no temp files left behind


@pytest.mark.parametrize("garbage", [b"", b"{\"ideas\": {\"1\": {\"id\": ", b"\xff\xfe\x00garbage", b"[1, 2, 3]"])
def test_corrupt_file_is_never_overwritten_and_recover_restores(tmp_path: Path, garbage: bytes) -> None:
    q = _queue(tmp_path)
    ids = _fill(q, 3)
    q.path.write_bytes(garbage)
    for call in (q.list, lambda: q.get(ids[0]), lambda: q.approve(ids[0], "me"),
                 lambda: q.propose("new", "", "", {"seed": 99}, SRC), lambda: q.lease_next("w")):
        with pytest.raises(QueueCorrupt, match="gaussian queue recover") as info:
            call()
        assert str(q.path) in str(info.value)
        assert q.path.read_bytes() == garbage
    with pytest.raises(QueueCorrupt):  # a broken queue is not a refusal: the sink raises it
        q.submit("via sink", "", "", {"seed": 100}, SRC)
    assert q.path.read_bytes() == garbage
    result = q.recover()
    assert result.restored_from.name == "ideas.json.bak.1" and result.ideas == 3
    assert result.saved_as is not None and result.saved_as.read_bytes() == garbage
    assert result.saved_as.name.startswith("ideas.json.corrupt-")
    assert [i.id for i in q.list()] == ids  # every acknowledged write is back
    assert q.approve(ids[0], "me").status is Status.APPROVED


def test_inconsistent_document_counts_as_corrupt(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    _fill(q, 2)
    data = json.loads(q.path.read_text())
    data["ideas"]["1"]["status"] = "running"  # running without a lease
    q.path.write_text(json.dumps(data))
    with pytest.raises(QueueCorrupt, match="document 1"):
        q.list()
    data["ideas"]["1"]["status"] = "proposed"
    data["ideas"]["2"]["id"] = data["ideas"]["1"]["id"]
    q.path.write_text(json.dumps(data))
    with pytest.raises(QueueCorrupt, match="appears twice"):
        q.counts()


def test_an_inconsistent_change_is_never_written(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    (a,) = _fill(q, 1)
    before = q.path.read_bytes()
    refused = pytest.raises(StateError, match=f"refusing to write an inconsistent idea {a}")
    with refused, q.store.transaction() as state:
        state.ideas[a].status = Status.RUNNING  # running without a lease
        state.touch(a)
    assert q.path.read_bytes() == before and q.get(a).status is Status.PROPOSED


def test_recover_refuses_a_readable_file_unless_forced(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    _fill(q, 3)
    with pytest.raises(StateError, match="nothing to recover"):
        q.recover()
    result = q.recover(force=True)
    assert result.ideas == 2 and result.saved_as.name.startswith("ideas.json.rolled-back-")


def test_recover_with_no_good_backup_leaves_everything(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    _fill(q, 2)
    for p in [q.path, *q.store.existing_backups()]:
        p.write_text("{broken")
    with pytest.raises(QueueCorrupt, match="no readable backup"):
        q.recover()
    assert q.path.read_text() == "{broken"


def test_missing_file_with_backups_is_not_silently_restarted(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    ids = _fill(q, 3)
    q.path.unlink()
    with pytest.raises(QueueCorrupt, match="missing but backups exist"):
        q.propose("x", "", "", {"seed": 50}, SRC)
    assert not q.path.exists()
    assert q.recover().saved_as is None
    assert [i.id for i in q.list()] == ids


def test_lock_timeout_is_a_clear_error(tmp_path: Path) -> None:
    q = _queue(tmp_path, lock_timeout=0.2)
    (a,) = _fill(q, 1)
    with FileLock(str(q.store.lock_path)):
        with pytest.raises(QueueLocked, match="another process"):
            q.approve(a, "me")
        assert q.get(a).status is Status.PROPOSED  # reads need no lock


def _writer(path: str, start: int, log_path: str) -> None:
    """Write in a tight loop (propose, approve, start, complete), logging each committed id.

    fsync is slowed down (as on a busy disk) so that most kills land between creating the temp file and
    renaming it over the queue file: the window this test is about.
    """
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.02)
        real_fsync(fd)

    os.fsync = slow_fsync
    q = IdeaQueue(path, base=ExperimentSpec())
    with open(log_path, "a", encoding="utf-8") as log:
        seed = start
        while True:
            idea = q.propose(f"k{seed}", "h", "r" * 200, {"seed": seed}, SRC)
            log.write(f"propose {idea.id}\n")
            log.flush()
            if seed % 2:
                q.approve(idea.id, "me")
                q.start(idea.id, "killer-test")
                q.complete(idea.id, "killer-test", f"run-{seed}", {"pnl": seed})
                log.write(f"done {idea.id}\n")
                log.flush()
            seed += 1


def _logged(log_path: Path) -> list[tuple[str, str]]:
    if not log_path.exists():
        return []
    lines = log_path.read_text().splitlines()
    return [tuple(line.split(" ", 1)) for line in lines if line.count(" ") == 1 and len(line) > 20]


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_mid_write_leaves_a_readable_file(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    path = tmp_path / "queue" / "ideas.json"
    log_path = tmp_path / "committed.log"
    rng = random.Random(7)
    q = IdeaQueue(path, base=ExperimentSpec())
    _fill(q, 40, start=10_000_000)  # a file big enough that writes take a while
    mid_write = 0  # kills that left a temp file behind: the writer died between creating and renaming it
    rounds = 0
    while rounds < 8 or (mid_write < 3 and rounds < 30):
        round_, rounds = rounds, rounds + 1
        proc = ctx.Process(target=_writer, args=(str(path), 1 + round_ * 100_000, str(log_path)), daemon=True)
        proc.start()
        n0 = len(_logged(log_path))
        deadline = time.time() + 30
        while len(_logged(log_path)) <= n0 and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        mid_write += bool(list(path.parent.glob(".ideas.json.*.tmp")))
        # the file always parses and validates, and so does every backup
        state = q.store.load()
        for bak in q.store.existing_backups():
            parse_queue_text(bak.read_text(), bak)
        db = TinyDB(path, access_mode="r")
        try:
            assert len(db.table("ideas")) == len(state.ideas)
        finally:
            db.close()
        # nothing that was committed is lost
        for kind, idea_id in _logged(log_path):
            assert idea_id in state.ideas
            if kind == "done":
                assert state.ideas[idea_id].status is Status.DONE
        # a lease left by the killed writer is reaped like any dead worker's
        q.reap_stale(0, max_attempts=1)
    assert len(_logged(log_path)) >= 8
    assert mid_write >= 2, f"only {mid_write} of {rounds} kills landed mid-write"
    _fill(q, 1, start=20_000_000)  # the next write clears temp files a killed writer left
    assert not list(path.parent.glob(".ideas.json.*"))
    assert all(i.status is not Status.RUNNING for i in q.list())


@pytest.mark.parametrize("n", [1, 3, 7])
def test_recover_gives_back_every_acknowledged_write(tmp_path: Path, n: int) -> None:
    q = _queue(tmp_path)
    ids = _fill(q, n)
    q.approve(ids[-1], "me")  # the last acknowledged write is a change, not an addition
    cut = q.path.read_bytes()[:1000]  # head -c 1000 ideas.json > t && mv t ideas.json
    tmp = q.path.with_name("t")
    tmp.write_bytes(cut)
    os.replace(tmp, q.path)
    with pytest.raises(QueueCorrupt):
        q.list()
    q.recover()
    assert [i.id for i in q.list()] == ids and q.get(ids[-1]).status is Status.APPROVED


def test_a_lock_free_reader_reads_every_state_a_write_passes_through(tmp_path: Path, monkeypatch) -> None:
    """Each rename a write makes (backups rotated, backup written, file written) on the first, second and a later
    write leaves the folder in a state a reader without the lock reads as a whole queue, never as damage."""
    q = _queue(tmp_path, backups=3)
    reader = IdeaQueue(q.path, base=ExperimentSpec()).store
    import experiments.ideas.store as store_mod

    real_replace = os.replace
    seen: list[int] = []

    def replace_and_read(src, dst):
        seen.append(len(reader.load().ideas))
        real_replace(src, dst)
        seen.append(len(reader.load().ideas))

    monkeypatch.setattr(store_mod.os, "replace", replace_and_read)
    for s in range(1, 6):
        q.propose(f"t{s}", "", "", {"seed": s}, SRC)
    assert len(seen) > 20 and set(seen) <= {0, 1, 2, 3, 4, 5}
    assert len(reader.load().ideas) == 5
