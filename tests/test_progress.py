"""Every phase of a run is reported (predictor epochs with their loss), piped output gets one plain line per phase,
and `gaussian status` shows the running experiment's phase while it runs (from runs/<id>/progress.json)."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from experiments.cli.main import cli
from experiments.cli.progress_display import PlainPhases
from experiments.home import set_home
from experiments.optimizer.status import collect_status
from experiments.runs.progress import PhaseUpdate, RunProgress, read_progress, running_experiments
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec

TINY = ["data.sessions=6", "splits.embargo_bars=45", "cycles=300", "model.training.epochs=2",
        "model.training.max_samples=400", "model.hidden=8", "regime.n_iter=5"]


def test_a_model_run_reports_every_phase_and_status_sees_it_running(tmp_path: Path) -> None:
    seen: list[PhaseUpdate] = []
    during: dict[str, list[dict]] = {}

    def display(u: PhaseUpdate) -> None:
        seen.append(u)
        if u.phase not in during:  # what another terminal's `gaussian status` reads at this moment
            during[u.phase] = collect_status()["experiments"]

    set_home(tmp_path)
    try:
        res = run_experiment(load_spec(None, [*TINY, "entry.type=consensus", "exits.model.enabled=true"]),
                             progress=display)
    finally:
        set_home(None)
    phases = list(dict.fromkeys(u.phase for u in seen))
    assert phases == ["load market", "features", "predictor training (tcn)", "regime HMMs", "exit model",
                      "per-bar arrays", "evaluate", "random baseline", "analysis"]
    for phase in phases:  # every phase starts at 0 and ends complete
        mine = [u for u in seen if u.phase == phase]
        assert mine[0].done == 0 and mine[-1].total is not None and mine[-1].done == mine[-1].total, phase
    epochs = [u for u in seen if u.phase.startswith("predictor training") and u.info.startswith("loss")]
    assert epochs and all(u.total == 2 for u in epochs)
    for phase, running in during.items():
        assert [(e["run_id"], e["phase"], e["state"]) for e in running] == [(res.run_id, phase, "running")]
    final = read_progress(res.run_dir)
    assert final["state"] == "done" and [p["phase"] for p in final["phases_done"]] == phases
    assert running_experiments(tmp_path / "runs") == []


def test_status_prints_the_phase_of_a_running_experiment(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101-000000-abcdef-0001"
    run_dir.mkdir(parents=True)
    rp = RunProgress()
    rp.bind(run_dir, idea_id="20260101-000000-0001")
    rp("predictor training (tcn)", 3, 10, "loss 0.5123")
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "status"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "run 20260101-000000-abcdef-0001 (idea 20260101-000000-0001" in r.output
    assert "predictor training (tcn) 3/10 (30%), loss 0.5123" in r.output
    doc = json.loads(CliRunner().invoke(cli, ["--home", str(tmp_path), "status", "--json"]).output)
    assert doc["experiments"][0]["phase"] == "predictor training (tcn)" and "times in UTC" in r.output
    rp.finish("failed")
    assert running_experiments(tmp_path / "runs") == []


def test_a_run_whose_process_died_is_not_shown_as_running(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101-000000-abcdef-0002"
    run_dir.mkdir(parents=True)
    rp = RunProgress()
    rp.bind(run_dir)
    rp("evaluate", 10, 100)
    assert [e["run_id"] for e in running_experiments(tmp_path / "runs")] == [run_dir.name]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    doc = read_progress(run_dir)
    (run_dir / "progress.json").write_text(json.dumps({**doc, "pid": int(dead.stdout)}))  # killed mid-run
    assert running_experiments(tmp_path / "runs") == []


def test_piped_output_gets_a_line_per_phase_and_per_epoch() -> None:
    out = io.StringIO()
    show = PlainPhases(out)
    for u in [PhaseUpdate("load market", 0, 1), PhaseUpdate("load market", 1, 1, "5,850 bars"),
              PhaseUpdate("predictor training (tcn)", 0, 2), PhaseUpdate("predictor training (tcn)", 1, 2, "loss 1.2"),
              PhaseUpdate("predictor training (tcn)", 2, 2, "loss 1.1"), PhaseUpdate("evaluate", 0, 1000),
              PhaseUpdate("evaluate", 500, 1000), PhaseUpdate("evaluate", 1000, 1000)]:
        show(u)
    lines = [x.strip() for x in out.getvalue().splitlines()]
    assert lines[0] == "load market: started" and lines[1].startswith("load market: done in")
    assert lines[1].endswith("5,850 bars")
    assert "predictor training (tcn): 1/2 loss 1.2" in lines
    assert lines[-2] == "evaluate: started (1,000 steps)" and lines[-1].startswith("evaluate: done in")
    assert len(lines) == 7  # the evaluation's intermediate step (no note) prints nothing
