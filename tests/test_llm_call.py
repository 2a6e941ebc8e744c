"""call_with_tool against the fake Anthropic server: tool calls, bad replies, retries, outages, cap, secrets, repair."""

from __future__ import annotations

import json
import logging
import socket
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agents.cost_ledger import CostLedger
from agents.llm import (
    BudgetExceeded,
    LLMBadResponse,
    LLMConfigError,
    LLMRequestRejected,
    LLMUnavailable,
    call_with_repair,
    call_with_tool,
)
from agents.settings import LLMSettings
from agents.tool_schema import tool_input_schema
from tests.fake_anthropic import (
    FakeAnthropic,
    api_error,
    delay,
    fake_anthropic_fixture,  # noqa: F401 - registers the fake_anthropic fixture
    malformed_json,
    overloaded,
    rate_limited,
    raw_body,
    server_error,
    text_reply,
    tool_call,
)

KEY = "sk-ant-test-key-0123456789abcdef"
TRADIER_TOKEN = "trd-secret-token-5f3c9a7e"
TRADIER_ACCOUNT = "VA99887766"


class Leg(BaseModel):
    """One option leg."""

    model_config = ConfigDict(extra="forbid")
    right: Literal["C", "P"]
    delta: float = Field(description="Target delta.")


class Decision(BaseModel):
    """Test tool input."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["buy_call", "buy_put", "hold"]
    confidence: float = Field(ge=0, le=1)
    leg: Leg | None = None


GOOD = {"action": "buy_call", "confidence": 0.7, "leg": {"right": "C", "delta": 0.3}}


def settings_for(fake: FakeAnthropic, **overrides: object) -> LLMSettings:
    """Settings pointed at the fake with tiny backoffs."""
    values: dict[str, object] = {
        "base_url": fake.base_url, "api_key": SecretStr(KEY), "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
        "timeout_s": 5.0, "max_retries": 2, "daily_cap_usd": 1.0,
    }
    values.update(overrides)
    return LLMSettings(**values)


@pytest.fixture
def ledger(tmp_path: Path) -> CostLedger:
    """A fresh ledger in the test's home."""
    return CostLedger(tmp_path / "runs" / "agent_costs.jsonl")


def call(settings: LLMSettings, ledger: CostLedger, **kwargs: object):
    """call_with_tool with the test's fixed prompt and tool."""
    return call_with_tool("You are a risk manager.", "Decide.", "submit_decision", "Return the decision.",
                          Decision, settings, ledger, **kwargs)


def test_valid_tool_call_returns_input_usage_cost(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call(GOOD, input_tokens=1000, output_tokens=200)])
    result = call(settings_for(fake_anthropic), ledger, purpose="propose")
    assert result.tool_input == GOOD
    assert (result.usage.input_tokens, result.usage.output_tokens) == (1000, 200)
    assert result.usd == pytest.approx((1000 * 3.0 + 200 * 15.0) / 1e6)
    assert result.stop_reason == "tool_use" and result.attempts == 1 and result.retry_waits_s == []
    assert result.request_id and result.request_id.startswith("req_fake")
    assert result.tool_use_id.startswith("toolu_") and result.tool_name == "submit_decision"

    (req,) = fake_anthropic.requests
    body = req.body
    assert req.path == "/v1/messages" and req.headers["authorization"] == f"Bearer {KEY}"
    assert body["tool_choice"] == {"type": "tool", "name": "submit_decision"}
    assert body["tools"] == [{"name": "submit_decision", "description": "Return the decision.",
                              "input_schema": tool_input_schema(Decision)}]
    assert "$ref" not in json.dumps(body["tools"]) and "strict" not in body["tools"][0]
    assert body["system"] == "You are a risk manager."
    assert body["messages"] == [{"role": "user", "content": "Decide."}]
    assert body["model"] == "claude-sonnet-4-6" and body["max_tokens"] == 4096
    assert not {"temperature", "top_p", "top_k"} & set(body)

    (line,) = ledger.records()
    assert line.outcome == "ok" and line.usd == pytest.approx(result.usd) and line.request_id == result.request_id
    assert line.purpose == "propose" and line.input_tokens == 1000


def test_invalid_tool_input_is_returned_raw(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"action": "sell", "extra": [1, 2]})])
    assert call(settings_for(fake_anthropic), ledger).tool_input == {"action": "sell", "extra": [1, 2]}


def test_strict_tool_flag_is_sent(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call(GOOD)])
    call(settings_for(fake_anthropic, strict_tool=True), ledger)
    assert fake_anthropic.requests[0].body["tools"][0]["strict"] is True


def test_malformed_json_text_raises_bad_response(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    text = '{"action": "buy_call", "confidence": 0.7,'
    fake_anthropic.script([malformed_json(text, input_tokens=500, output_tokens=40)])
    with pytest.raises(LLMBadResponse) as info:
        call(settings_for(fake_anthropic), ledger)
    assert info.value.raw_text == text and "no tool_use block" in str(info.value)
    (line,) = ledger.records()
    assert line.outcome == "bad_response" and line.usd > 0 and line.output_tokens == 40  # billed all the same


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/octet-stream"])
def test_a_200_that_is_not_json_is_one_recorded_bad_response(fake_anthropic: FakeAnthropic, ledger: CostLedger,
                                                             content_type: str) -> None:
    fake_anthropic.script([raw_body(b"<html><body>captive portal</body></html>", content_type=content_type)])
    with pytest.raises(LLMBadResponse, match="not a Messages response") as info:
        call(settings_for(fake_anthropic), ledger)
    assert "captive portal" in info.value.raw_text
    (line,) = ledger.records()
    assert line.outcome == "bad_response" and ledger.reserved_today() == 0.0


def test_non_json_body_raises_bad_response(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([raw_body(b"<html>proxy error</html>")])
    with pytest.raises(LLMBadResponse) as info:
        call(settings_for(fake_anthropic), ledger)
    assert "proxy error" in info.value.raw_text
    assert ledger.records()[0].outcome == "bad_response"


@pytest.mark.parametrize("reply", [
    tool_call(GOOD, name="other_tool"),
    tool_call(["not", "an", "object"]),
    tool_call(GOOD, stop_reason="max_tokens"),
    text_reply("I refuse.", stop_reason="refusal"),
])
def test_unusable_replies_raise_bad_response(fake_anthropic: FakeAnthropic, ledger: CostLedger, reply) -> None:
    fake_anthropic.script([reply])
    with pytest.raises(LLMBadResponse):
        call(settings_for(fake_anthropic), ledger)
    assert [r.outcome for r in ledger.records()] == ["bad_response"]


def test_429_then_success_honours_retry_after(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([rate_limited("0.3"), tool_call(GOOD)])
    result = call(settings_for(fake_anthropic), ledger)
    assert result.tool_input == GOOD and result.attempts == 2 and result.retry_waits_s == [0.3]
    first, second = fake_anthropic.requests
    assert second.received_at - first.received_at >= 0.28
    assert [r.outcome for r in ledger.records()] == ["ok"] and ledger.records()[0].attempts == 2


def test_retry_after_ms_is_preferred(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([rate_limited("30", retry_after_ms="40"), tool_call(GOOD)])
    assert call(settings_for(fake_anthropic), ledger).retry_waits_s == [0.04]


def test_529_then_success(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([overloaded(), overloaded(), tool_call(GOOD)])
    result = call(settings_for(fake_anthropic), ledger)
    assert result.attempts == 3 and result.retry_waits_s == [0.01, 0.02]  # exponential backoff, no retry-after


def test_repeated_500s_raise_unavailable_after_bounded_retries(
    fake_anthropic: FakeAnthropic, ledger: CostLedger
) -> None:
    fake_anthropic.script([server_error() for _ in range(5)])
    with pytest.raises(LLMUnavailable) as info:
        call(settings_for(fake_anthropic, max_retries=2), ledger)
    assert len(fake_anthropic.requests) == 3 and fake_anthropic.remaining() == 2
    assert "HTTP 500" in str(info.value) and "3 attempts" in str(info.value) and KEY not in str(info.value)
    (line,) = ledger.records()
    assert (line.outcome, line.attempts, line.usd) == ("unavailable", 3, 0.0)
    assert line.request_id and line.error and "HTTP 500" in line.error


def test_long_retry_after_gives_up_at_once(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([rate_limited("3600"), tool_call(GOOD)])
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="3600 s"):
        call(settings_for(fake_anthropic, max_retry_wait_s=5), ledger)
    assert time.monotonic() - started < 2 and len(fake_anthropic.requests) == 1


def test_spend_limit_429_is_not_retried(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([api_error(429, error_code="enforced_spend_limit_reached", message="Spend limit reached")])
    with pytest.raises(LLMUnavailable, match="enforced_spend_limit_reached"):
        call(settings_for(fake_anthropic), ledger)
    assert len(fake_anthropic.requests) == 1


def test_x_should_retry_false_is_obeyed(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([overloaded(should_retry=False), tool_call(GOOD)])
    with pytest.raises(LLMUnavailable):
        call(settings_for(fake_anthropic), ledger)
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_client_errors_are_rejected_without_retry(
    fake_anthropic: FakeAnthropic, ledger: CostLedger, status: int
) -> None:
    fake_anthropic.script([api_error(status, message="nope")])
    with pytest.raises(LLMRequestRejected) as info:
        call(settings_for(fake_anthropic), ledger)
    assert info.value.status_code == status and "nope" in str(info.value)
    assert len(fake_anthropic.requests) == 1 and ledger.records()[0].outcome == "rejected"


def test_unreachable_port_raises_unavailable_quickly(tmp_path: Path, ledger: CostLedger) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}", api_key=SecretStr(KEY), backoff_initial_s=0.01,
                           max_retries=2, timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="connection failed") as info:
        call(settings, ledger)
    assert time.monotonic() - started < 3 and info.value.attempts == 3 and KEY not in str(info.value)
    assert ledger.records()[0].outcome == "unavailable"


def test_slow_server_times_out(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([delay(1.5), delay(1.5)])
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="timed out"):
        call(settings_for(fake_anthropic, timeout_s=0.2, max_retries=1), ledger)
    assert time.monotonic() - started < 1.2 and len(fake_anthropic.requests) == 2


def test_daily_cap_blocks_before_any_request(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    settings = settings_for(fake_anthropic, daily_cap_usd=0.01, max_tokens=200)
    fake_anthropic.script([tool_call(GOOD, input_tokens=3000, output_tokens=100), tool_call(GOOD)])
    call(settings, ledger)  # 0.0105 USD: allowed (its bound was under the cap), and now over the cap
    with pytest.raises(BudgetExceeded, match="Daily LLM cap"):
        call(settings, ledger)
    assert len(fake_anthropic.requests) == 1 and len(ledger.records()) == 1


@pytest.mark.parametrize("spent", [0.0, 0.95])
def test_a_call_that_could_pass_the_cap_is_not_sent(fake_anthropic: FakeAnthropic, ledger: CostLedger,
                                                     spent: float) -> None:
    if spent:
        ledger.record(model="claude-sonnet-4-6", usd=spent, outcome="ok")
    # 4096 output tokens at $15/Mtok may cost $0.061: over the $0.05 left (or the $0.06 cap)
    settings = settings_for(fake_anthropic, daily_cap_usd=1.0 if spent else 0.06)
    fake_anthropic.script([tool_call(GOOD, input_tokens=1_000_000, output_tokens=100)])
    with pytest.raises(BudgetExceeded, match="could cost up to"):
        call(settings, ledger)
    assert fake_anthropic.requests == [] and ledger.reserved_today() == 0.0
    # with max_tokens lowered the call fits, is sent, and its hold is settled by its ledger line
    call(settings.model_copy(update={"max_tokens": 500}), ledger)
    assert len(fake_anthropic.requests) == 1 and ledger.reserved_today() == 0.0
    assert ledger.records()[-1].outcome == "ok"


def test_calls_in_flight_hold_their_share_of_the_cap(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    settings = settings_for(fake_anthropic, daily_cap_usd=0.1)
    first = ledger.reserve(settings, 0.07)  # another process's call, still in flight
    fake_anthropic.script([tool_call(GOOD)])
    with pytest.raises(BudgetExceeded, match="held by calls in flight"):
        call(settings, ledger)
    assert fake_anthropic.requests == []
    ledger.settle(first, model="claude-sonnet-4-6", usd=0.001, outcome="ok")
    call(settings, ledger)
    assert len(fake_anthropic.requests) == 1 and ledger.reserved_today() == 0.0


def test_missing_api_key_sends_nothing(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    with pytest.raises(LLMConfigError, match="ANTHROPIC_API_KEY"):
        call(settings_for(fake_anthropic, api_key=None), ledger)
    assert fake_anthropic.requests == []


def test_no_secret_leaves_in_requests_errors_ledger_or_logs(
    fake_anthropic: FakeAnthropic, ledger: CostLedger, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("TRADIER_TOKEN", TRADIER_TOKEN)
    monkeypatch.setenv("TRADIER_ACCOUNT_ID", TRADIER_ACCOUNT)
    caplog.set_level(logging.DEBUG)
    leaky = f"token {TRADIER_TOKEN} account {TRADIER_ACCOUNT} key {KEY}"
    fake_anthropic.script([
        rate_limited("0.01", message=f"echo {TRADIER_TOKEN}"),
        tool_call(GOOD),
        api_error(400, message=f"bad field near {TRADIER_TOKEN}"),
    ])
    settings = settings_for(fake_anthropic)
    extra = [{"role": "assistant", "content": f"noted {TRADIER_ACCOUNT}"}, {"role": "user", "content": leaky}]
    call_with_tool(f"system {KEY}", leaky, "submit_decision", "d", Decision, settings, ledger, extra)
    with pytest.raises(LLMRequestRejected) as info:
        call_with_tool("s", leaky, "submit_decision", "d", Decision, settings, ledger)

    bodies = fake_anthropic.bodies_text()
    for secret in (KEY, TRADIER_TOKEN, TRADIER_ACCOUNT):
        assert secret not in bodies
        assert secret not in str(info.value)
        assert secret not in ledger.path.read_text()
        assert secret not in caplog.text
        for req in fake_anthropic.requests:
            leaked = {name for name, value in req.headers.items() if secret in value}
            assert leaked <= ({"authorization"} if secret == KEY else set())
    assert "[REDACTED:TRADIER_TOKEN]" in bodies and "[REDACTED:TRADIER_ACCOUNT_ID]" in bodies


def test_repair_round_sends_tool_use_and_error_tool_result(
    fake_anthropic: FakeAnthropic, ledger: CostLedger
) -> None:
    bad = {"action": "sell", "confidence": 2}
    fake_anthropic.script([tool_call(bad, text="Thinking aloud."), tool_call(GOOD)])
    decision, results = call_with_repair("sys", "Decide.", "submit_decision", "d", Decision,
                                         settings_for(fake_anthropic), ledger, purpose="propose")
    assert decision == Decision.model_validate(GOOD) and len(results) == 2

    first, second = (r.body for r in fake_anthropic.requests)
    assert first["messages"] == [{"role": "user", "content": "Decide."}]
    user, assistant, feedback = second["messages"]
    assert user == {"role": "user", "content": "Decide."}
    assert assistant == {"role": "assistant", "content": [
        {"type": "text", "text": "Thinking aloud."},
        {"type": "tool_use", "id": results[0].tool_use_id, "name": "submit_decision", "input": bad},
    ]}
    assert feedback["role"] == "user"
    result_block, hint = feedback["content"]
    assert result_block["type"] == "tool_result" and result_block["tool_use_id"] == results[0].tool_use_id
    assert result_block["is_error"] is True
    assert "action:" in result_block["content"] and "confidence:" in result_block["content"]
    assert hint == {"type": "text", "text": "Call submit_decision again with the input corrected."}
    assert second["tool_choice"] == {"type": "tool", "name": "submit_decision"}
    assert [r.purpose for r in ledger.records()] == ["propose", "propose repair 1"]


def test_repair_gives_up_after_the_rounds(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    fake_anthropic.script([tool_call({"action": "sell"}), tool_call({"action": "sell"}), tool_call({"action": "x"})])
    with pytest.raises(LLMBadResponse, match="after 2 repair round"):
        call_with_repair("sys", "u", "submit_decision", "d", Decision, settings_for(fake_anthropic), ledger,
                         repair_rounds=2)
    third = fake_anthropic.requests[2].body["messages"]
    assert [m["role"] for m in third] == ["user", "assistant", "user", "assistant", "user"]
    assert third[3]["content"][0]["id"] != third[1]["content"][0]["id"]


def test_custom_validator_errors_are_fed_back(fake_anthropic: FakeAnthropic, ledger: CostLedger) -> None:
    def no_hold(data: dict) -> Decision:
        decision = Decision.model_validate(data)
        if decision.action == "hold":
            raise ValueError("the queue refuses 'hold' proposals")
        return decision

    fake_anthropic.script([tool_call({"action": "hold", "confidence": 0.5}), tool_call(GOOD)])
    decision, _ = call_with_repair("sys", "u", "submit_decision", "d", Decision, settings_for(fake_anthropic),
                                   ledger, validate=no_hold)
    assert decision.action == "buy_call"
    block = fake_anthropic.requests[1].body["messages"][2]["content"][0]
    assert "refuses 'hold'" in block["content"]
