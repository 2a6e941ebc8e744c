"""`gaussian paper` on the promoted run against the local Tradier, and `gaussian live`'s refusals."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments.cli.main import cli
from experiments.home import set_home
from experiments.runs.runner import run_experiment
from experiments.spec.io import load_spec
from trader.errors import GaussianError

CONFIRM = "I accept real-money risk"
LIVE_TOKEN = "live-SECRET-token-31337"
SMALL = ["entry.type=momentum", "exits.model.enabled=false", "data.sessions=6", "splits.embargo_bars=45",
         "cycles=300"]


@pytest.fixture()
def live_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADIER_TOKEN", LIVE_TOKEN)
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", "LA000001")
    monkeypatch.setenv("TRADIER_ENV", "live")


def _refused(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    errors = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and result.output.strip().endswith(errors[0])
    line = errors[0]
    assert all(w in line for w in words), line
    assert LIVE_TOKEN not in result.output


def test_live_refuses_without_the_live_flag(live_env: None, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "live", "--confirm", CONFIRM])
    _refused(r, "--live")


def test_live_refuses_without_a_live_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRADIER_TOKEN", raising=False)
    monkeypatch.setenv("TRADIER_ENV", "live")
    _refused(CliRunner().invoke(cli, ["--home", str(tmp_path), "live", "--live", "--confirm", CONFIRM]),
             "TRADIER_TOKEN")
    monkeypatch.setenv("TRADIER_TOKEN", "sandbox-token-1234")
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", "VA000001")
    monkeypatch.setenv("TRADIER_ENV", "sandbox")  # a sandbox token is not a live one
    _refused(CliRunner().invoke(cli, ["--home", str(tmp_path), "live", "--live", "--confirm", CONFIRM]),
             "TRADIER_ENV=live")


def test_live_refuses_without_the_typed_confirmation(live_env: None, tmp_path: Path) -> None:
    base = ["--home", str(tmp_path), "live", "--live"]
    _refused(CliRunner().invoke(cli, base), "--confirm")  # no terminal to type it into
    _refused(CliRunner().invoke(cli, [*base, "--confirm", "yes"]), "did not match")
    _refused(CliRunner().invoke(cli, [*base, "--confirm", CONFIRM.lower()]), "did not match")


def test_live_prompts_for_the_confirmation(live_env: None, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "live", "--live"], input="sure\n")
    _refused(r, "did not match")
    # typed right, every gate is passed: the next thing it needs is a promoted run (none here), not the network
    r = CliRunner().invoke(cli, ["--home", str(tmp_path), "live", "--live"], input=CONFIRM + "\n")
    assert isinstance(r.exception, GaussianError) and "promoted" in str(r.exception)


@pytest.fixture()
def promoted(tmp_path: Path):
    set_home(tmp_path)
    try:
        res = run_experiment(load_spec(None, SMALL), analyze=False)
    finally:
        set_home(None)
    (tmp_path / "runs" / "promoted.json").write_text(json.dumps({"run_id": res.run_id}))
    return tmp_path, res.run_id


def test_paper_replays_the_promoted_run_and_resumes_only_when_asked(promoted) -> None:
    home, run_id = promoted
    base = ["--home", str(home), "paper"]
    r = CliRunner().invoke(cli, [*base, "--bars", "25", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    sdir = Path(doc["session_dir"])
    assert doc["split"] == "paper" and doc["promoted_run"] == run_id and doc["window"]["bars"] == 25
    assert sdir.parent == home / "paper" and (sdir / "journal.jsonl").is_file()
    _refused(CliRunner().invoke(cli, [*base, "--bars", "5"]), "--resume")
    r = CliRunner().invoke(cli, [*base, "--bars", "5", "--resume", "--json"])
    assert r.exit_code == 0, r.output
    again = json.loads(r.output)
    assert again["window"]["bars"] == 30 and again["window"]["start"] == doc["window"]["start"]
    state = json.loads((sdir / "state.json").read_text())
    assert state["time"] == again["window"]["end"]
    events = [json.loads(x)["event"] for x in (sdir / "journal.jsonl").read_text().splitlines()]
    assert events.count("resume") == 1 and events.count("session") == 3  # start, end of day, end of day


def test_paper_venue_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _refused(CliRunner().invoke(cli, ["--home", str(tmp_path), "paper", "--venue", "moon"]), "--venue")
    _refused(CliRunner().invoke(cli, ["--home", str(tmp_path), "paper", "--venue", "sandbox", "--day",
                                      "2024-01-03"]), "--day")
