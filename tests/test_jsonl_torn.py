"""Every append-only JSONL file (ledger, paper journal, cost ledger, ...) survives a writer that died mid-line."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
from pathlib import Path

import pytest

from experiments.files import append_jsonl, read_jsonl


@pytest.mark.parametrize("torn", [b'{"n": 1', b"{", b'{"n": 1, "text": "' + b"x" * 9000])
def test_an_append_after_a_torn_line_keeps_every_acknowledged_line(tmp_path: Path, torn: bytes) -> None:
    path = tmp_path / "journal.jsonl"
    append_jsonl(path, {"n": 0})
    with open(path, "ab") as fh:  # a writer killed inside its write: part of a line, no newline
        fh.write(torn)
    assert read_jsonl(path) == [{"n": 0}]  # a reader already skips the torn tail
    append_jsonl(path, {"n": 2})
    append_jsonl(path, {"n": 3})
    assert read_jsonl(path) == [{"n": 0}, {"n": 2}, {"n": 3}]
    assert path.read_bytes().endswith(b"\n") and b'"n": 1' not in path.read_bytes()


def test_a_file_that_is_only_a_torn_line_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(b'{"run_id": "a')
    append_jsonl(path, {"run_id": "b"})
    assert read_jsonl(path) == [{"run_id": "b"}]


def _writer(path: str, start: int) -> None:
    for n in range(start, start + 100_000):
        append_jsonl(Path(path), {"n": n, "pad": "y" * (n % 5000)})


def test_writers_killed_at_random_moments_never_leave_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    ctx = mp.get_context("spawn")
    for k in range(6):
        p = ctx.Process(target=_writer, args=(str(path), k * 1_000_000))
        p.start()
        while not path.exists() or path.stat().st_size < 20_000 * (k + 1):
            p.join(0.01)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        rows = read_jsonl(path)  # never raises: at most the last line is torn
        assert rows and all(isinstance(r["n"], int) for r in rows)
    append_jsonl(path, {"n": -1})
    lines = path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # every line whole once a write succeeded after the kills
