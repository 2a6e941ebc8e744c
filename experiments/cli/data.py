"""`gaussian data`: generate, import, fetch and inspect cached markets under the home's data/ folder."""
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from experiments.cli.tables import make_console
from experiments.home import home_dir
from trader.errors import DataError, GaussianError

if TYPE_CHECKING:
    from trader.market.base import Market

app = typer.Typer(help="Market data: generate synthetic markets, import files, cache real daily history, inspect.",
                  no_args_is_help=True)
console = make_console()

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def market_dir(name: str) -> Path:
    """The cache folder of a named market: <home>/data/<name>/ (the name is checked: letters, digits, _ . -)."""
    if not _NAME.match(name) or ".." in name:
        raise DataError(f"Market name {name!r} is not allowed; use letters, digits, '_', '.' or '-' (max 64).")
    return home_dir() / "data" / name


def load_named_market(name: str) -> "Market":
    """Load a cached market by name, with a hint when it does not exist."""
    folder = market_dir(name)
    if not folder.is_dir():
        raise DataError(f"No market named {name!r} under {folder.parent}; try `gaussian data generate --name {name}`.")
    from trader.market.store import load_market

    return load_market(folder)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _summary_table(name: str, info: dict[str, Any]) -> Table:
    table = Table(title=f"market {name}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in ("source", "symbol", "interval", "sessions", "bars", "start", "end", "first_close", "last_close",
                "seed", "edge", "vix_min", "vix_mean", "vix_max", "options_modeled", "chain_rows", "gaps",
                "context_series"):
        if key in info:
            table.add_row(key, _fmt(info[key]))
    for axis, occ in (info.get("regime_occupancy") or {}).items():
        table.add_row(f"{axis} regimes", ", ".join(f"{k} {v:.0%}" for k, v in occ.items()))
    return table


def _saved(name: str, market: "Market") -> None:
    from trader.market.store import save_market
    from trader.market.summary import summarize

    folder = save_market(market, market_dir(name))
    console.print(_summary_table(name, summarize(market)))
    console.print(f"saved to {folder}")


@app.command("generate")
def generate(
    name: Annotated[str, typer.Option("--name", help="Cache name under data/.")] = "default",
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Number of trading sessions.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    edge: Annotated[float, typer.Option("--edge", min=0.0, help="Planted momentum strength (0 = null market).")] = 1.0,
    start: Annotated[str, typer.Option("--start", help="First session on or after this date.")] = "2024-01-02",
    context: Annotated[bool, typer.Option("--context", help="Also generate the 15 context series and the "
                                                              "constituent panel.")] = False,
    lead_lag: Annotated[float, typer.Option("--lead-lag", min=0.0, max=0.9,
                                            help="Planted lead of the context series (with --context).")] = 0.0,
) -> None:
    """Generate a synthetic market (1-minute bars, daily option chains, hidden regimes) and cache it."""
    from trader.market.synthetic import generate_synthetic

    with console.status(f"generating {sessions} sessions"):
        market = generate_synthetic(sessions=sessions, start=start, seed=seed, edge=edge)
    if context:
        from trader.market.synthetic_context import generate_context

        market.context = generate_context(market, seed=seed, lead_lag=lead_lag)
    _saved(name, market)


@app.command("edge")
def edge(
    edges: Annotated[list[float] | None, typer.Argument(help="Edges to express (default 0 0.3 0.5 1 2).")] = None,
    horizon: Annotated[int, typer.Option("--horizon", min=1, max=390, help="Holding period in bars.")] = 45,
    cost: Annotated[float, typer.Option("--cost", min=0.0, help="Round-trip option cost per share ($): "
                                                                 "spread plus fees.")] = 0.048,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The synthetic planted edge in basis points of drift, the oracle's annualised Sharpe, and the break-even edge."""
    from trader.market.edge_units import edge_units

    rows = [edge_units(e, horizon, cost_per_share=cost) for e in (edges or [0.0, 0.3, 0.5, 1.0, 2.0])]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    table = Table(title=f"planted edge at a {horizon}-bar hold (round-trip cost ${cost:.3f}/share, delta 0.5)")
    for col in ("edge", "drift bp/bar", f"drift bp/{horizon} bars", "oracle Sharpe (annual)"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(f"{r.edge:g}", f"{r.drift_bps_per_bar:.3f}", f"{r.drift_bps_at_horizon:.1f}",
                      f"{r.oracle_sharpe_annual:.1f}")
    console.print(table)
    console.print(f"break-even edge for an oracle trading options: {rows[0].break_even_edge:.3f}", highlight=False)


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Bars file (CSV or Parquet).")],
    name: Annotated[str | None, typer.Option("--name", help="Cache name (default: the file's stem).")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="Zone of naive timestamps, e.g. America/New_York.")] = None,
    options: Annotated[Path | None, typer.Option("--options", help="Option snapshot file (CSV or Parquet).")] = None,
    symbol: Annotated[str, typer.Option("--symbol", help="Underlying symbol.")] = "SPY",
    context: Annotated[Path | None, typer.Option("--context", help="Context series: a long file "
                                                 "(symbol,timestamp,...) or a folder of per-symbol files.")] = None,
) -> None:
    """Validate and cache user bars (and option snapshots, context series); naive timestamps need --tz."""
    from trader.market.files import load_market_files

    market = load_market_files(path, options_path=options, tz=tz, symbol=symbol.upper())
    if context is not None:
        from trader.market.context_files import load_context

        market.context = load_context(context, tz=tz)
    _saved(name or path.stem, market)
    gaps = market.meta.get("gaps") or []
    if gaps:
        first = gaps[0]
        console.print(f"[yellow]{len(gaps)} gap(s) in the bars[/yellow] (first: {first['kind']} at {first['start']})")


@app.command("real")
def real(
    name: Annotated[str, typer.Option("--name", help="Cache name under data/.")] = "spx-daily",
    start: Annotated[str | None, typer.Option("--start", help="First date (default: 1999-01-04).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date (default: 2018-12-31).")] = None,
) -> None:
    """Cache the arch package's S&P 500 daily history (scaled 1/10 as an SPY stand-in, options modeled)."""
    from trader.market.real_daily import load_real_daily

    with console.status("loading S&P 500 daily history"):
        market = load_real_daily(start, end)
    _saved(name, market)


@app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False) -> None:
    """List cached markets."""
    from trader.market.store import list_markets

    items = list_markets(home_dir() / "data")
    if as_json:
        typer.echo(json.dumps([{k: v for k, v in m.items() if k != "gaps"} for m in items], indent=2, default=str))
        return
    if not items:
        console.print("no cached markets; try `gaussian data generate`")
        return
    table = Table(title="cached markets")
    for col in ("name", "source", "interval", "sessions", "bars", "start", "end", "edge", "options"):
        table.add_column(col, justify="right" if col in ("sessions", "bars", "edge") else "left")
    for m in items:
        table.add_row(m["name"], _fmt(m.get("source")), _fmt(m.get("interval")), _fmt(m.get("sessions")),
                      _fmt(m.get("bars")), _fmt(m.get("start")), _fmt(m.get("end")), _fmt(m.get("edge")),
                      "modeled" if m.get("options_modeled") else "recorded")
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Cached market name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Summarise a cached market: sessions, bars, dates, regime occupancy, VIX range, chain rows, gaps."""
    from trader.market.summary import summarize

    market = load_named_market(name)
    info = summarize(market)
    if as_json:
        typer.echo(json.dumps({"name": name, **info, "description": market.meta.get("description")}, indent=2,
                              default=str))
        return
    console.print(_summary_table(name, info))
    if market.meta.get("description"):
        console.print(market.meta["description"])
    for gap in (market.meta.get("gaps") or [])[:10]:
        console.print(f"  gap: {gap['kind']} {gap['start']} .. {gap['end']} ({gap['bars']} bars)")


@app.command("collect")
def collect(
    symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated symbols.")] = "SPY",
    interval: Annotated[str, typer.Option("--interval", help="Bar interval: 1min, 5min, 15min, ..., 1day.")] = "1min",
    chains: Annotated[bool, typer.Option("--chains", help="Also store option-chain snapshots.")] = False,
    days: Annotated[int, typer.Option("--days", min=1, help="Sessions to fetch when nothing is stored yet.")] = 5,
    expirations: Annotated[int, typer.Option("--expirations", min=1, help="With --chains: the nearest N "
                                             "expirations.")] = 2,
    every: Annotated[str | None, typer.Option("--every", help="Keep collecting every 30s / 15m / 1h "
                                              "(APScheduler) until Ctrl-C.")] = None,
    runs: Annotated[int | None, typer.Option("--runs", min=1, help="With --every: stop after this many "
                                             "passes.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default <home>/datamanager.db; "
                                           "postgresql://... works too).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each pass as one JSON line.")] = False,
) -> None:
    """Pull bars (and option chains) from Tradier (TRADIER_TOKEN, TRADIER_ACCOUNT_ID, TRADIER_BASE_URL) into the
    Data Manager's database, adding only what is not stored yet."""
    from experiments.web.datamanager.collector import check_interval, collect_once, parse_every
    from experiments.web.datamanager.db import open_database
    from trader.broker.tradier_client import TradierClient

    names = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    bad = [s for s in names if not _NAME.match(s)]
    if not names or bad:
        raise DataError(f"--symbols {symbols!r}: give symbols like SPY or SPY,QQQ")
    check_interval(interval)
    period = parse_every(every) if every else None
    engine = open_database(home_dir(), db)
    client = TradierClient.from_env()

    def one_pass() -> None:
        result = collect_once(engine, client, names, interval, chains=chains, days=days, expirations=expirations)
        if as_json:
            typer.echo(json.dumps(result))
            return
        for r in result:
            console.print(f"{r['symbol']} {r['interval']}: {r['bars_added']:,} new bars"
                          + (f", {r['chain_rows_added']:,} chain rows" if chains else "")
                          + f" ({r['from']}..{r['to']})")

    try:
        if period is None:
            one_pass()
        else:
            _collect_every(one_pass, period, runs)
    finally:
        client.close()
        engine.dispose()


def _collect_every(job: Any, seconds: float, runs: int | None) -> None:
    """Run `job` now and every `seconds` under APScheduler (one at a time), `runs` times or until Ctrl-C; a failed
    pass is reported and the next one tries again."""
    import datetime as dt
    import threading

    from apscheduler.schedulers.background import BackgroundScheduler

    done = threading.Event()
    count = 0

    def tick() -> None:
        nonlocal count
        try:
            job()
        except GaussianError as exc:
            typer.secho(f"collect failed (retrying next pass): {exc}", fg=typer.colors.YELLOW, err=True)
        count += 1
        if runs is not None and count >= runs:
            done.set()

    sched = BackgroundScheduler()
    sched.add_job(tick, "interval", seconds=seconds, next_run_time=dt.datetime.now(dt.UTC), max_instances=1,
                  coalesce=True)
    sched.start()
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sched.shutdown(wait=True)
