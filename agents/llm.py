"""One forced-tool call to the Anthropic Messages API: retries, timeouts, cost ledger, redaction, repair rounds.

The caller gets the tool input as a raw dict and validates it itself; `repair_turns` builds the follow-up turns
(the assistant's tool_use plus a `tool_result` with `is_error: true`) for a repair round, and `call_with_repair`
runs the whole call-validate-repair loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import anthropic
from anthropic.types import Message
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agents.cost_ledger import CostLedger, max_call_usd
from agents.llm_errors import (
    BudgetExceeded,
    LLMBadResponse,
    LLMConfigError,
    LLMError,
    LLMRequestRejected,
    LLMUnavailable,
)
from agents.llm_retry import decide, retryable_status
from agents.secret_env import redact
from agents.settings import LLMSettings, Usage
from agents.tool_schema import tool_definition

__all__ = [
    "BudgetExceeded",
    "LLMBadResponse",
    "LLMConfigError",
    "LLMError",
    "LLMRequestRejected",
    "LLMUnavailable",
    "ToolCallResult",
    "call_with_repair",
    "call_with_tool",
    "format_validation_errors",
    "repair_turns",
]

log = logging.getLogger("gaussian.agents.llm")

UNUSABLE_STOP_REASONS = frozenset({"max_tokens", "refusal", "model_context_window_exceeded", "pause_turn"})
"""Stop reasons after which a tool input cannot be trusted (truncated, refused or unfinished)."""

T = TypeVar("T")


class ToolCallResult(BaseModel):
    """What one forced-tool call returned; `tool_input` is the model's raw, not yet validated input dict."""

    model_config = ConfigDict(frozen=True)

    tool_input: dict[str, Any]
    tool_name: str
    tool_use_id: str
    text: str = Field("", description="Text blocks of the reply, joined (usually empty with a forced tool).")
    usage: Usage
    usd: float
    model: str = Field(description="Model id the response names.")
    message_id: str
    request_id: str | None
    stop_reason: str | None
    attempts: int
    retry_waits_s: list[float]
    messages: list[dict[str, Any]] = Field(description="The conversation sent (after redaction).")
    assistant_turn: dict[str, Any] = Field(description="The reply as an assistant message, for a repair round.")


def _redact_tree(node: Any, secrets: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return redact(node, secrets)
    if isinstance(node, list):
        return [_redact_tree(item, secrets) for item in node]
    if isinstance(node, dict):
        return {key: _redact_tree(value, secrets) for key, value in node.items()}
    return node


def _block_param(block: Any) -> dict[str, Any]:
    if block.type == "text":
        return {"type": "text", "text": block.text}
    if block.type == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    return block.model_dump(mode="json", exclude_none=True)


def _usage(message: Any) -> Usage:
    raw = message.usage
    return Usage(
        input_tokens=int(getattr(raw, "input_tokens", 0) or 0),
        output_tokens=int(getattr(raw, "output_tokens", 0) or 0),
        cache_creation_input_tokens=int(getattr(raw, "cache_creation_input_tokens", 0) or 0),
        cache_read_input_tokens=int(getattr(raw, "cache_read_input_tokens", 0) or 0),
    )


def _client(settings: LLMSettings) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=settings.require_api_key(),
        base_url=settings.base_url,
        timeout=anthropic.Timeout(settings.timeout_s, connect=min(settings.connect_timeout_s, settings.timeout_s)),
        max_retries=0,  # llm_retry.decide runs the bounded retry loop instead (see its module docstring)
    )


def _send(
    client: anthropic.Anthropic, request: dict[str, Any], settings: LLMSettings, secrets: Mapping[str, str]
) -> tuple[Any, int, list[float]]:
    """Send `request` with bounded retries; return (message, attempts, waits) or raise an LLMError."""
    waits: list[float] = []
    attempt = 0
    while True:
        attempt += 1
        try:
            return client.messages.create(**request), attempt, waits
        except json.JSONDecodeError as err:  # a 2xx whose body is not JSON at all
            raise LLMBadResponse(
                "The API returned a body that is not JSON; raw text attached.",
                raw_text=redact(err.doc, secrets),
                attempts=attempt,
            ) from err
        except anthropic.APIResponseValidationError as err:
            raw = err.response.text if err.response is not None else ""
            raise LLMBadResponse(
                f"The API returned a body that is not a Messages response (HTTP {err.status_code}).",
                raw_text=redact(raw, secrets),
                request_id=err.request_id,
                attempts=attempt,
            ) from err
        except anthropic.APIError as err:
            decision = decide(err, attempt - 1, settings)
            request_id = getattr(err, "request_id", None)
            detail = redact(getattr(err, "api_message", None) or "", secrets)
            where = settings.base_url or "the Anthropic API"
            if not decision.retry:
                if isinstance(err, anthropic.APIStatusError) and not retryable_status(err.status_code):
                    raise LLMRequestRejected(
                        f"The Anthropic API refused the request: {decision.reason}"
                        + (f": {detail}" if detail else "")
                        + (f" (request id {request_id})." if request_id else "."),
                        status_code=err.status_code,
                        request_id=request_id,
                        attempts=attempt,
                    ) from err
                raise LLMUnavailable(
                    f"The LLM is unavailable at {redact(where, secrets)}: {decision.reason}"
                    + (f": {detail}" if detail else "")
                    + (f" (request id {request_id})." if request_id else "."),
                    attempts=attempt,
                    request_id=request_id,
                ) from err
            log.warning(
                redact(f"LLM attempt {attempt} failed ({decision.reason}); retrying in {decision.wait_s:.2f} s", secrets)
            )
            waits.append(decision.wait_s)
            time.sleep(decision.wait_s)


def _extract(message: Any, tool_name: str, secrets: Mapping[str, str]) -> tuple[dict[str, Any], str, str, str]:
    """Return (input, tool_use_id, text, name) of the forced tool call, or raise LLMBadResponse."""
    blocks = list(message.content or [])
    text = redact("".join(getattr(b, "text", "") for b in blocks if b.type == "text"), secrets)
    request_id = getattr(message, "_request_id", None)
    stop = message.stop_reason
    uses = [b for b in blocks if b.type == "tool_use"]
    if stop in UNUSABLE_STOP_REASONS:
        hint = " (raise max_tokens)" if stop == "max_tokens" else ""
        raise LLMBadResponse(
            f"The model stopped with stop_reason {stop!r}{hint}; its tool input cannot be trusted.",
            raw_text=text,
            request_id=request_id,
            stop_reason=stop,
        )
    if not uses:
        raise LLMBadResponse(
            f"The reply holds no tool_use block for {tool_name!r} (stop_reason {stop!r}); raw text attached.",
            raw_text=text,
            request_id=request_id,
            stop_reason=stop,
        )
    use = uses[0]
    if use.name != tool_name or not isinstance(use.input, dict):
        raise LLMBadResponse(
            f"The reply called tool {use.name!r} with a {type(use.input).__name__} input; "
            f"expected {tool_name!r} with a JSON object.",
            raw_text=text or redact(json.dumps(use.input, default=str), secrets),
            request_id=request_id,
            stop_reason=stop,
        )
    return use.input, use.id, text, use.name


def call_with_tool(
    system: str,
    user: str,
    tool_name: str,
    tool_description: str,
    input_model: type[BaseModel],
    settings: LLMSettings,
    ledger: CostLedger,
    messages_extra: Sequence[Mapping[str, Any]] | None = None,
    *,
    purpose: str = "",
) -> ToolCallResult:
    """Ask the model to call `tool_name` (forced) with input shaped by `input_model`; record cost; return the raw input.

    `messages_extra` are turns appended after the user message (e.g. `repair_turns(...)`). Raises BudgetExceeded
    before any request once today's spend reaches the cap, LLMUnavailable when the API cannot be reached or keeps
    failing, LLMRequestRejected on a non-retryable 4xx, LLMBadResponse when the reply holds no usable tool call.
    """
    ledger.check_budget(settings)
    secrets = settings.secret_values()
    messages: list[dict[str, Any]] = [{"role": "user", "content": redact(user, secrets)}]
    messages += [_redact_tree(dict(turn), secrets) for turn in (messages_extra or [])]
    request: dict[str, Any] = {
        "model": settings.model,
        "max_tokens": settings.max_tokens,
        "system": redact(system, secrets),
        "messages": messages,
        "tools": [tool_definition(tool_name, tool_description, input_model, strict=settings.strict_tool)],
        "tool_choice": {"type": "tool", "name": tool_name},
    }
    most = max_call_usd(settings, len(json.dumps(request, default=str).encode("utf-8")))
    reservation = ledger.reserve(settings, most)  # BudgetExceeded here: nothing is sent
    started = time.monotonic()
    base = {"model": settings.model, "purpose": purpose}
    settled = False

    def settle(**fields: Any) -> None:
        nonlocal settled
        ledger.settle(reservation, **base, duration_s=time.monotonic() - started, **fields)
        settled = True

    try:
        with _client(settings) as client:
            try:
                message, attempts, waits = _send(client, request, settings, secrets)
            except LLMBadResponse as err:
                settle(outcome="bad_response", attempts=err.attempts, request_id=err.request_id, error=str(err))
                raise
            except (LLMUnavailable, LLMRequestRejected) as err:
                outcome = "rejected" if isinstance(err, LLMRequestRejected) else "unavailable"
                settle(outcome=outcome, attempts=err.attempts, request_id=err.request_id, error=str(err))
                log.warning(str(err))
                raise
        if not isinstance(message, Message):  # e.g. a 200 whose body is HTML: the SDK hands back text
            raw = message if isinstance(message, str) else repr(message)
            err = LLMBadResponse(
                f"The API answered with a {type(message).__name__}, not a Messages response "
                "(a body that is not JSON?); raw text attached.",
                raw_text=redact(raw[:2000], secrets), attempts=attempts,
            )
            settle(outcome="bad_response", attempts=attempts, error=str(err))
            log.warning(str(err))
            raise err
        usage = _usage(message)
        usd = settings.cost_usd(usage, settings.model)
        if usd > most:
            log.warning("the API reported usage worth $%.4f for a call reserved at most $%.4f", usd, most)
        request_id = getattr(message, "_request_id", None)
        counts = usage.model_dump()
        try:
            tool_input, tool_use_id, text, name = _extract(message, tool_name, secrets)
        except LLMBadResponse as err:
            settle(**counts, usd=usd, request_id=request_id, outcome="bad_response", attempts=attempts,
                   error=str(err))
            log.warning(str(err))
            raise
        result = ToolCallResult(
            tool_input=tool_input,
            tool_name=name,
            tool_use_id=tool_use_id,
            text=text,
            usage=usage,
            usd=usd,
            model=message.model,
            message_id=message.id,
            request_id=request_id,
            stop_reason=message.stop_reason,
            attempts=attempts,
            retry_waits_s=waits,
            messages=messages,
            assistant_turn={"role": "assistant", "content": [_block_param(b) for b in message.content]},
        )
        settle(**counts, usd=usd, request_id=request_id, outcome="ok", attempts=attempts)
    except LLMError:
        raise
    except Exception as exc:  # an answer of a shape nobody foresaw: one recorded outcome, one clear error
        err = LLMBadResponse(f"The API answer could not be read ({type(exc).__name__}: {redact(str(exc), secrets)});"
                             " nothing of it was used.", raw_text="")
        if not settled:
            settle(outcome="bad_response", attempts=1, error=str(err)[:500])
        log.warning(str(err))
        raise err from exc
    finally:
        if not settled:  # interrupted (KeyboardInterrupt, SystemExit): the hold is released all the same
            ledger.settle(reservation, **base, duration_s=time.monotonic() - started, outcome="unavailable",
                          attempts=1, error="the call was interrupted")
    log.info(
        "LLM call ok: model=%s in=%d out=%d usd=%.6f request_id=%s attempts=%d",
        settings.model, usage.input_tokens, usage.output_tokens, usd, request_id, attempts,
    )
    return result


def format_validation_errors(errors: ValidationError | str | Sequence[str], limit: int = 20) -> str:
    """One line per problem (`field.path: message`), at most `limit` lines, for a tool_result the model can act on."""
    if isinstance(errors, str):
        return errors
    if isinstance(errors, ValidationError):
        lines = []
        for item in errors.errors(include_url=False):
            loc = ".".join(str(part) for part in item["loc"]) or "(input)"
            lines.append(f"{loc}: {item['msg']}")
    else:
        lines = [str(item) for item in errors]
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return "\n".join(lines)


def repair_turns(previous: ToolCallResult, errors: ValidationError | str | Sequence[str]) -> list[dict[str, Any]]:
    """Turns for a repair round: everything after the first user message, the reply, and an is_error tool_result."""
    feedback = format_validation_errors(errors)
    result_turn = {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": previous.tool_use_id,
                "content": f"The input was rejected:\n{feedback}",
                "is_error": True,
            },
            {"type": "text", "text": f"Call {previous.tool_name} again with the input corrected."},
        ],
    }
    return [*previous.messages[1:], previous.assistant_turn, result_turn]


def call_with_repair(
    system: str,
    user: str,
    tool_name: str,
    tool_description: str,
    input_model: type[BaseModel],
    settings: LLMSettings,
    ledger: CostLedger,
    validate: Callable[[dict[str, Any]], T] | None = None,
    repair_rounds: int = 1,
    *,
    purpose: str = "",
) -> tuple[T, list[ToolCallResult]]:
    """Call, validate (default `input_model.model_validate`), and on a ValueError send up to `repair_rounds` repairs."""
    check: Callable[[dict[str, Any]], Any] = validate or input_model.model_validate
    results: list[ToolCallResult] = []
    extra: list[dict[str, Any]] = []
    for round_no in range(repair_rounds + 1):
        result = call_with_tool(system, user, tool_name, tool_description, input_model, settings, ledger,
                                extra, purpose=purpose if round_no == 0 else f"{purpose} repair {round_no}".strip())
        results.append(result)
        try:
            return check(result.tool_input), results
        except ValueError as err:  # pydantic.ValidationError is a ValueError
            last_error = err
            extra = repair_turns(result, err if isinstance(err, ValidationError) else str(err))
    raise LLMBadResponse(
        f"The tool input for {tool_name!r} was still invalid after {repair_rounds} repair round(s): "
        f"{format_validation_errors(last_error if isinstance(last_error, ValidationError) else str(last_error), 5)}",
        raw_text=redact(json.dumps(results[-1].tool_input, default=str), settings.secret_values()),
        request_id=results[-1].request_id,
        stop_reason=results[-1].stop_reason,
    )
