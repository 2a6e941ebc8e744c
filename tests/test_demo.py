"""`gaussian demo --fast`: every part of the loop shows up, and the demo never empties a folder it did not make."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from experiments.cli.demo import prepare_home, run_demo
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
    for header in ("Market data", "A baseline experiment", "The promotion gate on the baseline",
                   "the meta-agent proposes ideas", "the optimizer runs the approved ideas", "Leaderboard",
                   "The promotion decision", "Where to look next"):
        assert header in text, header
    home = Path(summary["home"])
    assert summary["leaderboard"] and summary["results"], text[-3000:]
    for row in summary["leaderboard"]:
        assert (home / "runs" / row["run_id"] / "ANALYSIS.md").exists()
    decisions = [json.loads(line) for line in (home / "runs" / "promotions.jsonl").read_text().splitlines()]
    assert {d["run_id"] for d in decisions if d["action"] in ("refuse", "promote")} >= {
        r["run_id"] for r in summary["results"] if r["status"] == "done"}
    assert ("promoted: run" in text) or ("nothing is promoted" in text)


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
