"""Experiments forked from the warm server: the same results as a new Python, the same containment, and no child
left behind when the process that started them is killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from experiments.home import set_home
from experiments.runs.containment import Limits, run_contained
from experiments.spec.io import load_spec

SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=10", "splits.embargo_bars=45",
         "cycles=200"]


def _job(home: Path, name: str) -> tuple[list[str], Path]:
    home.mkdir(parents=True, exist_ok=True)
    job = home / f"{name}.json"
    spec = load_spec(None, [*SMALL, f"name={name}"]).model_dump(mode="json")
    job.write_text(json.dumps({"idea_id": None, "spec": spec, "cycles": None, "analyze": False}))
    result = home / f"{name}.result.json"
    return ["run", str(job), str(result)], result


def _run(home: Path, name: str, limits: Limits):
    args, result = _job(home, name)
    set_home(home)
    try:
        return run_contained(args, home / f"{name}.log", result, limits)
    finally:
        set_home(None)


def test_warm_and_cold_children_give_the_same_run(tmp_path: Path) -> None:
    docs = []
    for warm in (False, True):
        home = tmp_path / f"warm{warm}"
        out = _run(home, "same", Limits(timeout_s=300, memory_mb=None, warm=warm))
        assert out.kind == "ok", out.log_tail
        run_id = out.result["run_id"]
        doc = json.loads((home / "runs" / run_id / "metrics.json").read_text())
        docs.append(json.dumps({k: v for k, v in doc.items() if k != "run_id"}, sort_keys=True))
        assert "run " in (home / "same.log").read_text()  # the child's log lines reach the log file
    assert docs[0] == docs[1]


@pytest.mark.parametrize(("fault", "kind"), [("crash", "crashed"), ("raise", "error"), ("hang", "timeout")])
def test_a_warm_child_is_contained_like_a_cold_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str,
                                                   kind: str) -> None:
    monkeypatch.setenv("GAUSSIAN_TEST_FAULT", f"bad:{fault}")  # set after the fork server may have started
    pids: list[int] = []
    args, result = _job(tmp_path, "bad")
    set_home(tmp_path)
    try:
        out = run_contained(args, tmp_path / "bad.log", result, Limits(timeout_s=20, memory_mb=None, warm=True),
                            on_start=pids.append)
    finally:
        set_home(None)
    assert out.kind == kind, out.log_tail
    assert not psutil.pid_exists(pids[0]) or psutil.Process(pids[0]).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("warm", [False, True])
def test_the_parent_hears_at_once_that_its_child_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        warm: bool) -> None:
    """The parent waits on the child's end between its memory and time checks, not a fixed sleep: with checks
    two minutes apart, a child that crashes at once is still reported long before the first check is due."""
    monkeypatch.setenv("GAUSSIAN_TEST_FAULT", "quick:crash")
    args, result = _job(tmp_path, "quick")
    set_home(tmp_path)
    t0 = time.monotonic()
    try:
        out = run_contained(args, tmp_path / "quick.log", result,
                            Limits(timeout_s=600, memory_mb=4096, poll_s=120, warm=warm))
    finally:
        set_home(None)
    assert out.kind == "crashed", out.log_tail
    assert time.monotonic() - t0 < 60


PARENT = """
import sys, time
from pathlib import Path
from experiments.home import set_home
from experiments.runs.containment import Limits, run_contained
home = Path(sys.argv[1]); set_home(home)
run_contained(["run", sys.argv[2], sys.argv[3]], home / "p.log", Path(sys.argv[3]),
              Limits(timeout_s=600, memory_mb=None, warm=True),
              on_start=lambda pid: (home / "child.pid").write_text(str(pid)))
"""


def test_killing_the_parent_kills_its_warm_child(tmp_path: Path) -> None:
    args, result = _job(tmp_path, "orphan")
    env = {**os.environ, "GAUSSIAN_TEST_FAULT": "orphan:hang"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path), args[1], str(result)], env=env)
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child = int(pid_file.read_text())
    while "test fault 'hang'" not in (tmp_path / "p.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.2)
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
