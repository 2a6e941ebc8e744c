"""`gaussian demo`: the four flows show up, the demo reaches paper trading, and it never empties a folder it did
not make."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from experiments.cli.demo import DemoSize, prepare_home, run_demo
from experiments.home import set_home
from trader.errors import StateError


@pytest.mark.slow
def test_fast_demo_shows_every_part_of_the_loop(tmp_path: Path) -> None:
    out = io.StringIO()
    try:
        summary = run_demo(tmp_path / "demo-home", fast=True, console=Console(file=out, width=160))
    finally:
        set_home(None)
    text = out.getvalue()
    for header in ("Market data", "Flow 1: one experiment by hand", "The promotion gate on the baseline",
                   "Flow 2, round 1: the meta-agent proposes, a person reviews",
                   "Flow 3, round 1: the optimizer runs the approved ideas", "Leaderboard",
                   "The promotion decision", "Flow 4: paper trading", "Where everything is"):
        assert header in text, header
    home = Path(summary["home"])
    assert summary["leaderboard"] and summary["results"], text[-3000:]
    for row in summary["leaderboard"]:
        assert (home / "runs" / row["run_id"] / "ANALYSIS.md").exists()
    decisions = [json.loads(line) for line in (home / "runs" / "promotions.jsonl").read_text().splitlines()]
    assert {d["run_id"] for d in decisions if d["action"] in ("refuse", "promote")} >= {
        r["run_id"] for r in summary["results"] if r["status"] == "done"}
    assert ("promoted: run" in text) or ("nothing is promoted" in text)
    if summary["promoted"]:
        assert summary["paper"] and summary["paper"]["run_id"] == summary["promoted"]
    else:  # never paper trades an unpromoted run unless asked
        assert summary["paper"] is None and "--paper-best" in text


@pytest.mark.slow
def test_demo_reaches_paper_trading(tmp_path: Path) -> None:
    """The whole story on a tiny market, the exit model off (its paper replay is fixed elsewhere): a run, reviewed
    proposals, the optimizer, the decision, then a paper replay of the promoted run, or with --paper-best of the
    best one, labelled as not promoted."""
    out = io.StringIO()
    size = DemoSize(sessions=10, rounds=1, proposals=2, experiments=1, paper_bars=30)
    try:
        summary = run_demo(tmp_path / "demo-home", console=Console(file=out, width=80), paper_best=True,
                           base={"exits": {"model": {"enabled": False}}}, size=size)
    finally:
        set_home(None)
    text = out.getvalue()
    assert "Flow 4: paper trading" in text and "review:" in text
    assert summary["reviewed"], text  # a proposal outside autoapprove.yaml waited for the (demo's) reviewer
    paper = summary["paper"]
    assert paper is not None, text[-3000:]
    expected = summary["promoted"] or summary["leaderboard"][0]["run_id"]
    assert paper["run_id"] == expected and paper["promoted"] == bool(summary["promoted"])
    assert ("promoted run" in text) if summary["promoted"] else ("NOT promoted" in text)
    session = Path(paper["dir"])
    doc = json.loads((session / "metrics.json").read_text())
    assert doc["split"] == "paper" and doc["promoted_run"] == expected and doc["window"]["bars"] == 30
    assert (session / "journal.jsonl").is_file() and str(session) in text  # its path, printed whole
    assert max(len(line) for line in text.splitlines() if str(tmp_path) not in line) <= 80


def test_demo_never_empties_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(StateError, match="not made by `gaussian demo`"):
        prepare_home(tmp_path, keep=False)
    assert (tmp_path / "precious.txt").exists()
    demo = prepare_home(tmp_path / "d", keep=False)
    (demo / "old-run.txt").write_text("x")
    prepare_home(demo, keep=False)
    assert not (demo / "old-run.txt").exists() and (demo / ".gaussian-demo").exists()


@pytest.mark.slow
def test_null_demo_ends_with_the_gate_refusing_and_naming_each_check(tmp_path: Path) -> None:
    out = io.StringIO()
    try:
        summary = run_demo(tmp_path / "demo-home", fast=True, console=Console(file=out, width=200), null=True)
    finally:
        set_home(None)
    text = out.getvalue()
    assert summary["null"] is True and summary["edge"] == 0.0
    assert summary["promoted"] is None and "nothing is promoted" in text
    home = Path(summary["home"])
    refusals = [json.loads(line) for line in (home / "runs" / "promotions.jsonl").read_text().splitlines()]
    assert refusals and all(r["action"] == "refuse" and r["failed"] for r in refusals)
    for r in refusals:
        for name in r["failed"]:
            assert any(c["name"] == name and c["passed"] is False and c["detail"] for c in r["checks"])
