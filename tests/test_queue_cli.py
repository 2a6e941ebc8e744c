"""`gaussian queue` review flows through the CLI: list, show, approve, reject, edit, add, priority, reap, recover."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agents.sink import Source
from experiments.cli import queue_cmd
from experiments.home import set_home
from experiments.ideas.errors import DuplicateIdea, IllegalTransition, QueueCorrupt
from experiments.ideas.models import Status
from experiments.ideas.queue import IdeaQueue

AGENT = Source(kind="agent", name="proposer", model="claude-sonnet-4-6")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    set_home(None)
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "220")
    return tmp_path


@pytest.fixture
def cli() -> typer.Typer:
    root = typer.Typer(add_completion=False)

    @root.callback()
    def _root() -> None:
        """Throwaway root standing in for the gaussian CLI."""

    queue_cmd.register(root)
    return root


def run(cli: typer.Typer, *args: str, ok: bool = True):
    result = CliRunner().invoke(cli, ["queue", *args])
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_review_flow(home: Path, cli: typer.Typer) -> None:
    q = IdeaQueue.from_home()
    run_dir = home / "runs" / "run-7"
    run_dir.mkdir(parents=True)
    (run_dir / "ANALYSIS.md").write_text("# analysis\n")
    a = q.propose("Try Mamba2", "longer memory helps", "run-7 shows decay after 30 bars",
                  {"model.encoder": "mamba2"}, AGENT, analysis_ref="run-7")
    b = q.propose("Tighter stop", "cut losers", "losses cluster", {"exits.stop_loss_pct": 5}, AGENT)

    out = run(cli, "list").output
    assert a.id in out and b.id in out and "proposed: 2" in out
    data = json.loads(run(cli, "list", "--status", "proposed", "--json").output)
    assert [d["id"] for d in data] == [a.id, b.id] and "spec" not in data[0]

    out = run(cli, "show", a.id).output
    assert "run-7 shows decay after 30 bars" in out and "longer memory helps" in out
    assert "model.encoder" in out and '"tcn"' in out and '"mamba2"' in out
    assert str(run_dir / "ANALYSIS.md") in out
    shown = json.loads(run(cli, "show", str(a.seq), "--json").output)
    assert shown["diff"] == {"model.encoder": ["tcn", "mamba2"]}
    assert shown["analysis_path"] == str(run_dir / "ANALYSIS.md") and shown["idea"]["id"] == a.id

    assert "now approved" in run(cli, "approve", a.id, "--note", "worth a run", "--by", "human:alice").output
    missing_note = run(cli, "reject", b.id, ok=False)
    assert missing_note.exit_code == 2 and "--note" in missing_note.output
    assert "now rejected" in run(cli, "reject", b.id, "--note", "too tight for 0DTE").output
    again = run(cli, "reject", a.id, "--note", "changed my mind", ok=False)
    assert isinstance(again.exception, IllegalTransition) and "is approved; cannot reject" in str(again.exception)

    history = q.get(a.id).history
    assert [(e.action, e.actor, e.note) for e in history][-1] == ("approve", "human:alice", "worth a run")
    assert q.get(b.id).history[-1].note == "too tight for 0DTE"


def test_edit_priority_and_add(home: Path, cli: typer.Typer) -> None:
    q = IdeaQueue.from_home()
    a = q.propose("Try LSTM", "", "", {"model.encoder": "lstm"}, AGENT)
    q.approve(a.id, "human:alice")
    out = run(cli, "edit", a.id, "--set", "model.hidden=48", "--set", "model.layers=3", "--note", "bigger").output
    assert "now proposed" in out
    edited = q.get(a.id)
    assert edited.changes == {"model.encoder": "lstm", "model.hidden": 48, "model.layers": 3}
    assert "needs approving again" in edited.history[-1].note
    bad = run(cli, "edit", a.id, "--set", "model.hidden=2", ok=False)
    assert bad.exception is not None and "model.hidden" in str(bad.exception)

    assert "priority -3" in run(cli, "priority", a.id, "-3").output
    assert q.get(a.id).priority == -3

    out = run(cli, "add", "--set", "exits.take_profit_pct=25", "--priority", "4", "--rationale", "hunch",
              "--approve", "--by", "human:carol").output
    assert "now approved" in out
    mine = q.list(Status.APPROVED)[-1]
    assert mine.title == "changes: exits.take_profit_pct=25.0" and mine.priority == 4
    assert mine.source.kind == "human" and mine.history[-1].actor == "human:carol"

    spec_file = home / "my.yaml"
    spec_file.write_text("name: wide-window\nmodel:\n  encoder: lstm\n  window: 128\n")
    run(cli, "add", str(spec_file), "--set", "seed=3", "--title", "wide window")
    added = q.list(Status.PROPOSED)[-1]
    assert added.title == "wide window" and added.changes == {"model.encoder": "lstm", "model.window": 128, "seed": 3}
    dup = run(cli, "add", str(spec_file), "--set", "seed=3", ok=False)
    assert isinstance(dup.exception, DuplicateIdea) and added.id in str(dup.exception)


def test_show_invalid_idea_and_reap(home: Path, cli: typer.Typer) -> None:
    q = IdeaQueue.from_home()
    res = q.submit("oops", "", "", {"trading.contracts": 0}, AGENT)
    out = run(cli, "show", res.idea_id).output
    assert "Validation errors" in out and "trading.contracts" in out
    ok = q.propose("x", "", "", {"seed": 5}, AGENT)
    q.approve(ok.id, "me")
    q.lease_next("dead-worker")
    assert "no stale leases" in run(cli, "reap", "--grace", "3600").output
    assert "reaped" in run(cli, "reap", "--grace", "0", "--max-attempts", "1").output
    assert q.get(ok.id).status is Status.FAILED
    assert "reaper" in run(cli, "show", ok.id).output


def test_corrupt_queue_and_recover(home: Path, cli: typer.Typer) -> None:
    q = IdeaQueue.from_home()
    for s in (1, 2, 3):
        q.propose(f"t{s}", "", "", {"seed": s}, AGENT)
    q.path.write_text('{"ideas": {"1": ')
    broken = run(cli, "list", ok=False)
    assert isinstance(broken.exception, QueueCorrupt) and "gaussian queue recover" in str(broken.exception)
    assert q.path.read_text() == '{"ideas": {"1": '
    out = run(cli, "recover").output
    assert "restored" in out and "ideas.json.bak.1" in out and "corrupt-" in out
    assert len(q.list()) == 3  # every acknowledged write is back
    assert "nothing to recover" in str(run(cli, "recover", ok=False).exception)


def test_text_with_emoji_codes_prints_as_written(home: Path, cli: typer.Typer) -> None:
    """A title or rationale holding `:name:` is text, not an emoji code (rich would print a thumbs-up)."""
    idea = IdeaQueue.from_home().propose("stop :thumbs_up: wider", "", ":smile: why", {"exits.stop_loss_pct": 12},
                                         AGENT)
    assert "stop :thumbs_up: wider" in run(cli, "list").output
    shown = run(cli, "show", idea.id).output
    assert "stop :thumbs_up: wider" in shown and ":smile: why" in shown
