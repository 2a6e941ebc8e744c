"""Small, safe file writes: atomic JSON/text replace and append-only JSONL under a lock."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import FileLock


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path atomically (temp file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON (sorted keys, indented) atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def file_lock(path: Path, timeout: float = 60) -> FileLock:
    """The cross-process lock `<path>.lock`; filelock is imported here, by writers only, so that reading
    commands do not load it."""
    from filelock import FileLock

    return FileLock(str(path) + ".lock", timeout=timeout)


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line under a cross-process lock, fsynced.

    A torn last line (a writer that died inside its write, before the newline) was never acknowledged: it is
    cut off first, so the new line never fuses with it into one unreadable line in the middle of the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path), open(path, "a+b") as fh:
        _cut_torn_tail(fh)
        fh.write((json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _cut_torn_tail(fh: Any) -> None:
    """Truncate an open binary file after its last newline (nothing to do when it ends with one, or is empty)."""
    end = fh.seek(0, os.SEEK_END)
    if end == 0:
        return
    fh.seek(end - 1)
    if fh.read(1) == b"\n":
        return
    pos, block = end, 4096
    while pos > 0:
        start = max(0, pos - block)
        fh.seek(start)
        chunk = fh.read(pos - start)
        i = chunk.rfind(b"\n")
        if i >= 0:
            fh.truncate(start + i + 1)
            return
        pos = start
    fh.truncate(0)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file; a torn last line (crash mid-append) is skipped, other bad lines are errors."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines):
                continue
            from trader.errors import StateError

            raise StateError(f"{path}: line {n} is not valid JSON") from None
    return out


def drop_jsonl(path: Path, drop: Callable[[dict[str, Any]], bool]) -> int:
    """Remove the lines for which `drop` is true, under the append lock, by an atomic rewrite; how many went.

    A torn last line (a writer killed mid-append) is dropped too; readers see the whole old or new file."""
    if not path.exists():
        return 0
    with file_lock(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        keep, gone = [], 0
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines):
                    continue
                from trader.errors import StateError

                raise StateError(f"{path}: line {n} is not valid JSON") from None
            if drop(record):
                gone += 1
            else:
                keep.append(line)
        if gone:
            atomic_write_text(path, "".join(line + "\n" for line in keep))
        return gone
