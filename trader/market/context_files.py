"""Context series from user files: several symbols in one long file, or one file per symbol in a folder.

Long file (CSV or Parquet): ``symbol,timestamp,open,high,low,close,volume`` (names in any case, extra columns
ignored); rows of different symbols may interleave, but each symbol's rows must be in time order.
Folder: ``<SYMBOL>.csv`` or ``<SYMBOL>.parquet`` per symbol (``BTC-USD.csv``), the bars file format.
Timestamps follow the bars file rules (an offset, or a naive time with `tz`), but daily bars keep their own
timestamps (a midnight-stamped crypto day is a real UTC day).

Validation is the underlying's (positive prices, high >= low, high and low around open and close, volume
>= 0) and names the file and the first bad row; per symbol also: a duplicated timestamp, a timestamp earlier
than the symbol's previous row, and a misaligned one (an intraday bar that does not start on its interval's
grid, e.g. 09:30:30 in a 1-minute series).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import BAR_COLUMNS, TZ
from trader.market.files import read_table
from trader.market.validate import _numeric, _where, check_bar_values, find_time_column, parse_timestamps

SYMBOL_COLUMN = "symbol"
_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")


def load_context(path: str | Path, tz: str | None = None) -> dict[str, pd.DataFrame]:
    """Context bars by symbol from a long file or a folder of per-symbol files, validated."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in _SUFFIXES and not f.name.startswith("."))
        if not files:
            raise DataError(f"{p}: no .csv or .parquet files in the context folder.")
        out: dict[str, pd.DataFrame] = {}
        for f in files:
            frame, first_row = read_table(f)
            if isinstance(frame.index, pd.DatetimeIndex):
                frame = frame.reset_index(names=frame.index.name or "timestamp")
            out.update(validate_context(frame, str(f), tz=tz, first_row=first_row, symbol=f.stem.upper()))
        return out
    frame, first_row = read_table(p)
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "timestamp")
    return validate_context(frame, str(p), tz=tz, first_row=first_row)


def validate_context(frame: pd.DataFrame, source: str, tz: str | None = None, first_row: int = 1,
                     symbol: str | None = None) -> dict[str, pd.DataFrame]:
    """Check a long frame of context bars (a symbol column unless `symbol` is given) and split it by symbol."""
    if frame is None or len(frame) == 0:
        raise DataError(f"{source}: no bars.")
    df = frame.reset_index(drop=True)
    lower = {str(c).strip().lower(): c for c in df.columns}
    time_col = find_time_column(list(df.columns), source)
    need = list(BAR_COLUMNS) + ([SYMBOL_COLUMN] if symbol is None else [])
    missing = [c for c in need if c not in lower]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, df.columns))}).")
    stamps = parse_timestamps(df[time_col], source, tz, column=str(time_col), first_row=first_row)
    if symbol is None:
        raw = df[lower[SYMBOL_COLUMN]].astype("string").str.strip().str.upper()
        empty = (raw.isna() | (raw == "")).to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{_where(source, row, first_row, stamps[row])}: column symbol is empty.")
        symbols = raw.to_numpy(dtype=object)
    else:
        symbols = np.full(len(df), symbol, dtype=object)
    cols = {c: _numeric(df, lower[c], source, stamps, first_row) for c in BAR_COLUMNS}
    check_bar_values(cols, source, stamps, first_row)
    out: dict[str, pd.DataFrame] = {}
    for sym in dict.fromkeys(symbols):
        rows = np.flatnonzero(symbols == sym)
        _check_times(stamps, rows, source, first_row, str(sym))
        out[str(sym)] = pd.DataFrame({k: cols[k][rows] for k in BAR_COLUMNS},
                                     index=pd.DatetimeIndex(stamps[rows], name="timestamp"))
    return out


def _check_times(stamps: pd.DatetimeIndex, rows: np.ndarray, source: str, first_row: int, symbol: str) -> None:
    """Per symbol: no duplicated, backwards or off-grid timestamps; the first bad file row is named."""
    ns = stamps.asi8[rows]
    step = np.diff(ns)
    for bad, what in ((step == 0, "duplicate timestamp (same as the symbol's row before)"),
                      (step < 0, ("timestamp is earlier than the symbol's row before it; each symbol's rows must "
                                 "be in time order"))):
        if bad.any():
            row = int(rows[int(np.flatnonzero(bad)[0]) + 1])
            raise DataError(f"{_where(source, row, first_row, stamps[row])}: {symbol}: {what}.")
    local = stamps[rows].tz_convert(TZ)
    same_day = local.normalize()[1:] == local.normalize()[:-1]
    if not same_day.any():
        return
    minutes = max(1, round(float(np.median(step[same_day])) / 60e9))
    offset = np.asarray(local.hour * 60 + local.minute) % minutes
    off_grid = (np.asarray(local.second) != 0) | (np.asarray(local.microsecond) != 0) | (offset != 0)
    if off_grid.any():
        k = int(np.flatnonzero(off_grid)[0])
        row = int(rows[k])
        raise DataError(f"{_where(source, row, first_row, stamps[row])}: {symbol}: timestamp is misaligned: not on "
                        f"the series' {minutes}-minute bar grid.")


def context_to_long(context: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """All context series in one long frame (symbol, timestamp, bar columns), for storage."""
    parts = [frame[list(BAR_COLUMNS)].reset_index(names="timestamp").assign(symbol=sym)
             for sym, frame in context.items()]
    return pd.concat(parts, ignore_index=True)[["symbol", "timestamp", *BAR_COLUMNS]]
