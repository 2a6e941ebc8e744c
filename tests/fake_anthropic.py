"""A scripted fake of the Anthropic Messages API: a real HTTP server on 127.0.0.1 speaking the wire format.

Usage in a test module::

    from tests.fake_anthropic import FakeAnthropic, fake_anthropic_fixture, tool_call, rate_limited  # noqa: F401

    def test_x(fake_anthropic: FakeAnthropic):  # the fixture is registered by importing fake_anthropic_fixture
        fake_anthropic.script([rate_limited("0.05"), tool_call({"action": "hold"})])
        ... LLMSettings(base_url=fake_anthropic.base_url, ...) ...
        assert fake_anthropic.requests[0].body["tool_choice"] == {...}

Every request is captured (headers with lower-case names, JSON body, raw bytes). Each reply in the script answers
one request that passes the request checks (auth header, anthropic-version, required fields); a request that
fails them is answered 400/401/404 without consuming the script, and an exhausted script answers 400 with
`x-should-retry: false`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import pytest

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
API_VERSION_WITHOUT_SAMPLING = "2026-10-21"


@dataclass(frozen=True)
class Reply:
    """One scripted answer; build them with tool_call, text_reply, api_error, raw_body, delay."""

    kind: str  # "tool", "text", "error", "raw"
    params: dict[str, Any] = field(default_factory=dict)
    delay_s: float = 0.0


def tool_call(
    tool_input: Any,
    *,
    name: str | None = None,
    text: str | None = None,
    input_tokens: int = 120,
    output_tokens: int = 30,
    stop_reason: str = "tool_use",
    delay_s: float = 0.0,
) -> Reply:
    """A tool_use reply with `tool_input` (valid or not); `name` defaults to the tool the request forces."""
    return Reply("tool", {"input": tool_input, "name": name, "text": text, "input_tokens": input_tokens,
                          "output_tokens": output_tokens, "stop_reason": stop_reason}, delay_s)


def text_reply(text: str, *, stop_reason: str = "end_turn", input_tokens: int = 120, output_tokens: int = 30,
               delay_s: float = 0.0) -> Reply:
    """A reply holding only a text block (no tool call)."""
    return Reply("text", {"text": text, "stop_reason": stop_reason, "input_tokens": input_tokens,
                          "output_tokens": output_tokens}, delay_s)


def malformed_json(text: str = '{"action": "buy_call", "confidence": 0.7,', **kwargs: Any) -> Reply:
    """A text reply holding broken JSON instead of a tool call."""
    return text_reply(text, **kwargs)


def api_error(
    status: int,
    *,
    error_type: str | None = None,
    message: str | None = None,
    retry_after: str | None = None,
    retry_after_ms: str | None = None,
    should_retry: bool | None = None,
    error_code: str | None = None,
    delay_s: float = 0.0,
) -> Reply:
    """An error answer with the API's error body and optional retry-after / x-should-retry headers."""
    return Reply("error", {"status": status, "error_type": error_type or ERROR_TYPES.get(status, "api_error"),
                           "message": message or f"fake error {status}", "retry_after": retry_after,
                           "retry_after_ms": retry_after_ms, "should_retry": should_retry,
                           "error_code": error_code}, delay_s)


def rate_limited(retry_after: str | None = "0.05", **kwargs: Any) -> Reply:
    """429 rate_limit_error with a (small) retry-after."""
    kwargs.setdefault("message", "Number of request tokens has exceeded your rate limit.")
    return api_error(429, retry_after=retry_after, **kwargs)


def overloaded(**kwargs: Any) -> Reply:
    """529 overloaded_error."""
    kwargs.setdefault("message", "Overloaded")
    return api_error(529, **kwargs)


def server_error(**kwargs: Any) -> Reply:
    """500 api_error."""
    kwargs.setdefault("message", "Internal server error")
    return api_error(500, **kwargs)


def raw_body(body: bytes, *, status: int = 200, content_type: str = "application/json", delay_s: float = 0.0) -> Reply:
    """Exactly these bytes as the response body (e.g. broken JSON at the HTTP level)."""
    return Reply("raw", {"body": body, "status": status, "content_type": content_type}, delay_s)


def delay(seconds: float, then: Reply | None = None) -> Reply:
    """`then` (default a 200 tool call with empty input) sent after sleeping `seconds`."""
    base = then or tool_call({})
    return Reply(base.kind, base.params, seconds)


@dataclass
class CapturedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    received_at: float

    @property
    def retry_count(self) -> int:
        """The SDK's x-stainless-retry-count header (0 on a first attempt)."""
        return int(self.headers.get("x-stainless-retry-count", "0"))

    @property
    def api_key(self) -> str | None:
        """The key from `x-api-key` or `Authorization: Bearer`."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


class FakeAnthropic:
    """The server: `start()`/`stop()` (or a `with` block), `script([...])`, `requests`, `base_url`."""

    def __init__(self, expected_key: str | None = None) -> None:
        self.expected_key = expected_key
        self.requests: list[CapturedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> FakeAnthropic:
        """Bind an ephemeral port on 127.0.0.1 and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (handlers still sleeping are abandoned)."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None, "FakeAnthropic is not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """Base URL to hand to the SDK (it appends /v1/messages)."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting ---------------------------------------------------------------------------------------------
    def script(self, replies: Iterable[Reply]) -> None:
        """Queue replies; each answers one valid request, in order."""
        with self._lock:
            self._queue.extend(replies)

    def remaining(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    def bodies_text(self) -> str:
        """All captured request bytes (headers excluded) decoded, for grepping."""
        return "\n".join(r.raw.decode("utf-8", "replace") for r in self.requests)

    # -- serving (called by the handler) -------------------------------------------------------------------------
    def _capture(self, req: CapturedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _next(self) -> Reply | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def _next_id(self) -> int:
        return next(self._ids)


def _check_request(fake: FakeAnthropic, req: CapturedRequest) -> tuple[int, str, str] | None:
    """Return (status, error type, message) when the request is not one the real API would accept."""
    if req.method != "POST" or not req.path.split("?")[0].endswith("/v1/messages"):
        return 404, "not_found_error", f"Not found: {req.method} {req.path}"
    key = req.api_key
    if not key or (fake.expected_key is not None and key != fake.expected_key):
        return 401, "authentication_error", "invalid x-api-key"
    version = req.headers.get("anthropic-version")
    if not version:
        return 400, "invalid_request_error", "anthropic-version: header is required"
    body = req.body
    if not isinstance(body, dict):
        return 400, "invalid_request_error", "request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return 400, "invalid_request_error", f"{name}: Field required"
    if version == API_VERSION_WITHOUT_SAMPLING:
        for name in SAMPLING_PARAMS:
            if name in body:
                return 400, "invalid_request_error", f"{name}: Extra inputs are not permitted"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = [t.get("name") for t in body.get("tools", []) if isinstance(t, dict)]
        if choice.get("name") not in names:
            return 400, "invalid_request_error", "tool_choice.name: tool not found in tools"
    return None


def _forced_tool(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return str(choice["name"])
    tools = body.get("tools") or [{}]
    return str(tools[0].get("name", "tool"))


def _message(reply: Reply, body: dict[str, Any], n: int) -> dict[str, Any]:
    p = reply.params
    content: list[dict[str, Any]] = []
    if p.get("text"):
        content.append({"type": "text", "text": p["text"]})
    if reply.kind == "tool":
        content.append({"type": "tool_use", "id": f"toolu_fake{n:06d}", "name": p["name"] or _forced_tool(body),
                        "input": p["input"]})
    return {
        "id": f"msg_fake{n:06d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-fake"),
        "content": content,
        "stop_reason": p["stop_reason"],
        "stop_sequence": None,
        "usage": {"input_tokens": p["input_tokens"], "output_tokens": p["output_tokens"],
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "service_tier": "standard"},
    }


def _error_body(status: int, error_type: str, message: str, request_id: str,
                error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if error_code:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error, "request_id": request_id}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAnthropic  # set on the subclass made by FakeAnthropic.start

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _read(self) -> CapturedRequest:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = CapturedRequest(self.command, self.path, headers, raw, body, time.monotonic())
        self.fake._capture(req)
        return req

    def _send(self, status: int, payload: bytes, headers: dict[str, str], content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout); nothing to answer

    def _send_json(self, status: int, obj: Any, headers: dict[str, str]) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"), headers, "application/json")

    def do_GET(self) -> None:
        """Answer 404 like the API does for unknown routes."""
        req = self._read()
        rid = f"req_fake{self.fake._next_id():06d}"
        self._send_json(404, _error_body(404, "not_found_error", f"Not found: {req.path}", rid), {"request-id": rid})

    def do_POST(self) -> None:
        """Check the request, then answer with the next scripted reply."""
        req = self._read()
        n = self.fake._next_id()
        rid = f"req_fake{n:06d}"
        headers = {"request-id": rid, "anthropic-organization-id": "org-fake"}
        problem = _check_request(self.fake, req)
        if problem is not None:
            status, etype, message = problem
            self._send_json(status, _error_body(status, etype, message, rid), {**headers, "x-should-retry": "false"})
            return
        reply = self.fake._next()
        if reply is None:
            self._send_json(400, _error_body(400, "invalid_request_error", "fake_anthropic: script exhausted", rid),
                            {**headers, "x-should-retry": "false"})
            return
        if reply.delay_s:
            time.sleep(reply.delay_s)
        p = reply.params
        if reply.kind == "error":
            extra = dict(headers)
            if p["retry_after"] is not None:
                extra["retry-after"] = str(p["retry_after"])
            if p["retry_after_ms"] is not None:
                extra["retry-after-ms"] = str(p["retry_after_ms"])
            if p["should_retry"] is not None:
                extra["x-should-retry"] = "true" if p["should_retry"] else "false"
            body = _error_body(p["status"], p["error_type"], p["message"], rid, p["error_code"])
            self._send_json(p["status"], body, extra)
        elif reply.kind == "raw":
            self._send(p["status"], p["body"], headers, p["content_type"])
        else:
            headers.update({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49"})
            self._send_json(200, _message(reply, req.body, n), headers)


@pytest.fixture(name="fake_anthropic")
def fake_anthropic_fixture() -> Iterator[FakeAnthropic]:
    """Fixture `fake_anthropic`: a started FakeAnthropic, stopped after the test (import this function to use it)."""
    with FakeAnthropic() as server:
        yield server
