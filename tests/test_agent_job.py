"""The agent job (composition root) and `gaussian agent`: a home with runs, a queue, agent.yaml and the fake API."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from agents.cost_ledger import CostLedger, default_ledger_path
from experiments.cli.agent_cmd import app
from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.agent_job import gather_context, history_path, run_agent_job, supported_entry_types
from experiments.optimizer.status import agent_status_path, read_agent_status
from experiments.runs import ledger as run_ledger
from tests.agent_fixtures import HOLDOUT_PNL, HOLDOUT_SHARPE, KEY, TRADIER_TOKEN, proposal, write_analysed_run
from tests.fake_anthropic import (
    FakeAnthropic,
    fake_anthropic_fixture,  # noqa: F401 - registers the fake_anthropic fixture
    server_error,
    tool_call,
)

NEW_RUN = "20240301-120000-def456-0001"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with two analysed runs (the newer with holdout figures beside it) and no API key."""
    set_home(None)
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRADIER_TOKEN", TRADIER_TOKEN)
    write_analysed_run(tmp_path / "runs", holdout=False)
    write_analysed_run(tmp_path / "runs", run_id=NEW_RUN, overrides={"exits.max_hold_minutes": 60})
    return tmp_path


def llm_home(home: Path, fake: FakeAnthropic, **extra: object) -> dict[str, str]:
    """Point agent.yaml at the fake server; return an environment holding the API key."""
    config = {"base_url": fake.base_url, "backoff_initial_s": 0.01, "backoff_max_s": 0.02, "max_retries": 2,
              "proposals_per_call": 2, **extra}
    (home / "agent.yaml").write_text(yaml.safe_dump(config))
    return {"ANTHROPIC_API_KEY": KEY}


def test_offline_job_without_a_key_queues_and_records_status(home: Path) -> None:
    out = run_agent_job()
    assert out.mode == "offline" and out.ok
    queued = [p for p in out.proposals if p.decision == "queued"]
    assert len(queued) == 3 and queued[0].based_on_run == NEW_RUN  # newest report first
    assert [i.status.value for i in IdeaQueue.from_home().list()] == ["proposed"] * 3
    status = read_agent_status()
    assert status is not None and status["mode"] == "offline" and status["counts"]["queued"] == 3
    assert status["last_error"] is None and status["budget_blocked"] is False
    assert len(history_path().read_text().splitlines()) == 1
    again = run_agent_job()
    assert {p.title for p in again.proposals}.isdisjoint({p.title for p in queued})
    assert len(IdeaQueue.from_home().list()) == 6


def test_dry_run_touches_neither_queue_nor_status(home: Path) -> None:
    out = run_agent_job(dry_run=True, max_proposals=2)
    assert out.dry_run and [p.decision for p in out.proposals] == ["valid", "valid"]
    assert IdeaQueue.from_home().list() == [] and not agent_status_path().exists()


def test_context_gathers_reports_tried_list_and_ledger_failures(home: Path) -> None:
    from agents.config import AgentConfig
    from experiments.optimizer.agent_job import SpecTools

    run_ledger.record("20240115-000000-aaaaaa-0001", "f" * 16, "failed", error="out of memory in fit")
    queue = IdeaQueue.from_home()
    run_agent_job(max_proposals=1)
    ctx = gather_context(queue, SpecTools(queue.base_spec()), AgentConfig(), 3)
    assert [r.run_id for r in ctx.reports] == [NEW_RUN, "20240201-120000-abc123-0001"]
    assert ctx.reports[0].changes == {"exits.max_hold_minutes": 60}
    statuses = [(t.status, t.error) for t in ctx.tried]
    assert ("failed", "out of memory in fit") in statuses and ("proposed", None) in statuses
    assert ctx.supported_entry_types == supported_entry_types()
    assert {"consensus", "momentum"} <= set(ctx.supported_entry_types)
    assert ctx.leaderboard and ctx.leaderboard[0]["run_id"] in (NEW_RUN, "20240201-120000-abc123-0001")


def test_llm_job_through_the_fake_api(home: Path, fake_anthropic: FakeAnthropic) -> None:
    env = llm_home(home, fake_anthropic)
    fake_anthropic.script([tool_call({"proposals": [proposal(), proposal("Bad", **{"splits.holdout": 0.3})]}),
                           tool_call({"proposals": [proposal()]})])
    out = run_agent_job(environ=env)
    assert out.mode == "llm" and out.ok and out.repair_rounds == 1
    assert [p.decision for p in out.proposals] == ["queued"]
    body = fake_anthropic.requests[0].body
    user = body["messages"][0]["content"]
    assert NEW_RUN in user and "exits.max_hold_minutes=60" in user
    bodies = fake_anthropic.bodies_text()
    assert str(HOLDOUT_SHARPE)[:5] not in bodies and str(int(HOLDOUT_PNL)) not in bodies
    assert "holdout" not in user.lower() and "holdout" not in body["system"].lower()
    assert KEY not in bodies and TRADIER_TOKEN not in bodies
    status = read_agent_status()
    assert status["mode"] == "llm" and status["calls"] == 2 and status["usd"] == pytest.approx(out.usd)
    spent = CostLedger(default_ledger_path(home)).status()
    assert spent["total_usd"] == pytest.approx(out.usd, abs=1e-6)


def test_unreachable_api_is_recorded_in_the_status(home: Path, fake_anthropic: FakeAnthropic) -> None:
    env = llm_home(home, fake_anthropic, max_retries=1)
    fake_anthropic.script([server_error(), server_error()])
    out = run_agent_job(environ=env)
    assert out.mode == "llm" and not out.ok and out.proposals == []
    status = read_agent_status()
    assert "unavailable" in status["last_error"] and status["counts"]["queued"] == 0


def test_daily_cap_in_agent_yaml_blocks_and_shows_in_status(home: Path, fake_anthropic: FakeAnthropic) -> None:
    env = llm_home(home, fake_anthropic, daily_cap_usd=0.5)
    CostLedger(default_ledger_path(home)).record(model="claude-sonnet-4-6", usd=0.5, outcome="ok")
    out = run_agent_job(environ=env)
    assert out.budget_blocked and fake_anthropic.requests == []
    assert read_agent_status()["budget_blocked"] is True


def test_bad_agent_yaml_is_reported_not_raised(home: Path) -> None:
    (home / "agent.yaml").write_text("proposals_per_cal: 3\n")
    out = run_agent_job()
    assert not out.ok and "agent.yaml: unknown setting 'proposals_per_cal'" in out.errors[0]
    assert "proposals_per_cal" in read_agent_status()["last_error"]
    (home / "agent.yaml").write_text("api_key: sk-ant-nope-0000000000\n")
    assert "must not hold api_key" in run_agent_job().errors[0]


def test_cli_propose_and_status(home: Path) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["propose", "--offline", "--dry-run", "--max", "2"])
    assert dry.exit_code == 0, dry.output
    assert "agent proposals" in dry.output and "valid" in dry.output and "dry run" in dry.output
    res = runner.invoke(app, ["propose", "--offline", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["mode"] == "offline" and doc["counts"]["queued"] == 3
    st = runner.invoke(app, ["status", "--json"])
    assert st.exit_code == 0 and json.loads(st.output)["last_job"]["counts"]["queued"] == 3
    text = runner.invoke(app, ["status"])
    assert "LLM spend" in text.output and "last job" in text.output


def test_cli_propose_exits_1_on_failure(home: Path, fake_anthropic: FakeAnthropic,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    llm_home(home, fake_anthropic, max_retries=0)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    fake_anthropic.script([server_error()])
    res = CliRunner().invoke(app, ["propose"])
    assert res.exit_code == 1 and "error:" in res.output and KEY not in res.output


SHAPELESS = [
    {"title": "No changes", "hypothesis": "h", "rationale": "r"},                         # a field missing
    {**proposal("Priority as words"), "priority": "high"},                               # a wrong type
    {**proposal("Changes as a list"), "changes": ["exits.stop_loss_pct=12"]},            # not a mapping
    "just a sentence, not a proposal",                                                   # not an object
]
SPEC_INVALID = proposal("Zero contracts", **{"trading.contracts": 0})


def test_shape_invalid_proposals_are_stored_invalid_once_and_listed(home: Path, fake_anthropic: FakeAnthropic) -> None:
    from experiments.cli import queue_cmd

    env = llm_home(home, fake_anthropic, proposals_per_call=5)
    answer = tool_call({"proposals": [*SHAPELESS, SPEC_INVALID]})
    fake_anthropic.script([answer, answer, answer, answer])  # two jobs, each with its repair round
    for _ in range(2):
        out = run_agent_job(environ=env)
        assert [p.decision for p in out.proposals] == ["invalid"] * 5
        assert all(p.idea_id for p in out.proposals)
    ideas = IdeaQueue.from_home().list()
    assert len(ideas) == 5 and all(i.status.value == "invalid" and i.errors for i in ideas)  # each once
    by_title = {i.title: i for i in ideas}
    assert any("changes" in e and "required" in e.lower() for e in by_title["No changes"].errors)
    assert any("priority" in e for e in by_title["Priority as words"].errors)
    assert any("changes" in e for e in by_title["Changes as a list"].errors)
    assert any("trading.contracts" in e for e in by_title["Zero contracts"].errors)
    root = typer.Typer(add_completion=False)
    root.callback()(lambda: None)
    queue_cmd.register(root)
    listed = CliRunner().invoke(root, ["queue", "list", "--json"], env={"COLUMNS": "220"})
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert sorted(r["id"] for r in rows) == sorted(i.id for i in ideas) and {r["status"] for r in rows} == {"invalid"}


def test_a_cap_under_a_cent_shows_its_digits_in_agent_status(home: Path) -> None:
    (home / "agent.yaml").write_text("daily_cap_usd: 0.003\n")
    text = CliRunner().invoke(app, ["status"], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "of $0.003 " in text.output and "$0.00 " not in text.output
