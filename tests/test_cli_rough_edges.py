"""The small things a newcomer meets: tables that fit 80 columns without cutting numbers (--wide shows all), what
an idea changes, what a run ran, runs compared, "did you mean" for a misspelt field, titles that name every
change, no-op proposals refused, one labelled time convention, a talkative idle optimizer, and help without
`<bool>` or `[[SPEC]]`."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from agents.sink import Source
from experiments.cli.main import cli
from experiments.cli.tables import leaderboard_table, print_table, queue_table
from experiments.home import set_home
from experiments.ideas.errors import DuplicateIdea
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.loop import Optimizer, OptimizerConfig
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec
from trader.errors import SpecError

SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=6", "splits.embargo_bars=45"]
HEAVY_NUMBERS = ["-144.79", "-8.12", "4,620", "12,345"]


def _rendered(table, width: int, wide: bool = False) -> str:
    out = io.StringIO()
    print_table(table, wide, Console(file=out, width=width))
    return out.getvalue()


def _rows() -> list[dict]:
    return [{"rank": 1, "run_id": "20261206-004842-b7fcb3-8485", "name": "exits.stop_loss_pct 8.0 -> 12.0 with a "
             "very long explanation of what it does", "entry": "consensus", "encoder": "mamba2", "bars": 4620,
             "trades": 12345, "pnl_pct": -8.123, "win_rate": 0.4, "sharpe": -144.79, "dsr": 0.0,
             "random_pnl_pct": -1.29, "buy_hold_pnl_pct": -1.44, "promoted": True},
            {"rank": 2, "run_id": "20261206-004820-3d5e24-4b1c", "name": "baseline", "entry": "momentum",
             "encoder": None, "bars": 500, "trades": 3, "pnl_pct": 1.0, "win_rate": 1.0, "sharpe": 2.0,
             "dsr": 0.5, "random_pnl_pct": 0.1, "buy_hold_pnl_pct": 0.2, "promoted": False}]


@pytest.mark.parametrize("width", [80, 100, 120])
def test_the_leaderboard_fits_the_terminal_and_never_cuts_a_number(width: int) -> None:
    text = _rendered(leaderboard_table(_rows(), "leaderboard", width), width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    for number in HEAVY_NUMBERS + ["20261206-004842-b7fcb3-8485"]:
        assert number in text, (number, text)
    assert "bars" in text and "P&L%" in text and "Sharpe" in text
    if width == 80:
        assert "--wide shows them" in text
    wide = _rendered(leaderboard_table(_rows(), "leaderboard", width, wide=True), width, wide=True)
    for header in ("name", "entry", "bars", "win", "rand%", "B&H%", "very long explanation of what it does"):
        assert header in wide, header
    assert "--wide" not in wide


def test_queue_list_shows_what_each_idea_changes_in_utc_and_fits_80_columns(tmp_path: Path) -> None:
    set_home(tmp_path)
    try:
        q = IdeaQueue.from_home()
        q.propose("A title long enough to wrap four lines in a narrow column of the old table, and more",
                  "", "", {"exits.stop_loss_pct": 12.0, "exits.take_profit_pct": 30.0}, Source(kind="human", name="t"))
        ideas = q.list()
    finally:
        set_home(None)
    text = _rendered(queue_table(ideas, "idea queue", 80), 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "changes" in text and "exits.stop_loss_pct=12.0" in text
    assert len([line for line in text.splitlines() if "A title" in line]) == 1  # one line per idea
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "queue", "list", "--wide"], env={"COLUMNS": "80"})
    assert r.exit_code == 0 and "created (UTC)" in r.output and ideas[0].id in r.output, r.output
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "queue", "show", "1"], env={"COLUMNS": "120"})
    assert " UTC" in r.output and ideas[0].created.strftime("%Y-%m-%d %H:%M:%S UTC") in r.output


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    home = tmp_path_factory.mktemp("runs-home")
    set_home(home)
    try:
        ids = [run_experiment(load_spec(None, [*SMALL, f"cycles={n}"]), analyze=False).run_id for n in (200, 300)]
    finally:
        set_home(None)
    return home, ids


def test_runs_list_says_what_each_run_ran(two_runs: tuple[Path, list[str]]) -> None:
    home, ids = two_runs
    r = CliRunner().invoke(cli, ["--home", str(home), "runs", "list"], env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    for word in ("entry", "encoder", "window", "exit model", "bars", "momentum", "by hand", "200", "300"):
        assert word in r.output, word
    rows = json.loads(CliRunner().invoke(cli, ["--home", str(home), "runs", "list", "--json"]).output)
    assert [(x["run_id"], x["bars"], x["entry"], x["exit_model"]) for x in rows] == [
        (ids[1], 300, "momentum", False), (ids[0], 200, "momentum", False)]
    board = CliRunner().invoke(cli, ["--home", str(home), "leaderboard", "--json"]).output
    assert sorted(x["bars"] for x in json.loads(board)) == [200, 300]


def test_runs_compare_puts_metrics_side_by_side_and_curves_on_one_plot(two_runs: tuple[Path, list[str]],
                                                                      tmp_path: Path) -> None:
    home, ids = two_runs
    plot = tmp_path / "cmp.png"
    r = CliRunner().invoke(cli, ["--home", str(home), "runs", "compare", *ids, "--out", str(plot)],
                           env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert all(i in r.output for i in ids) and "Sharpe" in r.output and "validation bars" in r.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(CliRunner().invoke(cli, ["--home", str(home), "runs", "compare", *ids, "--out", str(plot),
                                              "--json"]).output)
    assert [x["bars"] for x in doc["runs"]] == [200, 300]
    one = CliRunner().invoke(cli, ["--home", str(home), "runs", "compare", ids[0]])
    assert one.exit_code != 0


def test_an_unknown_field_gets_the_closest_names() -> None:
    with pytest.raises(SpecError, match=r"'exits.stop_los' is not a known field \(did you mean exits.stop_loss_pct"):
        load_spec(None, ["exits.stop_los=6"])
    with pytest.raises(SpecError, match=r"did you mean model.training.epochs"):
        load_spec(None, ["model.training.epoch=3"])
    with pytest.raises(SpecError, match=r"did you mean .*exits.stop_loss_pct"):
        load_spec(None, ["exits.stoploss_pct=3"])


def test_a_title_names_every_change_and_a_no_op_is_refused(tmp_path: Path) -> None:
    set_home(tmp_path)
    try:
        q = IdeaQueue.from_home()
        src = Source(kind="heuristic", name="t")
        with pytest.raises(DuplicateIdea, match="changes nothing against the base spec"):
            q.propose("Explore entry controller consensus", "", "", {"entry.type": "consensus"}, src)
        idea = q.propose("exits.stop_loss_pct 8.0 -> 12.0", "", "", {"exits.stop_loss_pct": 12.0,
                                                                     "entry.type": "momentum"}, src)
        assert idea.title == 'exits.stop_loss_pct 8.0 -> 12.0 [+ entry.type="momentum"]'
        named = q.propose("Explore entry controller predictor", "", "", {"entry.type": "predictor"}, src)
        assert named.title == "Explore entry controller predictor"
        refused = q.submit("same as the base", "", "", {"exits.stop_loss_pct": 50.0}, src)
        assert not refused.accepted and "changes nothing" in refused.reasons[0]
    finally:
        set_home(None)


def test_the_offline_proposer_never_proposes_the_base_entry_controller(tmp_path: Path) -> None:
    from experiments.optimizer.agent_job import run_agent_job

    set_home(tmp_path)
    try:
        outcome = run_agent_job(offline=True, max_proposals=10)
    finally:
        set_home(None)
    assert outcome.proposals and not any(p.decision == "refused" for p in outcome.proposals), outcome.summary()
    assert "Explore entry controller consensus" not in [p.title for p in outcome.proposals]


def test_an_idle_optimizer_says_why_and_ctrl_c_with_nothing_running_says_so(tmp_path: Path) -> None:
    set_home(tmp_path)
    try:
        IdeaQueue.from_home().propose("wider stop", "", "", {"exits.stop_loss_pct": 12.0},
                                      Source(kind="human", name="t"))
        opt = Optimizer(OptimizerConfig(agent=False, poll_s=2.0))
        why = opt._idle_reason()
        assert "no approved idea" in why and "--no-agent" in why and "every 2 s" in why
        assert "1 proposal(s) await review" in why and "gaussian queue approve" in why
        opt._on_signal(signal.SIGINT, None)
        assert opt.stop_reason == "SIGINT: no experiment is running; stopping"
    finally:
        set_home(None)


def test_help_shows_no_bool_metavar_and_no_double_brackets() -> None:
    env = {**os.environ, "COLUMNS": "120"}
    for args in (["run", "--help"], ["optimize", "--help"], ["spec", "--help"], ["queue", "list", "--help"]):
        out = subprocess.run([sys.executable, "-m", "experiments.cli.main", *args], env=env, capture_output=True,
                             text=True, check=True).stdout
        assert "<bool>" not in out and "[[" not in out, out
    run_help = subprocess.run([sys.executable, "-m", "experiments.cli.main", "run", "--help"], env=env,
                              capture_output=True, text=True, check=True).stdout
    assert "[SPEC]" in run_help and "FIELD=VALUE" in run_help
