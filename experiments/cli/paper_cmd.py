"""`gaussian paper` (the promoted model through the engine at a paper venue) and `gaussian live` (refuses unless
a live token, --live and a typed confirmation are all there)."""
import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from experiments.cli.tables import make_console

console = make_console()
CONFIRMATION = "I accept real-money risk"
VENUE_HELP = ("replay: a local Tradier server replaying a recorded day; sandbox: Tradier's paper account on the "
              "wall clock; sim-on-tradier: Tradier quotes, simulated fills")


def _refuse(message: str) -> None:
    """One clear line on stderr, exit code 2."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def session_table(doc: dict[str, Any], session_dir: Path) -> Table:
    """A paper session's summary: bars, decisions, orders, trades, P&L, kill switch, loop time, directory."""
    m = doc.get("metrics") or {}
    t = Table(title=f"paper session {session_dir.name} ({doc.get('venue')})")
    t.add_column("")
    t.add_column("value", justify="right")
    per_bar = doc.get("loop_seconds_per_bar")
    rows = [("bars", (doc.get("window") or {}).get("bars", 0)), ("decisions", doc.get("decisions")),
            ("orders", doc.get("orders")), ("rejected orders", doc.get("rejected_orders")),
            ("trades", m.get("trades")), ("P&L $", m.get("pnl")), ("complete day", doc.get("complete")),
            ("kill switch", doc.get("stopped") or "-"),
            ("loop ms / bar", f"{per_bar * 1000:.1f}" if per_bar else "-"), ("directory", str(session_dir))]
    for k, v in rows:
        t.add_row(k, f"{v:,.2f}" if isinstance(v, float) else str(v))
    return t


def _run(run: str | None, venue: str, day: str | None, market: str | None, session: str | None,
         bars: int | None, overrides: dict[str, Any], arrays: str, as_json: bool, resume: bool,
         report_to: str | None = None, broker: str | None = None) -> None:
    from experiments.home import home_dir
    from experiments.paper import reporting
    from experiments.paper.guard import load_limits
    from experiments.paper.venues import load_pipeline, open_session

    home = home_dir()
    when = dt.date.fromisoformat(day) if day else None
    limits = load_limits(home, overrides)
    report = reporting.load_settings(home, report_to)
    pipe = load_pipeline(run)
    data = None
    if market:
        from experiments.cli.data import load_named_market

        data = load_named_market(market)
    paper, place = open_session(pipe, venue, home, limits, day=when, market=data, session=session,
                                arrays_mode=arrays, broker=broker)
    if (paper.dir / "state.json").exists() and not resume:
        place.close()
        _refuse(f"paper session {paper.dir} exists: pass --resume to continue it (reconciling with the broker) "
                "or --session NEW")
    def show(i: int, row: dict[str, Any]) -> None:
        if as_json or (venue == "replay" and not row["decisions"]):
            return
        acts = "; ".join(f"{a} {'call' if d > 0 else 'put' if d < 0 else ''}".strip() if a == "open" else f"{a} #{p}"
                         for intents in row["decisions"] for a, d, p in intents)
        console.print(f"{row['time'][:16]}  equity {row['equity']:,.2f}  open {row['n_open']}"
                      + (f"  {acts}" if acts else "") + (f"  [stopped: {row['stopped']}]" if row["stopped"] else ""))

    reporter = reporting.attach(paper, home, report)
    doc = None
    try:
        doc = paper.run(max_bars=bars, on_bar=show)
    finally:
        place.close()
        if reporter is not None and doc is None:  # the session failed: what is queued waits for the next one
            reporter.close(report.flush_seconds)
    if reporter is not None:
        left = reporting.finish(reporter, paper, doc, report)
        if left and not as_json:
            console.print(f"[yellow]{left} Data Manager report(s) wait in the outbox[/yellow] (sent next session)")
    if as_json:
        typer.echo(json.dumps({"session_dir": str(paper.dir), **doc}, default=str))
    else:
        console.print(session_table(doc, paper.dir))


def register(cli: typer.Typer) -> None:
    """Attach `paper` and `live`."""

    @cli.command("paper")
    def paper(
        run: Annotated[str | None, typer.Option("--run", help="Run id (default: the promoted run).")] = None,
        venue: Annotated[str, typer.Option("--venue", help=VENUE_HELP)] = "replay",
        broker: Annotated[str | None, typer.Option("--broker", help="replay: tradier (orders go to the local "
                                                   "server, the default) or sim (the SimBroker fills them on its "
                                                   "quotes, as sim-on-tradier does on Tradier's).")] = None,
        day: Annotated[str | None, typer.Option("--day", help="replay: the session to replay, YYYY-MM-DD "
                                                   "(default: the market's last).")] = None,
        market: Annotated[str | None, typer.Option("--market", help="replay: a cached market instead of the "
                                                      "run's own data.")] = None,
        session: Annotated[str | None, typer.Option("--session", help="Session name under paper/ (default "
                                                       "<venue>-<day>).")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an existing session, reconciling it "
                                             "with the broker.")] = False,
        bars: Annotated[int | None, typer.Option("--bars", min=1, help="Process at most this many bars "
                                                    "now (the session resumes later).")] = None,
        max_daily_loss: Annotated[float | None, typer.Option("--max-daily-loss", min=0.01,
                                                               help="Kill switch: $ loss in the day.")] = None,
        max_open_positions: Annotated[int | None, typer.Option("--max-open-positions", min=1,
                                                                 help="Kill switch: open positions.")] = None,
        max_orders_per_minute: Annotated[int | None, typer.Option("--max-orders-per-minute", min=1,
                                                                    help="Kill switch: orders a minute.")] = None,
        halt_file: Annotated[str | None, typer.Option("--halt-file", help="Kill switch: no entries while "
                                                         "this file exists (default <home>/HALT).")] = None,
        arrays: Annotated[str, typer.Option("--arrays", help="stream (default) or recompute the per-bar "
                                            "arrays each bar.")] = "stream",
        as_json: Annotated[bool, typer.Option("--json", help="Print the session's metrics as JSON.")] = False,
        report_to: Annotated[str | None, typer.Option("--report-to", help="Report the bot to this Data Manager "
                                                      "URL (see paper.yaml's data_manager).")] = None,
    ) -> None:
        """Paper-trade the promoted model's exact pipeline, one bar at a time, with kill switches and a journal."""
        from experiments.paper.venues import VENUES

        if venue not in VENUES:
            _refuse(f"--venue {venue!r} is not one of {', '.join(VENUES)}")
        if (day or market) and venue != "replay":
            _refuse("--day and --market apply to --venue replay only (the other venues trade today)")
        if broker is not None and (venue != "replay" or broker not in ("tradier", "sim")):
            _refuse(f"--broker {broker!r}: tradier or sim, with --venue replay only (sandbox sends orders to "
                    "Tradier, sim-on-tradier fills them with the SimBroker)")
        overrides = {"max_daily_loss": max_daily_loss, "max_open_positions": max_open_positions,
                     "max_orders_per_minute": max_orders_per_minute, "halt_file": halt_file}
        _run(run, venue, day, market, session, bars, overrides, arrays, as_json, resume, report_to, broker)

    @cli.command("live")
    def live(
        run: Annotated[str | None, typer.Option("--run", help="Run id (default: the promoted run).")] = None,
        live_flag: Annotated[bool, typer.Option("--live", help="Trade real money (required).")] = False,
        confirm: Annotated[str | None, typer.Option("--confirm", help=f"Type exactly: {CONFIRMATION}")] = None,
        session: Annotated[str | None, typer.Option("--session", help="Session name under paper/.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue an existing session.")] = False,
        max_daily_loss: Annotated[float | None, typer.Option("--max-daily-loss", min=0.01)] = None,
        max_open_positions: Annotated[int | None, typer.Option("--max-open-positions", min=1)] = None,
        max_orders_per_minute: Annotated[int | None, typer.Option("--max-orders-per-minute", min=1)] = None,
        halt_file: Annotated[str | None, typer.Option("--halt-file")] = None,
    ) -> None:
        """Live trading with real money: refused unless a live token, --live and the typed confirmation are given."""
        if not live_flag:
            _refuse("live trading is off: pass --live to trade real money (paper trading: `gaussian paper`)")
        token = os.environ.get("TRADIER_TOKEN", "").strip()
        env = os.environ.get("TRADIER_ENV", "sandbox").strip().lower()
        if not token or env != "live" or not os.environ.get("TRADIER_ACCOUNT_ID", "").strip():
            _refuse("no live token: set TRADIER_ENV=live, TRADIER_TOKEN (the live token) and TRADIER_ACCOUNT_ID")
        if confirm is None:
            try:
                confirm = typer.prompt(f"Type \"{CONFIRMATION}\" to trade real money", default="",
                                       show_default=False)
            except (typer.Abort, EOFError):
                typer.echo()  # end the prompt's line
                _refuse(f"live trading needs the typed confirmation: --confirm \"{CONFIRMATION}\"")
        if confirm.strip() != CONFIRMATION:
            _refuse(f"the confirmation did not match \"{CONFIRMATION}\"; nothing was traded")
        overrides = {"max_daily_loss": max_daily_loss, "max_open_positions": max_open_positions,
                     "max_orders_per_minute": max_orders_per_minute, "halt_file": halt_file}
        _run(run, "live", None, None, session, None, overrides, "stream", False, resume)
