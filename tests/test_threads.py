"""Each experiment runs with the threads it is given: one by default, in the optimizer's child and by hand."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.home import set_home
from experiments.runs.containment import Limits, run_contained
from experiments.runs.threads import THREADS_ENV, thread_env, threads_from_env
from experiments.spec.io import load_spec

SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=10", "splits.embargo_bars=45",
         "cycles=200"]


@pytest.mark.parametrize("threads", [0, 1, 2])
def test_the_optimizers_child_runs_with_the_threads_it_is_given(tmp_path: Path, threads: int) -> None:
    set_home(tmp_path)
    try:
        job = tmp_path / "job.json"
        spec = load_spec(None, [*SMALL, f"name=t{threads}"]).model_dump(mode="json")
        job.write_text(json.dumps({"idea_id": None, "spec": spec, "cycles": None, "analyze": False}))
        result = tmp_path / "result.json"
        outcome = run_contained(["run", str(job), str(result)], tmp_path / "child.log", result,
                                Limits(timeout_s=300, memory_mb=None, threads=threads))
    finally:
        set_home(None)
    assert outcome.kind == "ok", (tmp_path / "child.log").read_text()[-2000:]
    run_id = json.loads(result.read_text())["run_id"]
    env = json.loads((tmp_path / "runs" / run_id / "environment.json").read_text())
    if threads:
        assert env["threads"]["torch"] == threads
        assert env["threads"]["blas_openmp"] in (0, threads)
    else:  # 0: each library's own default
        assert env["threads"]["torch"] >= 1


def test_limit_threads_applies_before_and_after_the_libraries_load() -> None:
    code = ("from experiments.runs.threads import limit_threads; import numpy, torch; limit_threads(1); "
            "from threadpoolctl import threadpool_info; "
            "print(torch.get_num_threads(), max([p['num_threads'] for p in threadpool_info()] or [1]))")
    env = {k: v for k, v in os.environ.items() if k not in thread_env(1)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True)
    assert out.stdout.split() == ["1", "1"]


def test_thread_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert thread_env(0) == {THREADS_ENV: "0"}
    assert thread_env(3)["OMP_NUM_THREADS"] == "3"
    with pytest.raises(ValueError, match="threads must be 0"):
        thread_env(-1)
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert threads_from_env() == 1
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match="GAUSSIAN_THREADS='many'"):
        threads_from_env()
