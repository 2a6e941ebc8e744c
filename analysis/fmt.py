"""Number formatting shared by the finding sentences and the report template (fixed precision, deterministic)."""
from __future__ import annotations

import math
from typing import Any

NA = "n/a"


def _ok(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def money(x: Any) -> str:
    """Dollars with sign and thousands separators: -$1,234.50."""
    if not _ok(x):
        return NA
    return ("-" if round(x, 2) < 0 else "") + f"${abs(x):,.2f}"


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage: 0.1234 -> 12.3%."""
    return num(float(x) * 100, digits) + "%" if _ok(x) else NA


def pct_points(x: Any, digits: int = 2) -> str:
    """A value already in percent, signed: 1.5 -> +1.50%."""
    if not _ok(x):
        return NA
    text = num(float(x), digits)
    return (text if text.startswith("-") else "+" + text) + "%"


def num(x: Any, digits: int = 2) -> str:
    """A plain number at fixed precision (integers stay integers)."""
    if isinstance(x, bool) or x is None:
        return NA if x is None else str(x)
    if isinstance(x, (int, str)):
        return str(x)
    if not _ok(x):
        return NA
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def pval(p: Any) -> str:
    """A p-value: p=0.012, p<0.001 or n/a."""
    if not _ok(p):
        return NA
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def ci(pair: Any, kind: str = "num") -> str:
    """A [lo, hi] interval rendered with the given kind (num, money, pct)."""
    if not pair or not all(_ok(v) for v in pair):
        return NA
    f = {"num": num, "money": money, "pct": pct}[kind]
    return f"{f(pair[0])} .. {f(pair[1])}"


def value(x: Any) -> str:
    """A spec value as it would be written in a --set override (lists as [a, b], None as null)."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(value(v) for v in x) + "]"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)
