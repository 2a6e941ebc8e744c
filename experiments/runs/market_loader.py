"""Loading the market an experiment asks for, with a Parquet cache under the home's data/ folder."""
from __future__ import annotations

import hashlib
import json
import logging

from experiments.home import data_dir
from experiments.spec.model import ExperimentSpec
from trader.errors import DataError
from trader.market.base import Market

log = logging.getLogger("gaussian.data")
_relocated: dict[str, str] = {}


def relocate_files(mapping: dict[str, str]) -> None:
    """Read a spec's user files (data.path, data.options_path) from local copies: {path in the spec: copy}.

    A Dask worker gets the coordinator's files scattered to it; each copy keeps its file name, so the market
    (whose meta names only the file) is the one the spec describes.
    """
    _relocated.clear()
    _relocated.update(mapping)


def _cache_key(spec: ExperimentSpec) -> str:
    d = spec.data
    params = {"source": d.source, "sessions": d.sessions, "start": str(d.start), "end": str(d.end),
              "edge": d.edge, "seed": d.seed if d.seed is not None else spec.seed, "max_dte": d.max_dte}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def load_market_for(spec: ExperimentSpec) -> Market:
    """The market named by spec.data, aggregated to spec.data.interval (cached generated data is reused)."""
    from trader.market.store import load_market, save_market

    d = spec.data
    if d.source == "cache":
        path = data_dir() / str(d.name)
        if not path.exists():
            raise DataError(f"dataset '{d.name}' not found under {data_dir()} (see `gaussian data list`)")
        market = load_market(path)
    elif d.source == "file":
        from trader.market.files import load_market_files

        options = _relocated.get(d.options_path, d.options_path) if d.options_path else None
        market = load_market_files(_relocated.get(d.path, d.path), options_path=options, tz=d.timezone)
    else:
        path = data_dir() / "_cache" / f"{d.source}-{_cache_key(spec)}"
        if path.exists():
            market = load_market(path)
        else:  # read back what was cached, so the first run sees the very market every later run will
            save_market(_build(spec), path)
            market = load_market(path)
    if needs_context(spec) and not market.context:
        market.context = _context(spec, market)
    return _window_and_interval(market, spec)


def needs_context(spec: ExperimentSpec) -> bool:
    """True when a chosen feature family reads context series (breadth, macro, crypto)."""
    from trader.families.registry import NEEDS_CONTEXT

    return any(f in NEEDS_CONTEXT for f in spec.features.families)


def _context(spec: ExperimentSpec, market: Market) -> dict:
    """The context series for the spec's market: generated (synthetic), from files, or the shipped history."""
    d = spec.data
    if d.source == "synthetic":
        from trader.market.synthetic_context import generate_context

        seed = d.seed if d.seed is not None else spec.seed
        log.info("generating synthetic context series (lead_lag %.2f over %d bars)", d.lead_lag, d.lead_bars)
        return generate_context(market, seed=seed, lead_lag=d.lead_lag, lead_bars=d.lead_bars)
    if d.source == "file" and d.context_path:
        from trader.market.context_files import load_context

        return load_context(d.context_path, tz=d.timezone)
    if d.source == "real_daily":
        from trader.market.real_daily import load_real_context

        return load_real_context(start=str(d.start), end=str(d.end) if d.end else None)
    return {}


def _build(spec: ExperimentSpec) -> Market:
    d = spec.data
    if d.source == "synthetic":
        from trader.market.synthetic import generate_synthetic

        seed = d.seed if d.seed is not None else spec.seed
        log.info("generating %d synthetic sessions (seed %d, edge %.2f)", d.sessions, seed, d.edge)
        return generate_synthetic(sessions=d.sessions, start=str(d.start), seed=seed, edge=d.edge, max_dte=d.max_dte)
    from trader.market.real_daily import load_real_daily

    return load_real_daily(start=str(d.start), end=str(d.end) if d.end else None)


def _window_and_interval(market: Market, spec: ExperimentSpec) -> Market:
    d = spec.data
    if d.source in ("file", "cache") and d.end is not None:
        raise DataError("data.end applies to real_daily data only; import the window you want as a dataset instead")
    if d.interval == market.interval:
        return market
    if market.interval != "1min" or d.interval == "1day":
        raise DataError(f"data.interval '{d.interval}' cannot be made from '{market.interval}' bars "
                        "(1-minute bars aggregate to 5min, 15min or 30min)")
    from trader.market.reindexed import aggregate_market

    return aggregate_market(market, d.interval)
