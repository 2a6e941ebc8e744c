"""GET /api/v1/market/{symbol}/bars: stored bars as JSON, CSV or Parquet by the Accept header."""
from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from experiments.web.datamanager.bars import read_bars
from experiments.web.datamanager.errors import ApiError, limited_route
from experiments.web.datamanager.service import DataManager

MAX_ROWS = 200_000
PARQUET = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
INTERVALS = ("1min", "5min", "15min", "1day")


def _when(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name}={text!r} is not an ISO date or time", field=name) from None
    if value.tzinfo is None:  # a naive time is New York market time, as everywhere in the project
        return pd.Timestamp(value).tz_localize("America/New_York").tz_convert("UTC").to_pydatetime()
    return value.astimezone(dt.UTC)


def _format(accept: str) -> str:
    for part in (p.split(";")[0].strip().lower() for p in accept.split(",")):
        if part in ("", "*/*", "application/json", "application/*"):
            return "json"
        if part in ("text/csv", "text/*"):
            return "csv"
        if part in PARQUET:
            return "parquet"
    raise ApiError(406, "not_acceptable", f"Accept {accept!r}: answers are application/json, text/csv or "
                   f"{PARQUET[0]}", field="Accept")


def market_router(dm: DataManager) -> APIRouter:
    """/api/v1/market/... over `dm`."""
    r = APIRouter(prefix="/api/v1/market", route_class=limited_route(dm.max_body_bytes), tags=["market"])

    @r.get("/{symbol}/bars")
    def bars(symbol: str, request: Request, start: str | None = Query(None), end: str | None = Query(None),
             interval: str = Query("1min")) -> Response:
        """Stored bars between start and end (inclusive; ISO times, naive ones in New York time)."""
        if interval not in INTERVALS:
            raise ApiError(422, "invalid_field", f"interval {interval!r} is not one of {', '.join(INTERVALS)}",
                           field="interval")
        kind = _format(request.headers.get("accept", ""))
        lo, hi = _when(start, "start"), _when(end, "end")
        if lo is not None and hi is not None and hi < lo:
            raise ApiError(422, "invalid_range", f"end {end} is before start {start}", field="end")
        frame = read_bars(dm.engine, symbol.upper(), interval, lo, hi, MAX_ROWS)
        if len(frame) > MAX_ROWS:
            raise ApiError(422, "range_too_large", f"over {MAX_ROWS:,} bars in that range: narrow start/end",
                           field="start")
        frame.index = frame.index.tz_convert("America/New_York")
        if kind == "csv":
            return Response(frame.to_csv(), media_type="text/csv")
        if kind == "parquet":
            buf = io.BytesIO()
            frame.to_parquet(buf)
            return Response(buf.getvalue(), media_type=PARQUET[0])
        rows = [{"time": t.isoformat(), **{c: (int(v) if c == "volume" else float(v)) for c, v in row.items()}}
                for t, row in zip(frame.index, frame.to_dict("records"), strict=True)]
        return JSONResponse({"symbol": symbol.upper(), "interval": interval, "bars": rows})

    return r
