"""Validation of bars and option snapshots on every load, and the gap report (missing minutes or sessions)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import BAR_COLUMNS, OPTION_COLUMNS, OPTIONAL_BAR_COLUMNS, TZ

TIME_COLUMN_NAMES: tuple[str, ...] = ("timestamp", "time", "datetime", "date")
"""Accepted names (any case) for the timestamp column of a file."""

_AWARE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})\s*$")


@dataclass(frozen=True)
class Gap:
    """A hole in the bars: a whole missing session, or a run of missing bars inside a session."""

    kind: str  # "session" or "intraday"
    start: pd.Timestamp  # first missing bar start (a session's open for "session")
    end: pd.Timestamp  # last missing bar start
    bars: int  # how many bars are missing

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form."""
        return {"kind": self.kind, "start": self.start.isoformat(), "end": self.end.isoformat(), "bars": self.bars}

    def __str__(self) -> str:
        if self.kind == "session":
            return f"missing session {self.start.date()}"
        return f"{self.bars} missing bar(s) {self.start:%Y-%m-%d %H:%M}..{self.end:%H:%M}"


def _where(source: str, row: int | None = None, first_row: int = 1, stamp: object = None) -> str:
    """A location prefix from a 0-based row: 'file: row 5 (2024-01-02 09:34)'; 'file: line 6 (...)' for a text
    file, where `first_row` is 2 (the header is line 1) and the number is the file line."""
    text = source
    if row is not None:
        text += f": line {row + first_row}" if first_row >= 2 else f": row {row + first_row}"
        if stamp is not None:
            text += f" ({stamp})"
    return text


def find_time_column(columns: list[str], source: str) -> str:
    """The name of the timestamp column (timestamp/time/datetime/date, any case)."""
    lower = {str(c).strip().lower(): c for c in columns}
    for name in TIME_COLUMN_NAMES:
        if name in lower:
            return lower[name]
    raise DataError(
        f"{source}: no timestamp column; name one of {', '.join(TIME_COLUMN_NAMES)} "
        f"(found: {', '.join(map(str, columns))})."
    )


def parse_timestamps(values: pd.Series | pd.Index, source: str, tz: str | None, column: str = "timestamp",
                     first_row: int = 1) -> pd.DatetimeIndex:
    """Parse timestamps to tz-aware New York time; naive values are refused unless tz names their zone.

    `first_row` (here and in the validators) is how the first data row is named in messages: 1 gives
    "row 1" for frames, 2 gives "line 2" for a text file with a header line.
    """
    ser = pd.Series(values).reset_index(drop=True)
    if isinstance(ser.dtype, pd.DatetimeTZDtype):
        idx = pd.DatetimeIndex(ser)
    elif pd.api.types.is_datetime64_dtype(ser.dtype):
        idx = pd.DatetimeIndex(ser)
        if tz is None:
            raise DataError(
                f"{source}: column {column} has naive timestamps (first {idx[0]}); "
                "give their time zone (tz=..., e.g. America/New_York)."
            )
    else:
        text = ser.astype("string").str.strip()
        missing = text.isna() | (text == "")
        if missing.any():
            row = int(np.flatnonzero(missing.to_numpy())[0])
            raise DataError(f"{_where(source, row, first_row)}: column {column} is empty.")
        aware = text.str.contains(_AWARE, regex=True).to_numpy(dtype=bool)
        if aware.any() and not aware.all():
            row = int(np.flatnonzero(aware != aware[0])[0])
            if pd.isna(pd.to_datetime(text[row], errors="coerce")):
                raise DataError(
                    f"{_where(source, row, first_row)}: column {column} value {text[row]!r} is not a timestamp."
                )
            raise DataError(
                f"{_where(source, row, first_row)}: column {column} value {text[row]!r} mixes time zone styles "
                "with the rows before it (some have an offset, some do not)."
            )
        if not aware[0] and tz is None:
            raise DataError(
                f"{source}: column {column} has naive timestamps (first {text[0]!r}); "
                "give their time zone (tz=..., e.g. America/New_York)."
            )
        parsed = pd.to_datetime(text, errors="coerce", utc=bool(aware[0]), format="mixed")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{_where(source, row, first_row)}: column {column} value {text[row]!r} is not a timestamp."
            )
        idx = pd.DatetimeIndex(parsed)
    if idx.tz is None:
        try:
            idx = idx.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # pytz/zoneinfo errors differ by version; all mean a bad zone or local time
            raise DataError(f"{source}: cannot place column {column} in time zone {tz!r}: {exc}.") from exc
    return idx.tz_convert(TZ).as_unit("ns").rename("timestamp")


def _numeric(frame: pd.DataFrame, column: str, source: str, stamps: pd.DatetimeIndex, first_row: int) -> np.ndarray:
    """A column as float64; the first non-numeric or empty value raises naming row and value."""
    raw = frame[column]
    vals = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(vals)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{_where(source, row, first_row, stamps[row])}: column {column} value {raw.iloc[row]!r} is not a number."
        )
    return vals


def _fail_rows(mask: np.ndarray, source: str, stamps: pd.DatetimeIndex, first_row: int, message: str,
               values: dict[str, np.ndarray]) -> None:
    """Raise for the first row where mask is true, with the named values filled into message."""
    if mask.any():
        row = int(np.flatnonzero(mask)[0])
        filled = message.format(**{k: f"{v[row]:g}" for k, v in values.items()})
        raise DataError(f"{_where(source, row, first_row, stamps[row])}: {filled}.")



def check_bar_values(cols: dict[str, np.ndarray], source: str, stamps: pd.DatetimeIndex, first_row: int) -> None:
    """Positive prices, non-negative volume, low <= open/close <= high: the first bad row is one DataError."""
    o, h, lo, c, v = (cols[k] for k in BAR_COLUMNS)
    for name in ("open", "high", "low", "close"):
        _fail_rows(cols[name] <= 0, source, stamps, first_row, f"column {name} value {{x}} is not a positive price",
                   {"x": cols[name]})
    _fail_rows(v < 0, source, stamps, first_row, "column volume value {x} is negative", {"x": v})
    _fail_rows(h < lo, source, stamps, first_row, "high {h} is below low {l}", {"h": h, "l": lo})
    _fail_rows(h < np.maximum(o, c), source, stamps, first_row, "high {h} is below open {o} or close {c}",
               {"h": h, "o": o, "c": c})
    _fail_rows(lo > np.minimum(o, c), source, stamps, first_row, "low {l} is above open {o} or close {c}",
               {"l": lo, "o": o, "c": c})


def validate_bars(frame: pd.DataFrame, source: str = "bars", tz: str | None = None,
                  first_row: int = 1) -> pd.DataFrame:
    """Check and normalise bars: tz-aware sorted unique timestamps, positive prices, consistent high/low."""
    if frame is None or len(frame) == 0:
        raise DataError(f"{source}: no bars.")
    df = frame
    if isinstance(df.index, pd.DatetimeIndex):
        df = df.reset_index(names="timestamp" if df.index.name is None else df.index.name)
    lower = {str(c).strip().lower(): c for c in df.columns}
    time_col = find_time_column(list(df.columns), source)
    missing = [c for c in BAR_COLUMNS if c not in lower]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, df.columns))}).")
    stamps = parse_timestamps(df[time_col], source, tz, column=str(time_col), first_row=first_row)
    cols = {c: _numeric(df, lower[c], source, stamps, first_row) for c in BAR_COLUMNS}
    extras = {c: _numeric(df, lower[c], source, stamps, first_row) for c in OPTIONAL_BAR_COLUMNS if c in lower}

    ns = stamps.asi8
    step = np.diff(ns)
    if (step == 0).any():
        row = int(np.flatnonzero(step == 0)[0]) + 1
        raise DataError(f"{_where(source, row, first_row, stamps[row])}: duplicate timestamp (same as the row before).")
    if (step < 0).any():
        row = int(np.flatnonzero(step < 0)[0]) + 1
        raise DataError(
            f"{_where(source, row, first_row, stamps[row])}: timestamp is earlier than the row before it "
            f"({stamps[row - 1]}); bars must be sorted by time."
        )
    check_bar_values(cols, source, stamps, first_row)
    if "vix" in extras:
        _fail_rows(extras["vix"] <= 0, source, stamps, first_row, "column vix value {x} is not positive",
                   {"x": extras["vix"]})
    for name in ("spread", "quote_size"):
        if name in extras:
            _fail_rows(extras[name] < 0, source, stamps, first_row, f"column {name} value {{x}} is negative",
                       {"x": extras[name]})
    out = pd.DataFrame({**cols, **extras}, index=stamps)
    return out


def infer_interval(index: pd.DatetimeIndex) -> str:
    """The bar interval of an index: "1day" when there is one bar per date, else the typical minute step."""
    if len(index) < 2:
        return "1day"
    index = pd.DatetimeIndex(index).as_unit("ns")
    dates = index.normalize()
    same_day = dates[1:] == dates[:-1]
    if not same_day.any():
        return "1day"
    step = np.diff(index.asi8)[same_day]
    minutes = round(float(np.median(step)) / 60e9)
    minutes = max(minutes, 1)
    return "1h" if minutes == 60 else f"{minutes}min"


def interval_minutes(interval: str) -> int:
    """Minutes in an intraday interval string ("1min", "5min", "1h"); 0 for "1day"."""
    if interval == "1day":
        return 0
    try:
        td = pd.Timedelta(interval)
    except ValueError:
        td = pd.Timedelta(0)
    # a part of a minute would round to 0, which means daily: refuse it instead
    if td <= pd.Timedelta(0) or td > pd.Timedelta(hours=7) or td % pd.Timedelta(minutes=1):
        raise DataError(f"Unsupported bar interval {interval!r}; use e.g. 1min, 5min, 15min, 30min, 1h or 1day.")
    return int(td.total_seconds() // 60)


def find_gaps(bars: pd.DataFrame, interval: str | None = None) -> list[Gap]:
    """Missing sessions (against the XNYS calendar) and runs of missing intraday bars; reported, not fatal."""
    from trader.market.calendar import schedule

    idx = pd.DatetimeIndex(bars.index).as_unit("ns")
    if len(idx) == 0:
        return []
    interval = interval or infer_interval(idx)
    minutes = interval_minutes(interval)
    first, last = idx[0].date(), idx[-1].date()
    sched = schedule(first, last)
    have_dates = set(idx.date)
    gaps: list[Gap] = []
    absent = np.array([d not in have_dates for d in sched.index], dtype=bool)
    for open_, close in zip(sched["open"][absent], sched["close"][absent], strict=True):
        n = 1 if minutes == 0 else int(np.ceil((close - open_) / pd.Timedelta(minutes=minutes)))
        gaps.append(Gap("session", open_, open_, n))
    if minutes == 0:
        return gaps
    present = sched[~absent]
    if present.empty:
        return gaps
    freq = pd.Timedelta(minutes=minutes)
    parts = [pd.date_range(o, c, freq=freq, inclusive="left") for o, c in zip(present["open"], present["close"],
                                                                              strict=True)]
    expected = parts[0].append(parts[1:]) if len(parts) > 1 else parts[0]
    lost = pd.DatetimeIndex(expected).as_unit("ns").difference(idx.as_unit("ns"))
    if len(lost) == 0:
        return sorted(gaps, key=lambda g: g.start)
    ns = lost.asi8
    breaks = np.flatnonzero((np.diff(ns) != freq.value) | (lost.date[1:] != lost.date[:-1])) + 1
    for run in np.split(np.arange(len(lost)), breaks):
        gaps.append(Gap("intraday", lost[run[0]], lost[run[-1]], len(run)))
    return sorted(gaps, key=lambda g: g.start)


_RIGHTS = {"C": "C", "P": "P", "CALL": "C", "PUT": "P"}


def validate_options(frame: pd.DataFrame, source: str = "options", tz: str | None = None,
                     underlying: str = "SPY", first_row: int = 1) -> pd.DataFrame:
    """Check and normalise option snapshots to the snapshot schema (bid <= ask, known rights, positive strikes)."""
    from trader.options import occ_symbol

    if frame is None or len(frame) == 0:
        raise DataError(f"{source}: no option rows.")
    df = frame.reset_index(drop=True)
    lower = {str(c).strip().lower(): c for c in df.columns}
    time_col = find_time_column(list(df.columns), source)
    need = ("expiry", "strike", "right", "bid", "ask")
    missing = [c for c in need if c not in lower]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, df.columns))}).")
    stamps = parse_timestamps(df[time_col], source, tz, column=str(time_col), first_row=first_row)
    exp_raw = df[lower["expiry"]]
    expiry = pd.to_datetime(exp_raw, errors="coerce", format="mixed")
    if isinstance(expiry.dtype, pd.DatetimeTZDtype):
        expiry = expiry.dt.tz_convert(TZ).dt.tz_localize(None)
    if expiry.isna().any():
        row = int(np.flatnonzero(expiry.isna().to_numpy())[0])
        raise DataError(f"{_where(source, row, first_row)}: column expiry value {exp_raw.iloc[row]!r} is not a date.")
    expiry = expiry.dt.normalize().astype("datetime64[ns]")
    rights_raw = df[lower["right"]].astype("string").str.strip().str.upper()
    rights = rights_raw.map(_RIGHTS)
    if rights.isna().any():
        row = int(np.flatnonzero(rights.isna().to_numpy())[0])
        raise DataError(
            f"{_where(source, row, first_row)}: column right value {df[lower['right']].iloc[row]!r} "
            "is not C or P."
        )
    strike = _numeric(df, lower["strike"], source, stamps, first_row)
    bid = _numeric(df, lower["bid"], source, stamps, first_row)
    ask = _numeric(df, lower["ask"], source, stamps, first_row)
    _fail_rows(strike <= 0, source, stamps, first_row, "column strike value {x} is not positive", {"x": strike})
    _fail_rows(bid < 0, source, stamps, first_row, "column bid value {x} is negative", {"x": bid})
    _fail_rows(ask < bid, source, stamps, first_row, "ask {a} is below bid {b}", {"a": ask, "b": bid})
    n = len(df)

    def optional(name: str, default: float = np.nan) -> np.ndarray:
        if name not in lower:
            return np.full(n, default)
        return pd.to_numeric(df[lower[name]], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)

    und = (df[lower["underlying"]].astype("string").str.strip().str.upper() if "underlying" in lower
           else pd.Series([underlying] * n, dtype="string"))
    if "symbol" in lower:
        symbols = df[lower["symbol"]].astype("string").str.strip()
    else:
        symbols = pd.Series(
            [occ_symbol(u, e.date(), r, k) for u, e, r, k in zip(und, expiry, rights, strike, strict=True)],
            dtype="string",
        )
    out = pd.DataFrame({
        "timestamp": stamps, "symbol": symbols.astype(object).to_numpy(), "underlying": und.astype(object).to_numpy(),
        "expiry": expiry.to_numpy(), "strike": strike, "right": rights.astype(object).to_numpy(),
        "bid": bid, "ask": ask, "volume": optional("volume", 0.0), "open_interest": optional("open_interest", 0.0),
        "iv": optional("iv"), "delta": optional("delta"), "gamma": optional("gamma"), "theta": optional("theta"),
        "vega": optional("vega"),
    })
    key = ["timestamp", "expiry", "strike", "right"]
    dup = out.duplicated(key).to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise DataError(
            f"{_where(source, row, first_row, stamps[row])}: duplicate contract {out.at[row, 'symbol']} "
            "in the same snapshot."
        )
    out = out.sort_values(key, kind="stable").reset_index(drop=True)
    return out[list(OPTION_COLUMNS)]
