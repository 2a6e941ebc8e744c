"""Running work in a contained child process: a wall-clock timeout, a memory cap, an abort switch and a log.

The child is `python -m experiments.runs.child ...` (or, with `Limits.warm`, the same entry point forked from a
server that has done the imports once: experiments.runs.warm) in its own session (a Ctrl-C at the terminal reaches only
the parent, which decides what to do). Its stdout and stderr go to a log file; the parent polls it, kills its
whole process group when it runs past the timeout, its resident memory (with its own children) passes the cap,
or the abort switch is set, and reads the result file the child wrote.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from experiments.home import home_dir
from experiments.runs.threads import thread_env
from experiments.runs.warm import WarmChild

OutcomeKind = Literal["ok", "error", "timeout", "memory", "crashed", "aborted"]
TAIL_CHARS = 4000


@dataclass(frozen=True)
class Limits:
    """What a child may use: wall-clock seconds and resident memory in MB (None: unlimited)."""

    timeout_s: float | None = 3600.0
    memory_mb: float | None = 4096.0
    poll_s: float = 0.2
    threads: int = 1
    """Threads per numeric library in the child (0: the libraries' defaults)."""
    warm: bool = False
    """Fork the child from the warm server (imports done once, experiments.runs.warm) instead of a new Python."""


@dataclass
class ChildOutcome:
    """How a child ended: its kind, the result file it wrote (if any), exit code, log tail and resources used."""

    kind: OutcomeKind
    result: dict[str, Any] | None
    returncode: int | None
    log_tail: str
    seconds: float
    peak_rss_mb: float
    limits: Limits

    @property
    def ok(self) -> bool:
        """True when the child finished its work (its result file says done)."""
        return self.kind == "ok"

    def error(self) -> str:
        """One sentence saying why the child did not finish its work."""
        if self.kind == "error":
            return str((self.result or {}).get("error") or "the child reported an error")
        if self.kind == "timeout":
            return (f"timed out after {self.seconds:.0f} s (wall-clock limit {self.limits.timeout_s:g} s); "
                    "the experiment process was killed")
        if self.kind == "memory":
            return (f"exceeded the memory cap of {self.limits.memory_mb:g} MB (peak {self.peak_rss_mb:.0f} MB); "
                    "the experiment process was killed")
        if self.kind == "aborted":
            return "stopped by the optimizer before it finished"
        if self.kind == "crashed":
            return f"the experiment process exited with code {self.returncode} without a result"
        return ""


def _rss_mb(proc: psutil.Process) -> float:
    try:
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                continue
    except psutil.Error:
        return 0.0
    return total / (1024 * 1024)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return


def read_tail(log_path: Path, offset: int, chars: int = TAIL_CHARS) -> str:
    """The last `chars` characters the log gained after byte `offset`."""
    try:
        with open(log_path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return ""
    return data.decode("utf-8", errors="replace")[-chars:]


def _read_result(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _wait_a_while(proc: Any, seconds: float) -> None:
    """Wait up to `seconds` for the child to end, returning as soon as it does (a plain sleep would add up to a
    whole poll interval to every experiment)."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pass


def run_contained(args: list[str], log_path: Path, result_path: Path, limits: Limits,
                  abort: Callable[[], bool] = lambda: False,
                  on_start: Callable[[int], None] | None = None, home: Path | None = None,
                  env: dict[str, str] | None = None) -> ChildOutcome:
    """Run `python -m experiments.runs.child ARGS` within the limits; return how it ended (never raises for it).

    `home` (default: this process's home) is the child's home; `env` adds to its environment.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    result_path.unlink(missing_ok=True)
    argv = [*args, "--home", str(home or home_dir())]
    cmd = [sys.executable, "-m", "experiments.runs.child", *argv, "--parent", str(os.getpid())]
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", **thread_env(limits.threads)}
    with open(log_path, "ab") as log:
        log.write(f"\n=== {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} child_run {' '.join(args)}\n"
                  .encode())
        log.flush()
        offset = log.tell()
        t0 = time.monotonic()
        if limits.warm:
            proc: Any = WarmChild(argv, log_path, env)
        else:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
    if on_start is not None:
        on_start(proc.pid)
    try:
        watched: psutil.Process | None = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:  # it already exited
        watched = None
    kind: OutcomeKind | None = None
    peak = 0.0
    try:
        while proc.poll() is None:
            rss = _rss_mb(watched) if watched is not None else 0.0
            peak = max(peak, rss)
            if limits.memory_mb is not None and rss > limits.memory_mb:
                kind = "memory"
            elif limits.timeout_s is not None and time.monotonic() - t0 > limits.timeout_s:
                kind = "timeout"
            elif abort():
                kind = "aborted"
            if kind is not None:
                _kill_group(proc.pid)
                break
            _wait_a_while(proc, limits.poll_s)
    finally:
        if proc.poll() is None and kind is None:  # interrupted (e.g. KeyboardInterrupt in this thread)
            _kill_group(proc.pid)
        proc.wait()
    seconds = time.monotonic() - t0
    if kind is not None:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(f"=== killed by the parent after {seconds:.1f} s: {kind} "
                     f"(timeout {limits.timeout_s} s, memory cap {limits.memory_mb} MB, peak {peak:.0f} MB)\n")
    result = _read_result(result_path)
    if result is not None and result.get("status") == "done":
        kind = "ok"  # the work finished (perhaps killed during its analysis): the result stands
    elif kind is None:
        kind = "error" if result is not None else "crashed"
    tail = read_tail(log_path, offset)
    return ChildOutcome(kind, result, proc.returncode, tail, seconds, peak, limits)
