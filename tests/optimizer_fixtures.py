"""Helpers for the optimizer tests: a tiny home, approved ideas, the `gaussian` command and polling."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.sink import Source
from experiments.ideas.queue import IdeaQueue

TINY_BASE = ("entry: {type: momentum, momentum: {lookback_bars: 15}}\ndata: {sessions: 10, edge: 0.3}\n"
             "exits: {stop_loss_pct: 8.0, take_profit_pct: 15.0}\nsplits: {embargo_bars: 45}\ncycles: 600\n")
"""A weak-edge market with tight exits, so the first run's analysis always recommends something to try."""
REPO = Path(__file__).resolve().parents[1]


def make_home(path: Path) -> Path:
    """A home with a tiny base spec (10 synthetic sessions, momentum entries, 600 evaluation bars)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "base_spec.yaml").write_text(TINY_BASE, encoding="utf-8")
    return path


def add_idea(queue: IdeaQueue, name: str, lookback: int, priority: int = 0, approve: bool = True) -> str:
    """Queue (and approve) an idea whose spec is named `name` (the key of the GAUSSIAN_TEST_FAULT hook)."""
    idea = queue.propose(f"idea {name}", "a test idea", "testing the optimizer",
                         {"name": name, "entry.momentum.lookback_bars": lookback},
                         Source(kind="human", name="tester"), priority=priority)
    if approve:
        queue.approve(idea.id, "human:tester")
    return idea.id


def gaussian(home: Path, *args: str) -> list[str]:
    """The `gaussian --home HOME ARGS` command line, run with this interpreter."""
    return [sys.executable, "-m", "experiments.cli.main", "--home", str(home), *args]


def start(home: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `gaussian ARGS` in the background, its output going to `log`."""
    with open(log, "ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(gaussian(home, *args), stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    """Poll `pred` until it returns something truthy; fail naming `what` (and showing the log) on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")


def read_status(home: Path) -> dict[str, Any]:
    """The optimizer's status file ({} while it does not exist)."""
    try:
        return json.loads((home / "runs" / "optimizer_status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
