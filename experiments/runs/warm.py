"""A warm start for contained children: forked from a server process that has imported the heavy libraries once.

Starting `python -m experiments.runs.child` costs seconds of imports (torch, pandas, scipy, XGBoost, the
project) for every experiment. Here the children are forked from Python's multiprocessing fork server, whose
process preloads those modules once; each child then starts in milliseconds with the same isolation as before:
its own process and session, its output in the log file, the same command-line entry point, and the parent's
timeout, memory cap and kill switch watching it (experiments.runs.containment). A child watches the process that
asked for it (not its fork-server parent, which outlives no one: it exits once that process and its children
are gone), so a killed optimizer leaves no child behind.

The fork server runs no numeric work itself (only imports), so no thread pool exists at fork time. It is not
for processes that may not have children of their own (a daemonic process, such as a Dask worker started with
Dask's default `distributed.worker.daemon: True`): callers opt in where `available()` says so. A Dask worker
started with that setting off has its own fork server, started when the worker starts (`prestart`), and its
experiments fork from it like the local path's (experiments.runs.warm_worker).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

PRELOAD = ["experiments.runs.warm_imports"]
"""The module the fork server imports before forking children (it imports the heavy libraries)."""

_ctx: Any = None


def _context() -> Any:
    global _ctx
    if _ctx is None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _ctx = ctx
    return _ctx


def available() -> bool:
    """Whether this process may fork warm children: multiprocessing forbids children to a daemonic process."""
    return not mp.current_process().daemon


def prestart() -> bool:
    """Start the fork server now, so it imports while nothing waits for it; False where `available()` is not."""
    if not available():
        return False
    _context()
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return True


def _entry(argv: list[str], log_path: str, env: dict[str, str], cwd: str, owner: int) -> None:
    """In the forked child: own session, the caller's environment and folder, output to the log, then main."""
    os.setsid()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    from experiments.runs.child import main

    code = 1
    try:
        code = main([*argv, "--parent", str(owner)])  # die with the process that asked for this child
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class WarmChild:
    """A child forked from the warm server, with the parts of `subprocess.Popen` containment uses."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
        """Fork `python -m experiments.runs.child ARGV` with exactly the environment `env` (as Popen would)."""
        self._proc = _context().Process(target=_entry, args=(argv, str(log_path), env, os.getcwd(), os.getpid()),
                                        name="gaussian-child")
        self._proc.start()
        self.pid: int = int(self._proc.pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the child has ended, else None."""
        if self.returncode is None and self._proc.exitcode is not None:
            self.returncode = self._proc.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to end; its exit code (negative: killed by that signal). Like `Popen.wait`, a
        `timeout` that passes first raises `subprocess.TimeoutExpired`."""
        self._proc.join(timeout)
        code = self.poll()
        if code is None and timeout is not None:
            raise subprocess.TimeoutExpired(f"gaussian-child {self.pid}", timeout)
        return code
