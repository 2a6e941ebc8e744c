"""The NYSE trading calendar (exchange_calendars "XNYS"): sessions, regular-hours opens and closes, expiries."""
from __future__ import annotations

import datetime as dt
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import TZ


@lru_cache(maxsize=8)
def _calendar(first_year: int, last_year: int):
    """The XNYS calendar covering whole years first_year..last_year (cached)."""
    import exchange_calendars as xc

    try:
        with warnings.catch_warnings():  # exchange_calendars trips pandas deprecation warnings; they are not ours
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            cal = xc.get_calendar("XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31")
            cal.schedule  # noqa: B018 - build the lazily computed schedule inside the filter
            return cal
    except (ValueError, xc.errors.CalendarError) as exc:
        raise DataError(
            f"The XNYS calendar cannot cover {first_year}..{last_year}: {exc}".rstrip(".") + "."
        ) from exc


def _years(start: dt.date, end: dt.date) -> tuple[int, int]:
    """The cached calendar's year span: from 1990 (or earlier) to the end of the decade after `end` + 1 year.

    One wide calendar serves most requests (building one costs ~0.1 s), and expiries may run past the bars.
    """
    last = end.year + 1
    return min(start.year - 1, 1990), last - last % 10 + 9


def schedule(start: dt.date | str, end: dt.date | str) -> pd.DataFrame:
    """Sessions from start to end inclusive: index session date, columns open and close (tz New York)."""
    s, e = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    if e < s:
        raise DataError(f"Calendar range is empty: end {e} is before start {s}.")
    cal = _calendar(*_years(s, e))
    sched = cal.schedule.loc[str(s):str(e), ["open", "close"]]
    out = pd.DataFrame(
        {"open": sched["open"].dt.tz_convert(TZ), "close": sched["close"].dt.tz_convert(TZ)},
    )
    out.index = pd.Index([d.date() for d in sched.index], name="session")
    return out


def sessions_from(start: dt.date | str, count: int) -> pd.DataFrame:
    """The first `count` sessions on or after start (same columns as schedule)."""
    if count < 1:
        raise DataError(f"Session count must be at least 1, got {count}.")
    s = pd.Timestamp(start).date()
    # 252 sessions a year; ask for enough calendar days, then cut.
    end = s + dt.timedelta(days=int(count * 1.5) + 10)
    sched = schedule(s, end)
    if len(sched) < count:
        raise DataError(f"The calendar has only {len(sched)} sessions from {s}, fewer than {count}.")
    return sched.iloc[:count]


def minute_index(sched: pd.DataFrame) -> pd.DatetimeIndex:
    """Start times of all 1-minute regular-hours bars of the scheduled sessions (tz New York)."""
    parts = []
    for open_, close in zip(sched["open"], sched["close"], strict=True):
        parts.append(pd.date_range(open_, close, freq="1min", inclusive="left"))
    idx = parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]
    return pd.DatetimeIndex(idx, name="timestamp").as_unit("ns")


def session_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """Trading dates from start to end inclusive."""
    if end < start:
        return []
    return list(schedule(start, end).index)


def expiry_dates(start: dt.date, end: dt.date, rule: str = "daily") -> list[dt.date]:
    """Listed expiry dates between start and end: "daily" = every session, "weekly" = each week's last session."""
    days = session_dates(start, end + dt.timedelta(days=7))
    if rule == "daily":
        return [d for d in days if d <= end]
    if rule == "weekly":
        weeks: dict[tuple[int, int], dt.date] = {}
        for d in days:
            weeks[d.isocalendar()[:2]] = d  # later days in the week overwrite earlier ones
        return sorted(d for d in weeks.values() if start <= d <= end)
    raise DataError(f"Unknown expiry rule {rule!r}; use 'daily' or 'weekly'.")


def session_close_times(dates: list[dt.date] | np.ndarray) -> dict[dt.date, pd.Timestamp]:
    """Regular-hours close time of each given session date."""
    if len(dates) == 0:
        return {}
    sched = schedule(min(dates), max(dates))
    return {d: sched.at[d, "close"] for d in dates if d in sched.index}
