"""The LLM cost ledger: lines add up to the status, days roll over, the cap fails closed, writes are safe."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, SecretStr

from agents.cost_ledger import CostLedger, default_ledger_path
from agents.llm import LLMBadResponse, LLMUnavailable, call_with_tool
from agents.llm_errors import BudgetExceeded
from agents.settings import LLMSettings
from tests.fake_anthropic import (
    FakeAnthropic,
    fake_anthropic_fixture,  # noqa: F401 - registers the fake_anthropic fixture
    malformed_json,
    server_error,
    tool_call,
)
from trader.errors import StateError


class Pick(BaseModel):
    """Test tool input."""

    model_config = ConfigDict(extra="forbid")
    n: int


class Clock:
    """A settable UTC clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_default_path_is_under_runs(tmp_path: Path) -> None:
    assert default_ledger_path(tmp_path) == tmp_path / "runs" / "agent_costs.jsonl"


def test_lines_add_up_to_status_including_failures(fake_anthropic: FakeAnthropic, tmp_path: Path) -> None:
    ledger = CostLedger(default_ledger_path(tmp_path))
    settings = LLMSettings(base_url=fake_anthropic.base_url, api_key=SecretStr("k-test-000"), max_retries=1,
                           backoff_initial_s=0.01, daily_cap_usd=2.0)
    fake_anthropic.script([
        tool_call({"n": 1}, input_tokens=1000, output_tokens=100),
        malformed_json(input_tokens=700, output_tokens=50),
        server_error(), server_error(),
        tool_call({"n": 2}, input_tokens=300, output_tokens=10),
    ])
    outcomes = []
    for _ in range(4):
        try:
            call_with_tool("s", "u", "pick", "d", Pick, settings, ledger)
            outcomes.append("ok")
        except (LLMBadResponse, LLMUnavailable) as err:
            outcomes.append(type(err).__name__)
    assert outcomes == ["ok", "LLMBadResponse", "LLMUnavailable", "ok"]

    lines = ledger.records()
    assert [r.outcome for r in lines] == ["ok", "bad_response", "unavailable", "ok"]
    status = ledger.status(settings)
    assert status["spent_today_usd"] == pytest.approx(sum(r.usd for r in lines))
    assert status["spent_today_usd"] == pytest.approx(((1000 + 700 + 300) * 3 + (100 + 50 + 10) * 15) / 1e6)
    assert status["calls_today"] == 4 and status["failures_today"] == 2
    assert status["input_tokens_today"] == 2000 and status["output_tokens_today"] == 160
    assert status["daily_cap_usd"] == 2.0 and status["blocked"] is False
    assert status["remaining_usd"] == pytest.approx(2.0 - status["spent_today_usd"])
    assert ledger.path.read_text().count("\n") == 4


def test_days_roll_over_in_utc(tmp_path: Path) -> None:
    clock = Clock(datetime(2024, 3, 4, 23, 59, tzinfo=UTC))
    ledger = CostLedger(tmp_path / "c.jsonl", clock=clock)
    settings = LLMSettings(daily_cap_usd=1.0)
    ledger.record(model="m", usd=1.5, outcome="ok")
    with pytest.raises(BudgetExceeded):
        ledger.check_budget(settings)
    assert ledger.status(settings)["blocked"] is True
    clock.now += timedelta(minutes=2)
    ledger.check_budget(settings)  # a new UTC day: allowed again
    ledger.record(model="m", usd=0.25, outcome="unavailable")
    totals = ledger.daily_totals()
    assert list(totals) == ["2024-03-04", "2024-03-05"]
    assert totals["2024-03-04"].usd == 1.5 and totals["2024-03-05"].failures == 1
    status = ledger.status(settings)
    assert status["day"] == "2024-03-05" and status["spent_today_usd"] == 0.25 and status["total_usd"] == 1.75


def test_cap_blocks_at_exactly_the_cap(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "c.jsonl")
    ledger.record(model="m", usd=0.4, outcome="ok")
    ledger.check_budget(LLMSettings(daily_cap_usd=0.5))
    ledger.record(model="m", usd=0.1, outcome="ok")
    with pytest.raises(BudgetExceeded, match=r"\$0\.5000 spent today"):
        ledger.check_budget(LLMSettings(daily_cap_usd=0.5))
    with pytest.raises(BudgetExceeded):
        ledger.check_budget(LLMSettings(daily_cap_usd=0.0))


def test_status_without_settings_and_without_file(tmp_path: Path) -> None:
    status = CostLedger(tmp_path / "none.jsonl").status()
    assert status["calls_today"] == 0 and status["spent_today_usd"] == 0 and status["blocked"] is False
    assert status["daily_cap_usd"] == LLMSettings().daily_cap_usd


def test_unreadable_line_fails_closed(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "c.jsonl")
    ledger.record(model="m", usd=0.1, outcome="ok")
    with ledger.path.open("a") as fh:
        fh.write('{"ts": "torn\n')
    with pytest.raises(StateError, match="line 2"):
        ledger.check_budget(LLMSettings())


def test_concurrent_appends_keep_every_line(tmp_path: Path) -> None:
    ledger = CostLedger(tmp_path / "c.jsonl")

    def worker(k: int) -> None:
        for i in range(25):
            ledger.record(model="m", usd=0.001, outcome="ok", purpose=f"w{k}-{i}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = ledger.records()
    assert len(records) == 200 and len({r.purpose for r in records}) == 200
    assert ledger.status()["spent_today_usd"] == pytest.approx(0.2)
