"""The promoted run's pipeline for paper trading, and the venues it trades at.

- replay: a local Tradier server (TradierSim) in this process over a recorded or synthetic market, moved one bar
  per loop iteration; the loop talks to it over HTTP through TradierClient like to the real thing.
- sandbox: Tradier's paper-trading account (TRADIER_TOKEN, TRADIER_ACCOUNT_ID; TRADIER_ENV must not be live),
  on the wall clock: one iteration per bar of today's session (exchange calendar), each once its bar closed.
- sim-on-tradier: the same bars and quotes from Tradier, but fills by the SimBroker (bid/ask plus the spec's
  costs) in this process: no order reaches Tradier.
- live: as sandbox, against the live base URL (only `gaussian live`, behind its confirmations).
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.paper.guard import PaperLimits
from experiments.paper.session import PaperSession, Venue
from experiments.runs.market_loader import load_market_for
from experiments.runs.pipeline import MODEL_FREE, FittedModels, load_models, make_strategy
from experiments.runs.store import read_json, resolve_run
from experiments.spec.io import validate_spec
from experiments.spec.model import INTERVAL_MINUTES, ExperimentSpec
from experiments.spec.splits import split_bars
from trader.broker.tradier_client import TradierClient
from trader.broker.tradier_errors import TradierConfigError
from trader.broker.tradier_sim import TradierSim
from trader.errors import DataError, StateError
from trader.live_feed import LiveFeed
from trader.market.base import TZ, Market
from trader.market.tradier_bars import TradierBarSource
from trader.market.tradier_quoter import TradierQuoter
from trader.strategies.base import Strategy

log = logging.getLogger("gaussian.paper")

VENUES = ("replay", "sandbox", "sim-on-tradier")
EXTRA_COLUMNS = ("vix", "spread", "quote_size")
NATIVE_INTERVALS = ("1min", "5min", "15min")


@dataclass
class PaperPipeline:
    """What the paper loop runs: the run's spec, its saved models and strategy, and the run's own market."""

    run_id: str
    spec: ExperimentSpec
    market: Market
    fitted: FittedModels | None  # None: the strategy reads no per-bar arrays
    strategy: Strategy
    exit_model: Any


def promoted_run_id() -> str:
    """The promoted run's id from runs/promoted.json."""
    from experiments.promotion.gate import require_promoted

    doc = require_promoted()
    run_id = doc.get("run_id")
    if not run_id:
        raise StateError("runs/promoted.json has no run_id; promote a run again")
    return str(run_id)


def load_pipeline(run: str | None = None) -> PaperPipeline:
    """The promoted run (or `run`) rebuilt from its run directory: spec, data, saved models, strategy."""
    run_id = run or promoted_run_id()
    run_dir = resolve_run(run_id)
    stored = read_json(run_dir / "spec.json")
    spec = validate_spec(stored["spec"], str(run_dir / "spec.json"))
    if spec.data.interval == "1day":
        raise StateError(f"run {run_dir.name} trades daily bars; the paper loop trades intraday bars only")
    context = [f for f in spec.features.families if f not in ("price", "chain")]
    if context:
        raise StateError(f"run {run_dir.name} reads the feature families {', '.join(context)}; the paper loop "
                         "streams the underlying's bars and quotes only, not context series")
    market = load_market_for(spec)
    splits = split_bars(market.bars.index, spec.splits)
    models = run_dir / "models"
    fitted = load_models(spec, market, splits.train, models)
    controller = None
    if spec.entry.type == "rl":
        from trader.entry.rl import RLPolicy

        controller = RLPolicy.load(models, spec.trading.max_positions)
    elif spec.entry.type == "q_scorer":
        from trader.entry.q_scorer import QScorer

        controller = QScorer.load(models, spec.entry.q_scorer.threshold)
    strategy = make_strategy(spec, fitted, controller)
    needs_arrays = spec.entry.type not in MODEL_FREE or spec.exits.model.enabled
    return PaperPipeline(run_dir.name, spec, market, fitted if needs_arrays else None, strategy, fitted.exit_model)


def session_bounds(market: Market, day: dt.date | None = None) -> tuple[int, int]:
    """Bar range [a, b) of one session of the market (default: its last session)."""
    dates = np.array(market.bars.index.date)
    day = day or dates[-1]
    idx = np.flatnonzero(dates == day)
    if len(idx) == 0:
        raise DataError(f"the market has no bars on {day} (it covers {dates[0]} .. {dates[-1]})")
    if idx[0] == 0:
        raise DataError(f"{day} is the market's first session: replay needs earlier bars as history")
    return int(idx[0]), int(idx[-1]) + 1


def _sim_client(sim: TradierSim, token: str, account: str) -> TradierClient:
    return TradierClient(token, account, base_url=sim.url, timeout=10.0, backoff_s=0.05, max_backoff_s=0.5,
                         lookup_delay_s=0.05)


def replay_venue(market: Market, spec: ExperimentSpec, day: dt.date | None = None,
                 sim: TradierSim | None = None, token: str | None = None, account: str = "VA00000001",
                 broker: str = "tradier") -> tuple[Venue, LiveFeed, TradierSim]:
    """A replayed session: a local Tradier server over `market` (started here unless given), its history, and a
    feed whose bars come over HTTP (time & sales) with the recorded vix/spread/quote_size columns. `broker`
    "sim" fills with the SimBroker on the server's quotes instead of sending orders to it."""
    a, b = session_bounds(market, day)
    own = sim is None
    if sim is None:
        token = token or secrets.token_hex(12)
        c = spec.costs
        sim = TradierSim(market, token=token, account_id=account, cash=spec.trading.initial_balance,
                         start_index=a, commission_per_contract=c.commission_per_contract + c.fees_per_contract,
                         rate_limit=10**9).start()
    elif token is None:
        raise StateError("a given local Tradier server needs its token")
    client = _sim_client(sim, str(token), sim.account.account_id)
    bars = market.bars
    extras = [c for c in EXTRA_COLUMNS if c in bars.columns]
    history = bars.iloc[:a]
    chains = market.chains
    known = chains[chains["timestamp"] <= history.index[-1]] if chains is not None and len(chains) else None
    feed_ref: dict[str, LiveFeed] = {}
    quoter = TradierQuoter(client, spec.trading.symbol, time_of=lambda i: feed_ref["feed"].timestamps[i])
    feed = LiveFeed(history, bars.index[a:b], quoter, dict(market.meta), chains=known)
    feed_ref["feed"] = feed
    row_of = {ts: k for k, ts in enumerate(bars.index)}
    recorded = bars[extras].to_numpy(dtype=float) if extras else None

    def extra(ts: pd.Timestamp) -> dict[str, float]:
        if recorded is None:
            return {}
        return dict(zip(extras, recorded[row_of[ts]].tolist(), strict=True))

    interval = str(market.meta.get("interval") or spec.data.interval)
    notes = ["bars over HTTP from the local server's time & sales; vix/spread/quote_size from the recorded market"]
    if interval in NATIVE_INTERVALS:
        source = TradierBarSource(client, spec.trading.symbol, interval, extras=extra)

        def fetch(i: int) -> dict[str, float] | None:
            return source.fetch(feed.timestamps[i])
    else:
        notes = [f"{interval} bars are not served by time & sales; bars come from the recorded market"]

        def fetch(i: int) -> dict[str, float] | None:
            return {c: float(bars[c].iloc[i]) for c in bars.columns}

    def before(i: int) -> None:
        if sim.index < i:
            sim.set_index(i)

    def chains_until(i: int) -> pd.DataFrame | None:
        if chains is None or len(chains) == 0:
            return None
        lo = feed.timestamps[i - 1]
        hi = feed.timestamps[i]
        return chains[(chains["timestamp"] > lo) & (chains["timestamp"] <= hi)]

    def close() -> None:
        client.close()
        if own:
            sim.stop()

    venue = Venue("replay", client, broker, fetch, before_bar=before, chains_until=chains_until, close=close,
                  notes=notes, fresh_account=own)
    return venue, feed, sim


# ------------------------------------------------------------------------------------------ wall clock
def env_client(live: bool) -> TradierClient:
    """A client from TRADIER_TOKEN/TRADIER_ACCOUNT_ID/TRADIER_ENV; paper refuses a live environment and live
    refuses anything else."""
    client = TradierClient.from_env()
    if live and client.env != "live":
        raise TradierConfigError("`gaussian live` needs a live token: set TRADIER_ENV=live with the live "
                                 "TRADIER_TOKEN and TRADIER_ACCOUNT_ID.")
    if not live and client.env == "live":
        raise TradierConfigError("TRADIER_ENV is live: `gaussian paper` trades the sandbox only (use `gaussian "
                                 "live` for real money).")
    return client


def session_index(day: dt.date, interval: str) -> pd.DatetimeIndex:
    """Bar start times of `day`'s regular session at `interval` (exchange calendar)."""
    from trader.market.calendar import minute_index, schedule

    sched = schedule(day, day)
    if len(sched) == 0:
        raise DataError(f"{day} is not a trading session on the exchange calendar; paper trading runs on "
                        "session days")
    minutes = minute_index(sched)
    step = INTERVAL_MINUTES[interval]
    return minutes[::step]


def wall_venue(kind: str, spec: ExperimentSpec, client: TradierClient, columns: list[str],
               history_sessions: int = 5, max_wait_s: float = 1200.0, poll_s: float = 5.0,
               today: dt.date | None = None) -> tuple[Venue, LiveFeed]:
    """Tradier on the wall clock (kind sandbox, live or sim-on-tradier): today's session, the previous
    `history_sessions` sessions as history from time & sales (optional columns NaN there), bars fetched once
    closed (waiting up to `max_wait_s` for Tradier's delayed data), a chain snapshot at the first bar."""
    from trader.market.calendar import schedule
    from trader.market.tradier_history import TradierHistorySource

    interval = spec.data.interval
    if interval not in NATIVE_INTERVALS:
        raise DataError(f"data.interval {interval} is not a Tradier time & sales interval "
                        f"({', '.join(NATIVE_INTERVALS)}); paper trading needs one of them")
    day = today or pd.Timestamp.now(tz=TZ).date()
    session = session_index(day, interval)
    past = schedule(day - dt.timedelta(days=7 * history_sessions + 14), day - dt.timedelta(days=1))
    days = list(past.index)[-history_sessions:]
    if not days:
        raise DataError(f"no sessions before {day} on the exchange calendar")
    symbol = spec.trading.symbol
    history = TradierHistorySource(client).fetch(symbol, days[0], days[-1], interval)
    for c in columns:
        history[c] = np.nan
    extras = [c for c in columns if c in EXTRA_COLUMNS]
    delta = pd.Timedelta(minutes=INTERVAL_MINUTES[interval])
    feed_ref: dict[str, LiveFeed] = {}
    quoter = TradierQuoter(client, symbol, time_of=lambda i: feed_ref["feed"].timestamps[i] + delta)
    feed = LiveFeed(history, session, quoter, {"source": f"tradier-{kind}", "symbol": symbol, "interval": interval})
    feed_ref["feed"] = feed
    source = TradierBarSource(client, symbol, interval, columns=tuple(extras))

    def before(i: int) -> None:
        due = feed.timestamps[i] + delta + pd.Timedelta(seconds=2)
        while (wait := (due - pd.Timestamp.now(tz=TZ)).total_seconds()) > 0:
            time.sleep(min(wait, 30.0))

    def fetch(i: int) -> dict[str, float] | None:
        deadline = time.monotonic() + max_wait_s
        while True:
            bar = source.fetch(feed.timestamps[i])
            if bar is not None or time.monotonic() >= deadline:
                return bar
            time.sleep(poll_s)

    def chains_until(i: int) -> pd.DataFrame | None:
        if i != feed.first_session_bar:
            return None
        snap = quoter.chain(i, spec.data.max_dte)
        if len(snap):
            snap["timestamp"] = feed.timestamps[i]
        return snap

    def first_live() -> int:
        now = pd.Timestamp.now(tz=TZ)
        closed = int(np.searchsorted(feed.timestamps.asi8, (now - delta).value, side="right"))
        return max(feed.first_session_bar, closed)

    notes = [(f"{kind}: wall clock, Tradier market data (sandbox data is 15 minutes delayed); history bars lack "
              f"{', '.join(extras) or 'no'} columns (filled as in training)")]
    broker = "sim" if kind == "sim-on-tradier" else "tradier"
    venue = Venue(kind, client, broker, fetch, before_bar=before, chains_until=chains_until, close=client.close,
                  first_live_bar=first_live, notes=notes)
    return venue, feed


# ------------------------------------------------------------------------------------------- composing
def open_session(pipe: PaperPipeline, venue_name: str, home: Path, limits: PaperLimits, *,
                 day: dt.date | None = None, market: Market | None = None, session: str | None = None,
                 arrays_mode: str = "stream", history_sessions: int = 5,
                 broker: str | None = None) -> tuple[PaperSession, Venue]:
    """A paper session of the pipeline at a venue (replay, sandbox, sim-on-tradier or live), under
    <home>/paper/<session>/ (default name: <venue>-<day>); `broker` "sim" makes the replay venue fill with
    the SimBroker."""
    spec = pipe.spec
    if venue_name == "replay":
        venue, feed, _ = replay_venue(market if market is not None else pipe.market, spec, day,
                                      broker=broker or "tradier")
    elif venue_name in ("sandbox", "sim-on-tradier", "live"):
        client = env_client(live=venue_name == "live")
        columns = [c for c in EXTRA_COLUMNS if c in pipe.market.bars.columns]
        venue, feed = wall_venue(venue_name, spec, client, columns, history_sessions=history_sessions, today=day)
    else:
        raise StateError(f"venue {venue_name!r} is not one of {', '.join(VENUES)}")
    name = session or f"{venue_name}-{feed.timestamps[feed.first_session_bar].date()}"
    first = max(0, feed.first_session_bar - spec.model.window)
    paper = PaperSession(home / "paper" / name, home, spec, pipe.strategy, feed, venue, limits,
                         fitted=pipe.fitted, exit_model=pipe.exit_model, run_id=pipe.run_id, first=first,
                         arrays_mode=arrays_mode)
    return paper, venue
