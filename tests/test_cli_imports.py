"""The read-only commands start fast: none of them imports torch, the anthropic SDK, scipy, pandas or numpy.

Each command runs in a fresh interpreter (the real console entry point) against a home holding a queued idea and a
finished run, and reports the modules it loaded at exit. A command module that imports a heavy library at module
level, or a light module that grows a heavy import, fails here. New read-only commands belong in READ_ONLY.
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

HEAVY = ("torch", "anthropic", "scipy", "pandas", "numpy", "xgboost", "sklearn", "hmmlearn", "matplotlib")
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
    loaded = {m.split(".")[0] for m in json.loads(out.read_text())}
    assert not loaded & set(HEAVY), f"gaussian {' '.join(args)} imported {sorted(loaded & set(HEAVY))}"


def test_every_read_only_command_is_registered() -> None:
    names = {c.name for c in cli.registered_commands} | {g.name for g in cli.registered_groups}
    for args in READ_ONLY:
        if not args[0].startswith("-"):
            assert args[0] in names, args
