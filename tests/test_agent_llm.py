"""The LLM meta-agent against the local fake Anthropic server, writing into a real idea queue."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from agents.cost_ledger import CostLedger
from agents.meta_agent import propose_with_llm
from agents.outcome import ProposeOutcome
from agents.proposal import ProposalBatch
from agents.sink import Source
from experiments.ideas.queue import IdeaQueue
from experiments.spec.model import ExperimentSpec
from tests.agent_fixtures import (
    KEY,
    TRADIER_ACCOUNT,
    TRADIER_TOKEN,
    llm_settings,
    make_queue,
    proposal,
    sample_context,
    sample_digest,
    spec_tools,
)
from tests.fake_anthropic import (
    FakeAnthropic,
    delay,
    fake_anthropic_fixture,  # noqa: F401 - registers the fake_anthropic fixture
    malformed_json,
    overloaded,
    rate_limited,
    server_error,
    tool_call,
)


@pytest.fixture(autouse=True)
def _secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs with real-looking secrets in the environment; none may reach a request body."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("TRADIER_TOKEN", TRADIER_TOKEN)
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", TRADIER_ACCOUNT)


@pytest.fixture
def queue(tmp_path: Path) -> IdeaQueue:
    """A real queue in the test's folder."""
    return make_queue(tmp_path)


@pytest.fixture
def ledger(tmp_path: Path) -> CostLedger:
    """A fresh cost ledger."""
    return CostLedger(tmp_path / "runs" / "agent_costs.jsonl")


def run(fake: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger, dry_run: bool = False, max_proposals: int = 3,
        ctx_kwargs: dict | None = None, **settings: object) -> ProposeOutcome:
    """propose_with_llm with the fake server, the real queue and the default spec."""
    return propose_with_llm(sample_context(**(ctx_kwargs or {})), queue, spec_tools().validate_changes,
                            llm_settings(fake.base_url, **settings), ledger, ExperimentSpec,
                            max_proposals=max_proposals, dry_run=dry_run)


def repair_feedback(fake: FakeAnthropic) -> str:
    """The is_error tool_result text of the second (repair) request."""
    assert len(fake.requests) == 2
    last = fake.requests[1].body["messages"][-1]
    result = last["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    assert result["tool_use_id"] == fake.requests[1].body["messages"][1]["content"][0]["id"]
    return result["content"]


def test_valid_tool_call_queues_proposals_as_proposed(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                      ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"proposals": [
        proposal(),
        proposal("Random entry baseline", **{"entry.type": "random", "entry.random.entry_probability": 0.05}),
    ]})])
    out = run(fake_anthropic, queue, ledger)
    assert out.ok and [p.decision for p in out.proposals] == ["queued", "queued"]
    assert [p.queue_status for p in out.proposals] == ["proposed", "proposed"]
    ideas = queue.list()
    assert [i.status.value for i in ideas] == ["proposed", "proposed"]
    assert ideas[0].changes == {"exits.stop_loss_pct": 12.0}
    assert ideas[0].source == Source(kind="agent", name="meta-agent", model="claude-sonnet-4-6")
    body = fake_anthropic.requests[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "submit_proposals"}
    schema = body["tools"][0]["input_schema"]
    assert schema["properties"]["proposals"]["maxItems"] == 3
    assert schema["additionalProperties"] is False
    assert "exits.stop_loss_pct" in body["system"] and "20240201-120000-abc123-0001" in body["messages"][0]["content"]
    assert out.calls == 1 and out.input_tokens == 120 and out.output_tokens == 30
    assert out.usd == pytest.approx((120 * 3.0 + 30 * 15.0) / 1e6)


def test_tool_schema_comes_from_the_pydantic_model() -> None:
    from agents.proposal import batch_model
    from agents.tool_schema import tool_input_schema

    schema = tool_input_schema(batch_model(4))
    item = schema["properties"]["proposals"]["items"]
    assert set(item["properties"]) == set(ProposalBatch.model_fields["proposals"].annotation.__args__[0].model_fields)
    assert item["additionalProperties"] is False and schema["properties"]["proposals"]["maxItems"] == 4


def test_malformed_json_is_a_recorded_failure(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                              ledger: CostLedger) -> None:
    fake_anthropic.script([malformed_json('{"proposals": [{"title": "x",')])
    out = run(fake_anthropic, queue, ledger)
    assert not out.ok and "no tool_use block" in out.errors[0]
    assert out.proposals == [] and queue.list() == []
    assert [r.outcome for r in ledger.records()] == ["bad_response"]
    assert out.calls == 1 and out.usd > 0  # the reply was billed all the same


def test_out_of_range_values_get_one_repair_round_then_stored_invalid(fake_anthropic: FakeAnthropic,
                                                                      queue: IdeaQueue, ledger: CostLedger) -> None:
    bad = proposal(**{"exits.stop_loss_pct": 500.0})
    fake_anthropic.script([tool_call({"proposals": [bad]}), tool_call({"proposals": [bad]})])
    out = run(fake_anthropic, queue, ledger)
    feedback = repair_feedback(fake_anthropic)
    assert "exits.stop_loss_pct" in feedback and "less than or equal to 100" in feedback
    assert out.repair_rounds == 1 and out.calls == 2
    [p] = out.proposals
    assert p.decision == "invalid" and p.repaired and p.idea_id is not None
    [idea] = queue.list()
    assert idea.status.value == "invalid" and idea.id == p.idea_id
    assert "stop_loss_pct" in idea.errors[0]
    assert [r.purpose for r in ledger.records()] == ["propose", "propose repair 1"]


def test_a_repaired_answer_is_queued(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 500.0})]}),
                           tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 20.0})]})])
    out = run(fake_anthropic, queue, ledger)
    [p] = out.proposals
    assert p.decision == "queued" and p.repaired and p.changes == {"exits.stop_loss_pct": 20.0}
    assert [i.status.value for i in queue.list()] == ["proposed"]


def test_unknown_spec_field_is_repaired_then_stored_invalid(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                            ledger: CostLedger) -> None:
    bad = proposal(**{"model.magic_boost": 3})
    fake_anthropic.script([tool_call({"proposals": [bad]}), tool_call({"proposals": [bad]})])
    out = run(fake_anthropic, queue, ledger)
    assert "model.magic_boost' is not a known field" in repair_feedback(fake_anthropic)
    [p] = out.proposals
    assert p.decision == "invalid" and p.idea_id is not None
    assert queue.get(p.idea_id).status.value == "invalid"


def test_unknown_proposal_keys_are_never_stored(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                ledger: CostLedger) -> None:
    bad = {**proposal(), "code": "import os; os.system('rm -rf /')"}
    fake_anthropic.script([tool_call({"proposals": [bad], "comment": "hi"}),
                           tool_call({"proposals": [bad]})])
    out = run(fake_anthropic, queue, ledger)
    feedback = repair_feedback(fake_anthropic)
    assert "proposals.0.code: unknown field" in feedback and "comment: unknown field" in feedback
    [p] = out.proposals
    assert p.decision == "invalid" and "proposals.0.code: unknown field" in p.reasons[0]
    [idea] = queue.list()  # kept as invalid for audit, with the reason; the unknown key's value is not
    assert idea.id == p.idea_id and idea.status.value == "invalid" and idea.errors == ["code: unknown field (not allowed)"]
    assert "rm -rf" not in queue.store.path.read_text()


def test_protected_field_is_refused_and_never_queued(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                     ledger: CostLedger) -> None:
    bad = proposal("Bigger validation", **{"splits.holdout": 0.1, "splits.validation": 0.3})
    fake_anthropic.script([tool_call({"proposals": [bad, proposal()]}), tool_call({"proposals": [bad, proposal()]})])
    out = run(fake_anthropic, queue, ledger)
    assert "splits.validation: protected field" in repair_feedback(fake_anthropic)
    assert [p.decision for p in out.proposals] == ["refused", "queued"]
    assert any("protected field" in r for r in out.proposals[0].reasons)
    assert [i.changes for i in queue.list()] == [{"exits.stop_loss_pct": 12.0}]


@pytest.mark.parametrize("changes", [{"cycles": 20000}, {"seed": 7}, {"costs.commission_per_contract": 0.0},
                                     {"data.edge": 2.0}, {"trading.initial_balance": 1e6}])
def test_budget_data_cost_and_seed_fields_are_protected(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                        ledger: CostLedger, changes: dict) -> None:
    bad = proposal(**changes)
    fake_anthropic.script([tool_call({"proposals": [bad]}), tool_call({"proposals": [bad]})])
    out = run(fake_anthropic, queue, ledger)
    assert [p.decision for p in out.proposals] == ["refused"] and queue.list() == []


def test_unsupported_entry_type_is_refused(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                           ledger: CostLedger) -> None:
    bad = proposal(**{"entry.type": "rl"})
    fake_anthropic.script([tool_call({"proposals": [bad]}), tool_call({"proposals": [bad]})])
    out = run(fake_anthropic, queue, ledger)
    assert "not available in this build" in repair_feedback(fake_anthropic)
    assert out.proposals[0].decision == "refused" and queue.list() == []


def test_duplicate_of_a_done_idea_is_refused_naming_it(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                       ledger: CostLedger) -> None:
    done = queue.propose("earlier stop test", "h", "r", {"exits.stop_loss_pct": 12.0}, Source(kind="human", name="a"))
    queue.approve(done.id, "human:a")
    assert queue.lease_next("w1") is not None
    queue.complete(done.id, "w1", "run-1", {"sharpe": 0.4})
    fake_anthropic.script([tool_call({"proposals": [proposal()]})])
    out = run(fake_anthropic, queue, ledger)
    [p] = out.proposals
    assert p.decision == "refused" and done.id in p.reasons[0] and "done" in p.reasons[0]
    assert len(fake_anthropic.requests) == 1  # a duplicate is not a validation error: no repair round
    assert len(queue.list()) == 1


def test_rate_limited_then_success(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    fake_anthropic.script([rate_limited("0.05"), tool_call({"proposals": [proposal()]})])
    out = run(fake_anthropic, queue, ledger)
    assert out.ok and out.proposals[0].decision == "queued"
    assert len(fake_anthropic.requests) == 2
    assert fake_anthropic.requests[1].received_at - fake_anthropic.requests[0].received_at >= 0.04  # retry-after
    [rec] = ledger.records()
    assert rec.outcome == "ok" and rec.attempts == 2


def test_overloaded_then_success(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    fake_anthropic.script([overloaded(), tool_call({"proposals": [proposal()]})])
    out = run(fake_anthropic, queue, ledger)
    assert out.ok and [i.status.value for i in queue.list()] == ["proposed"]


def test_overloaded_throughout_is_recorded(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                           ledger: CostLedger) -> None:
    fake_anthropic.script([overloaded()] * 3)
    out = run(fake_anthropic, queue, ledger)
    assert not out.ok and "529" in out.errors[0] and queue.list() == []
    assert [r.outcome for r in ledger.records()] == ["unavailable"]


def test_repeated_500s_are_recorded_and_the_call_returns(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                         ledger: CostLedger) -> None:
    fake_anthropic.script([server_error()] * 3)
    out = run(fake_anthropic, queue, ledger)
    assert len(fake_anthropic.requests) == 3  # max_retries=2
    assert not out.ok and "unavailable" in out.errors[0] and "500" in out.errors[0]
    assert out.proposals == [] and queue.list() == []
    [rec] = ledger.records()
    assert rec.outcome == "unavailable" and rec.attempts == 3 and rec.usd == 0


def test_unreachable_api_is_recorded(queue: IdeaQueue, ledger: CostLedger) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = propose_with_llm(sample_context(), queue, spec_tools().validate_changes,
                           llm_settings(f"http://127.0.0.1:{port}", max_retries=1), ledger, ExperimentSpec)
    assert not out.ok and "connection failed" in out.errors[0]
    assert queue.list() == [] and ledger.records()[0].outcome == "unavailable"


def test_a_hanging_api_times_out_and_is_recorded(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                 ledger: CostLedger) -> None:
    fake_anthropic.script([delay(2.0, tool_call({"proposals": [proposal()]}))])
    out = run(fake_anthropic, queue, ledger, timeout_s=0.3, max_retries=0)
    assert not out.ok and "timed out after 0.3 s" in out.errors[0] and queue.list() == []
    assert ledger.records()[0].outcome == "unavailable"


def test_daily_cap_blocks_before_any_request(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                             ledger: CostLedger) -> None:
    ledger.record(model="claude-sonnet-4-6", purpose="propose", usd=1.0, outcome="ok")
    fake_anthropic.script([tool_call({"proposals": [proposal()]})])
    out = run(fake_anthropic, queue, ledger)
    assert out.budget_blocked and "Daily LLM cap reached" in out.errors[0]
    assert fake_anthropic.requests == [] and queue.list() == [] and out.calls == 0


def test_cap_reached_before_the_repair_round(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                             ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 500.0}), proposal()]},
                                     input_tokens=15000, output_tokens=1000)])
    out = run(fake_anthropic, queue, ledger, daily_cap_usd=0.06, max_tokens=1000)
    assert out.budget_blocked and len(fake_anthropic.requests) == 1
    assert [p.decision for p in out.proposals] == ["invalid", "queued"]  # the first answer, used as it is
    assert {i.status.value for i in queue.list()} == {"invalid", "proposed"}


def test_ledger_adds_up(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    fake_anthropic.script([
        tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 500.0})]}, input_tokens=900, output_tokens=200),
        tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 14.0})]}, input_tokens=1200, output_tokens=180),
        malformed_json(input_tokens=300, output_tokens=50),
        server_error(), server_error(), server_error(),
        tool_call({"proposals": [proposal(**{"exits.take_profit_pct": 30.0})]}, input_tokens=700, output_tokens=90),
    ])
    outcomes = [run(fake_anthropic, queue, ledger) for _ in range(4)]
    records = ledger.records()
    assert [r.outcome for r in records] == ["ok", "ok", "bad_response", "unavailable", "ok"]
    status = ledger.status(llm_settings(fake_anthropic.base_url))
    assert sum(r.usd for r in records) == pytest.approx(status["total_usd"], abs=1e-6)
    assert status["spent_today_usd"] == pytest.approx(status["total_usd"], abs=1e-6)
    assert sum(o.usd for o in outcomes) == pytest.approx(status["total_usd"], abs=1e-6)
    assert status["calls_today"] == 5 and status["failures_today"] == 2
    tokens_in = 900 + 1200 + 300 + 700
    assert status["input_tokens_today"] == tokens_in == sum(o.input_tokens for o in outcomes)
    expected = (tokens_in * 3.0 + (200 + 180 + 50 + 90) * 15.0) / 1e6
    assert status["total_usd"] == pytest.approx(expected, abs=1e-6)


def test_dry_run_queues_nothing(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"proposals": [proposal()]})])
    out = run(fake_anthropic, queue, ledger, dry_run=True)
    assert [p.decision for p in out.proposals] == ["valid"] and queue.list() == []
    assert out.calls == 1  # the call is real and billed


def test_proposals_over_the_limit_are_refused(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                              ledger: CostLedger) -> None:
    many = [proposal(f"stop {v}", **{"exits.stop_loss_pct": float(v)}) for v in (10, 11, 12, 13)]
    fake_anthropic.script([tool_call({"proposals": many})])
    out = run(fake_anthropic, queue, ledger, max_proposals=2)
    assert [p.decision for p in out.proposals] == ["queued", "queued", "refused", "refused"]
    assert "over the limit of 2" in out.proposals[2].reasons[0]
    assert len(queue.list()) == 2


def test_no_secret_in_any_request(fake_anthropic: FakeAnthropic, queue: IdeaQueue, ledger: CostLedger) -> None:
    leaky = sample_digest(findings=[f"token {TRADIER_TOKEN} account {TRADIER_ACCOUNT} key {KEY} leaked into a log"])
    fake_anthropic.script([tool_call({"proposals": [proposal(**{"exits.stop_loss_pct": 500.0})]}),
                           tool_call({"proposals": [proposal()]})])
    out = propose_with_llm(sample_context(reports=[leaky]), queue, spec_tools().validate_changes,
                           llm_settings(fake_anthropic.base_url), ledger, ExperimentSpec)
    assert out.ok and len(fake_anthropic.requests) == 2
    bodies = fake_anthropic.bodies_text()
    for secret in (KEY, TRADIER_TOKEN, TRADIER_ACCOUNT):
        assert secret not in bodies
        for req in fake_anthropic.requests:
            for name, value in req.headers.items():
                if name not in ("authorization", "x-api-key"):
                    assert secret not in value, name
    assert "[REDACTED:TRADIER_TOKEN]" in bodies
    assert fake_anthropic.requests[0].api_key == KEY  # the key travels only as the auth header
    assert KEY not in json.dumps(out.model_dump(mode="json"))


def test_auto_approve_policy_applies_to_agent_proposals(fake_anthropic: FakeAnthropic, tmp_path: Path,
                                                        ledger: CostLedger) -> None:
    from experiments.ideas.autoapprove import AutoApprovePolicy

    queue = IdeaQueue(tmp_path / "q" / "ideas.json", base=ExperimentSpec(),
                      policy=AutoApprovePolicy(enabled=True, allowed_fields=["exits."]))
    fake_anthropic.script([tool_call({"proposals": [proposal(), proposal("Predictor", **{"entry.type": "predictor"})]})])
    out = run(fake_anthropic, queue, ledger)
    assert [(p.decision, p.queue_status) for p in out.proposals] == [("queued", "approved"), ("queued", "proposed")]


def test_repair_message_asks_for_the_whole_batch(fake_anthropic: FakeAnthropic, queue: IdeaQueue,
                                                 ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"proposals": [proposal(), proposal("Negative stop", **{"exits.stop_loss_pct": -1})]}),
                           tool_call({"proposals": [proposal()]})])
    run(fake_anthropic, queue, ledger)
    feedback = repair_feedback(fake_anthropic)
    assert feedback.splitlines()[1].startswith("Send the whole batch again")
    assert "proposals.1.changes" in feedback and "proposals.0" not in feedback
