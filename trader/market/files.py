"""User data files: bars and option snapshots from CSV or Parquet, validated, and the SnapshotQuoter.

Bars file columns (names in any case; extra columns are ignored)
    timestamp (or time, datetime, date): bar start. With an offset (``2024-01-02T09:30:00-05:00``) it is
    converted to America/New_York; without one (naive) the zone must be given (``tz="America/New_York"``).
    Daily bars whose timestamps are all midnight are placed at 09:30 of their date.
    open, high, low, close (positive), volume (>= 0); optional vix (percent), spread ($), quote_size.

Option snapshot file columns
    timestamp (as above; when the snapshot was taken), expiry (date), strike, right (C/P/call/put), bid, ask;
    optional symbol (OCC; built from underlying, expiry, right, strike when absent), underlying (default SPY),
    volume, open_interest (default 0), iv, delta, gamma, theta, vega (default empty).

Quotes for a market built from files come from the snapshots (SnapshotQuoter) when an options file is
given, else from the ModelQuoter on the bars (options modeled; a vix column is derived from trailing realized
volatility when the bars have none).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import OPTION_COLUMNS, TZ, Market, MissingQuoteError, OptionQuote
from trader.market.model import VOL_INDEX_PREMIUM, VOL_INDEX_WINDOW, trailing_vol_index
from trader.market.validate import (
    find_gaps,
    find_time_column,
    infer_interval,
    parse_timestamps,
    validate_bars,
    validate_options,
)

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"


def read_table(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Read a CSV or Parquet file; returns the frame and the file line of its first data row (1 for Parquet)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file.")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(p), 1
        except (OSError, ValueError) as exc:
            raise DataError(f"{p}: cannot read Parquet ({exc}).") from exc
    if suffix in (".csv", ".txt"):
        try:
            frame = _read_csv(p, p)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{p}: the file is empty.") from exc
        return frame, 2
    raise DataError(f"{p}: unknown file type {suffix!r}; use .csv or .parquet.")


def _read_csv(source: Path, data: Any, where: str = "", **options: Any) -> pd.DataFrame:
    """pd.read_csv as every reader of a user's CSV calls it (text cells, `#` comments), a parse failure as one
    DataError naming the file (`where`: which part of it was read, for the message)."""
    try:
        return pd.read_csv(data, dtype=str, skipinitialspace=True, comment="#", **options)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{source}: malformed CSV{where} ({str(exc).strip()}).") from exc


def _daily_at_open(frame: pd.DataFrame, source: str, tz: str | None, first_row: int) -> pd.DataFrame:
    """Move midnight timestamps of daily bars to 09:30 New York of their date."""
    col = find_time_column(list(frame.columns), source)
    stamps = parse_timestamps(frame[col], source, tz, column=str(col), first_row=first_row)
    if len(stamps) and (stamps == stamps.normalize()).all() and infer_interval(stamps) == "1day":
        local = stamps.tz_localize(None) + pd.Timedelta(hours=9, minutes=30)
        out = frame.copy()
        out[col] = local.tz_localize(TZ)
        return out
    out = frame.copy()
    out[col] = stamps
    return out


def load_bars_file(path: str | Path, tz: str | None = None) -> pd.DataFrame:
    """Read and validate a bars file (CSV or Parquet) into the bar schema."""
    frame, first_row = read_table(path)
    return _bars_from_frame(frame, str(path), tz, first_row)


def _bars_from_frame(frame: pd.DataFrame, source: str, tz: str | None, first_row: int) -> pd.DataFrame:
    """Validate a read bars table (or a sample of one) into the bar schema."""
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=frame.index.name or "timestamp")
    frame = _daily_at_open(frame, source, tz, first_row)
    return validate_bars(frame, source=source, tz=tz, first_row=first_row)


def load_options_file(path: str | Path, tz: str | None = None, underlying: str = "SPY") -> pd.DataFrame:
    """Read and validate an option snapshot file (CSV or Parquet) into the snapshot schema."""
    frame, first_row = read_table(path)
    return validate_options(frame, source=str(path), tz=tz, underlying=underlying, first_row=first_row)


SAMPLE_ROWS = 200
TAIL_BYTES = 1 << 16  # the end of a text file read back: a file cut short shows its torn last line there


def check_data_file(path: str | Path, kind: str = "bars", tz: str | None = None, underlying: str = "SPY") -> None:
    """Check a bars or option snapshot file cheaply with the loaders' own validation (DataError naming the file and
    what is wrong): a small file whole; a large CSV its header with its first rows and its last lines (a file
    cut short tears its last line); a Parquet file its metadata (a cut one has none) and its first row group."""
    p = Path(path)
    load = load_bars_file if kind == "bars" else (lambda f, tz: load_options_file(f, tz=tz, underlying=underlying))
    if not p.is_file():
        raise DataError(f"{p}: no such file.")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(p)
            first = pf.read_row_group(0).to_pandas() if pf.num_row_groups else pd.DataFrame()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{p}: cannot read Parquet ({exc}).") from exc
        _check_sample(first, str(p), kind, tz, underlying, 1)
    elif suffix in (".csv", ".txt") and p.stat().st_size > 2 * TAIL_BYTES:
        head = _read_csv(p, p, nrows=SAMPLE_ROWS)
        _check_sample(head, str(p), kind, tz, underlying, 2)
        tail, first_line = _csv_tail(p, head.columns)
        _check_sample(tail, str(p), kind, tz, underlying, first_line)
    else:
        load(p, tz)


def _csv_tail(p: Path, columns: pd.Index) -> tuple[pd.DataFrame, int]:
    """The whole lines in the last TAIL_BYTES of a CSV under its header, and the file line of the first of them."""
    import io

    size = p.stat().st_size
    with open(p, "rb") as fh:
        fh.seek(size - TAIL_BYTES)
        raw = fh.read()
    cut = raw.index(b"\n") + 1 if b"\n" in raw else len(raw)
    before = 0
    with open(p, "rb") as fh:  # the line number of the tail's first line, for the error message
        left = size - TAIL_BYTES + cut
        while left > 0:
            chunk = fh.read(min(left, 1 << 20))
            before += chunk.count(b"\n")
            left -= len(chunk)
    try:
        text = raw[cut:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p}: malformed CSV near its end ({str(exc).strip()}).") from exc
    frame = _read_csv(p, io.StringIO(text), " near its end", header=None, names=list(columns))
    return frame, before + 1


def _check_sample(frame: pd.DataFrame, source: str, kind: str, tz: str | None, underlying: str,
                  first_row: int) -> None:
    if kind == "bars":
        _bars_from_frame(frame, source, tz, first_row)
    else:
        validate_options(frame, source=source, tz=tz, underlying=underlying, first_row=first_row)


class SnapshotQuoter:
    """Quotes from recorded snapshots: at bar i, the latest snapshot taken at or before the bar's timestamp.

    With daily snapshots, every bar of a session sees the morning's prices (they do not follow the underlying
    through the day). A contract missing from that snapshot, or a bar before the first snapshot, raises
    MissingQuoteError (a DataError) naming the contract and time; callers that can skip it catch that.
    """

    def __init__(self, bars: pd.DataFrame, chains: pd.DataFrame) -> None:
        if chains is None or len(chains) == 0:
            raise DataError("The snapshot quoter needs at least one option snapshot row.")
        self._bar_ts = pd.DatetimeIndex(bars.index).tz_convert(TZ).as_unit("ns")
        self._bar_dates: list[dt.date] = list(self._bar_ts.date)
        snap_ts = pd.DatetimeIndex(chains["timestamp"]).tz_convert(TZ).as_unit("ns")
        order = np.argsort(snap_ts.asi8, kind="stable")
        c = chains.iloc[order].reset_index(drop=True)
        ts_ns = pd.DatetimeIndex(c["timestamp"]).tz_convert(TZ).as_unit("ns").asi8
        self._chains = c
        self._snap_ns = np.unique(ts_ns)
        self._snap_times = pd.DatetimeIndex(self._snap_ns, tz="UTC").tz_convert(TZ)
        self._pos = (np.searchsorted(self._snap_ns, self._bar_ts.asi8, side="right") - 1).tolist()
        starts = np.searchsorted(ts_ns, self._snap_ns, side="left")
        self._bounds = list(zip(starts.tolist(), np.r_[starts[1:], len(c)].tolist(), strict=True))
        expiry = [e.date() for e in pd.DatetimeIndex(c["expiry"])]
        strike = c["strike"].to_numpy(dtype=float).tolist()
        right = c["right"].astype(str).tolist()
        snap_of_row = np.searchsorted(self._snap_ns, ts_ns).tolist()
        self._rows: dict[tuple[int, dt.date, float, str], int] = {
            (s, e, k, r): j for j, (s, e, k, r) in enumerate(zip(snap_of_row, expiry, strike, right, strict=True))
        }
        self._expiry = expiry
        self._fields = {name: c[name].to_numpy(dtype=float).tolist()
                        for name in ("bid", "ask", "iv", "delta", "gamma", "theta", "vega")}

    def _snapshot(self, i: int) -> int:
        if not 0 <= i < len(self._pos):
            raise DataError(f"Bar position {i} is outside the market's {len(self._pos)} bars.")
        s = self._pos[i]
        if s < 0:
            raise MissingQuoteError(f"No option snapshot at or before bar {i} ({self._bar_ts[i]}).")
        return s

    def quote(self, i: int, expiry: dt.date, strike: float, right: str) -> OptionQuote:
        """The contract's quote in the latest snapshot at or before bar i; MissingQuoteError when not listed."""
        i = int(i)
        s = self._snapshot(i)
        if type(expiry) is not dt.date:
            expiry = pd.Timestamp(expiry).date()
        j = self._rows.get((s, expiry, float(strike), right))
        if j is None:
            raise MissingQuoteError(
                f"No quote for {right} {strike:g} expiring {expiry} in the option snapshot of "
                f"{self._snap_times[s]} (bar {i})."
            )
        f = self._fields
        bid, ask = f["bid"][j], f["ask"][j]
        return OptionQuote(bid, ask, (bid + ask) / 2.0, f["iv"][j], f["delta"][j], f["gamma"][j],
                           f["theta"][j], f["vega"][j])

    def chain(self, i: int, dte_max: int | None = None) -> pd.DataFrame:
        """The latest snapshot at or before bar i, expiries from the bar's date to dte_max days later, with dte."""
        i = int(i)
        s = self._snapshot(i)
        lo, hi = self._bounds[s]
        out = self._chains.iloc[lo:hi].copy()
        day = self._bar_dates[i]
        dte = np.array([(e - day).days for e in self._expiry[lo:hi]], dtype=np.int64)
        keep = (dte >= 0) & ((dte <= dte_max) if dte_max is not None else True)
        out["dte"] = dte
        return out[keep].reset_index(drop=True)[[*OPTION_COLUMNS, "dte"]]

    def expiries(self, i: int) -> list[dt.date]:
        """Expiries in the latest snapshot at or before bar i, from the bar's date on."""
        i = int(i)
        s = self._snapshot(i)
        lo, hi = self._bounds[s]
        day = self._bar_dates[i]
        return sorted({e for e in self._expiry[lo:hi] if e >= day})

    def params(self) -> dict[str, Any]:
        """How to rebuild this quoter from a stored market (it is rebuilt from the chains)."""
        return {"kind": "snapshot"}


def add_vol_index(bars: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Bars with a vix column: kept when present, else the trailing realized-vol fallback; returns the rule used."""
    if "vix" in bars.columns:
        return bars, "file"
    out = bars.copy()
    out["vix"] = trailing_vol_index(bars)
    return out, f"fallback: {VOL_INDEX_PREMIUM:g} x {VOL_INDEX_WINDOW}-session realized volatility of closes"


def load_market_files(bars_path: str | Path, options_path: str | Path | None = None, tz: str | None = None,
                      symbol: str = "SPY") -> Market:
    """A market from a bars file and an optional option snapshot file (validated; gaps listed in meta)."""
    from trader.market.quoter import ModelQuoter

    bars = load_bars_file(bars_path, tz=tz)
    interval = infer_interval(pd.DatetimeIndex(bars.index))
    gaps = find_gaps(bars, interval)
    meta: dict[str, Any] = {
        "source": "files", "symbol": symbol, "interval": interval, "bars_file": Path(bars_path).name,
        "description": f"{symbol} bars from {Path(bars_path).name}", "gaps": [g.to_dict() for g in gaps],
        "start": str(bars.index[0].date()), "end": str(bars.index[-1].date()),
    }
    if options_path is not None:
        chains = load_options_file(options_path, tz=tz, underlying=symbol)
        quoter: Any = SnapshotQuoter(bars, chains)
        meta.update(options_modeled=False, options_file=Path(options_path).name)
        meta["description"] += f" with option snapshots from {Path(options_path).name}"
    else:
        bars, vix_rule = add_vol_index(bars)
        daily = interval == "1day"
        quoter = ModelQuoter(bars, interval=interval, underlying=symbol, max_dte=45 if daily else 5,
                             expiry_rule="weekly" if daily else "daily")
        chains = None
        meta.update(options_modeled=True, vix_source=vix_rule)
        meta["description"] += "; options modeled"
    meta["quoter"] = quoter.params()
    return Market(bars=bars, chains=chains, truth=None, meta=meta, quoter=quoter)
