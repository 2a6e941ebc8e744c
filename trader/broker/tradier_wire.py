"""Decoding Tradier's XML-shaped JSON: one item as an object, empty as "null"/null/{inner: null}, mixed time units."""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

import pandas as pd

NY = "America/New_York"
SANDBOX_URL = "https://sandbox.tradier.com/v1"
LIVE_URL = "https://api.tradier.com/v1"

QUOTA_TEXT = "Quota Violation"
_EPOCH_MS = re.compile(r"(\d{13})")
TAG_RE = re.compile(r"^[A-Za-z0-9-]{1,255}$")

ORDER_STATUSES_FINAL = frozenset({"filled", "expired", "canceled", "rejected", "error"})


def as_list(envelope: Any, inner: str) -> list[Any]:
    """The items of a Tradier collection `{plural: {inner: item | [items]}}` given the plural's value; [] when empty.

    Accepts every empty form Tradier sends: a missing key (None), JSON null, the string "null", `{inner: null}`,
    `{inner: "null"}` and an empty list; a bare list is taken as the items.
    """
    if envelope is None or envelope == "null" or envelope == "":
        return []
    if isinstance(envelope, list):
        return [x for x in envelope if x is not None and x != "null"]
    if isinstance(envelope, dict):
        items = envelope.get(inner)
        if items is None or items == "null":
            return []
        if isinstance(items, list):
            return [x for x in items if x is not None and x != "null"]
        return [items]
    return [envelope]


def to_float(value: Any) -> float | None:
    """A nullable Tradier number: None for null, "null", "" or NaN; numeric strings are parsed."""
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, (int, float)):
        out = float(value)
        return None if math.isnan(out) else out
    if isinstance(value, str):
        text = value.strip()
        if text in ("", "null", "NaN", "nan"):
            return None
        try:
            out = float(text)
        except ValueError:
            raise ValueError(f"not a number: {value!r}") from None
        return None if math.isnan(out) else out
    raise ValueError(f"not a number: {value!r}")


def from_epoch_ms(value: Any) -> dt.datetime | None:
    """An epoch-milliseconds field (quotes' trade_date/bid_date/ask_date) as a New York datetime; 0/null -> None."""
    number = to_float(value)
    if number is None or number <= 0:
        return None
    return pd.Timestamp(int(number), unit="ms", tz="UTC").tz_convert(NY).to_pydatetime()


def from_epoch_s(value: Any) -> dt.datetime | None:
    """An epoch-seconds field (clock and timesales `timestamp`) as a New York datetime; 0/null -> None."""
    number = to_float(value)
    if number is None or number <= 0:
        return None
    return pd.Timestamp(int(number), unit="s", tz="UTC").tz_convert(NY).to_pydatetime()


def from_iso(value: Any) -> dt.datetime | None:
    """An ISO time (orders' `2018-06-06T20:16:17.342Z`); naive values are taken as New York time; null -> None."""
    if value is None or value == "null" or value == "":
        return None
    if isinstance(value, dt.datetime):
        ts = pd.Timestamp(value)
    else:
        ts = pd.Timestamp(str(value))
    if ts.tzinfo is None:
        ts = ts.tz_localize(NY)
    return ts.tz_convert(NY).to_pydatetime()


def from_date(value: Any) -> dt.date | None:
    """A `YYYY-MM-DD` date; null -> None."""
    if value is None or value == "null" or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def error_text(body: Any, limit: int = 300) -> str:
    """Tradier's error message from a body: `errors.error` (string or list, joined by " | "), an Apigee
    `fault.faultstring`, or the start of a plain-text/HTML body."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if errors is not None:
            items = as_list(errors, "error")
            return " | ".join(str(x) for x in items) or "unspecified error"
        fault = body.get("fault")
        if isinstance(fault, dict):
            text = str(fault.get("faultstring", "fault"))
            detail = fault.get("detail")
            code = detail.get("errorcode") if isinstance(detail, dict) else None
            return f"{text} ({code})" if code else text
        return str(body)[:limit]
    text = " ".join(str(body or "").split())
    return text[:limit] + ("..." if len(text) > limit else "") if text else "empty body"


def quota_expiry_ms(text: str) -> int | None:
    """The window-reset epoch-ms a "Quota Violation" text ends with, or None when the text is not one."""
    if QUOTA_TEXT.lower() not in (text or "").lower():
        return None
    found = _EPOCH_MS.findall(text)
    return int(found[-1]) if found else 0


def rate_category(method: str, path: str) -> str:
    """Tradier's rate-limit bucket of a call: "market" (/markets), "trading" (order writes) or "standard"."""
    clean = "/" + path.strip("/")
    if clean.startswith("/v1/"):
        clean = clean[3:]
    if clean.startswith("/markets"):
        return "market"
    if "/orders" in clean and method.upper() in ("POST", "PUT", "DELETE"):
        return "trading"
    return "standard"


def form_bool(value: bool) -> str:
    """Tradier's boolean parameters are the strings "true"/"false"."""
    return "true" if value else "false"
