"""The read-only commands start fast: none of them imports torch, the anthropic SDK, scipy, pandas or numpy, nor
what only writers or the agent need (the file lock, YAML, psutil, the queue's write side with the auto-approve
policy, the agent's modules, the progress bars); only `queue show` builds the spec models (its diff against the
base), and none loads rich's emoji table.

Each command runs in a fresh interpreter (the real console entry point) against a home holding a queued idea and a
finished run (no YAML file), and reports the modules it loaded at exit. A command module that imports a heavy
library at module level, or a light module that grows a heavy import, fails here. New read-only commands belong in
READ_ONLY.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli.main import cli
from experiments.home import set_home
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec

HEAVY = ("torch", "anthropic", "scipy", "pandas", "numpy", "xgboost", "sklearn", "hmmlearn", "matplotlib",
         "filelock", "yaml", "psutil", "tinydb")
"""Top-level packages none of the read-only commands may load."""
WRITE_SIDE = ("experiments.ideas.queue", "experiments.ideas.autoapprove", "experiments.optimizer.agent_job",
              "agents.config", "agents.context", "experiments.cli.progress_display", "rich.progress")
"""Modules of the queue's write side, the agent and the progress display: readers read through the store."""
SPEC_MODELS = "experiments.spec.model"
"""Only `queue show` needs it (the diff against the base spec)."""
EMOJI = "rich._emoji_codes"
"""Loaded by typer's own help screens only; our consoles print `:name:` as written."""
READ_ONLY = [
    ["--help"], ["queue", "--help"], ["queue", "list"], ["queue", "show", "1"], ["status"], ["status", "--json"],
    ["runs", "list"], ["runs", "show", "RUN"], ["leaderboard"], ["leaderboard", "--json"], ["run", "--help"],
]
PROBE = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
from experiments.cli.main import app
app()
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("home")
    set_home(home)
    try:
        from agents.sink import Source
        from experiments.ideas.queue import IdeaQueue

        IdeaQueue.from_home().propose("wider stop", "", "", {"exits.stop_loss_pct": 12.0},
                                      Source(kind="human", name="test"))
        res = run_experiment(load_spec(None, ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=6",
                                              "splits.embargo_bars=45", "cycles=300"]), analyze=False)
    finally:
        set_home(None)
    return home, res.run_id


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_read_only_commands_load_no_heavy_library(home: tuple[Path, str], args: list[str], tmp_path: Path) -> None:
    path, run_id = home
    args = [run_id if a == "RUN" else a for a in args]
    out = tmp_path / "modules.json"
    env = {**os.environ, "GAUSSIAN_HOME": str(path), "COLUMNS": "120"}
    r = subprocess.run([sys.executable, "-c", PROBE, str(out), *args], env=env, capture_output=True, text=True,
                       check=False,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    modules = set(json.loads(out.read_text()))
    loaded = {m.split(".")[0] for m in modules}
    command = f"gaussian {' '.join(args)}"
    assert not loaded & set(HEAVY), f"{command} imported {sorted(loaded & set(HEAVY))}"
    assert not modules & set(WRITE_SIDE), f"{command} imported {sorted(modules & set(WRITE_SIDE))}"
    if args[:2] != ["queue", "show"]:
        assert SPEC_MODELS not in modules, f"{command} built the spec models"
    if "--help" not in args:
        assert EMOJI not in modules, f"{command} loaded rich's emoji table"


def test_every_read_only_command_is_registered() -> None:
    names = {c.name for c in cli.registered_commands} | {g.name for g in cli.registered_groups}
    for args in READ_ONLY:
        if not args[0].startswith("-"):
            assert args[0] in names, args
