"""Tradier's JSON shapes for the local server: collections as object/list/empty exactly like the real API."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

EMPTY_STYLES = ("string", "null", "inner_null")
"""How an empty collection is written: the string "null", JSON null, or {inner: null}."""


def envelope(inner: str, items: list[Any], empty: str) -> Any:
    """The value of a collection key: one item as an object, several as a list, none in the `empty` style."""
    if not items:
        if empty == "string":
            return "null"
        if empty == "inner_null":
            return {inner: None}
        return None
    return {inner: items[0] if len(items) == 1 else list(items)}


def num(value: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (NaN and None become null)."""
    if value is None:
        return None
    out = float(value)
    return None if math.isnan(out) or math.isinf(out) else round(out, digits)


def errors_body(message: str | list[str]) -> dict[str, Any]:
    """Tradier's error body: {"errors": {"error": message}} (a string or a list)."""
    return {"errors": {"error": message}}


@dataclass
class Reply:
    """One HTTP answer of the local server: status, a JSON object or plain text, extra headers."""

    status: int
    body: dict[str, Any] | str | None
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(body: dict[str, Any], status: int = 200) -> Reply:
    """A JSON answer."""
    return Reply(status, body)


def error_reply(status: int, message: str | list[str]) -> Reply:
    """A Tradier-style error answer."""
    return Reply(status, errors_body(message))


AUTH_FAULT = {"fault": {"faultstring": "Invalid Access Token",
                        "detail": {"errorcode": "keymanagement.service.invalid_access_token"}}}
