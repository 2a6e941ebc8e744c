"""`gaussian paper` (the promoted model through the engine against a Tradier venue) and `gaussian live`."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Optional

import typer
import yaml
from rich.console import Console

from trader.errors import GaussianError

console = Console()
CONFIRMATION = "I accept real-money risk"


class PaperError(GaussianError):
    """Paper or live trading cannot start as asked."""


def _kill_switches(home: Path, overrides: dict):  # noqa: ANN202
    from experiments.paper import KillSwitches

    path = home / "paper.yaml"
    data = yaml.safe_load(path.read_text()) if path.exists() else {}
    data = {**(data or {}).get("kill_switches", {}), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return KillSwitches(**data)
    except ValueError as exc:
        raise PaperError(f"{path}: bad kill_switches: {str(exc).splitlines()[0]}") from None


def run_replay(run: str | None, day: str | None, session: str | None, bars: int | None, kill: dict,
               resume: bool) -> Path:
    """Paper trade a run's pipeline against the local Tradier replaying one session of its market."""
    from experiments.backtest import truncated
    from experiments.home import home_dir
    from experiments.market_loader import load_market_for
    from experiments.paper import PaperSession, session_bounds
    from experiments.pipeline import build_pipeline
    from experiments.run_store import read_json, resolve_run
    from experiments.spec_io import validate_spec
    from experiments.splits import split_bars
    from trader.broker.tradier_client import TradierClient
    from trader.broker.tradier_sim import TradierSim

    home = home_dir()
    if run is None:
        promoted = home / "runs" / "promoted.json"
        if not promoted.exists():
            raise PaperError("no run is promoted (runs/promoted.json missing): promote one or pass --run RUN")
        run = read_json(promoted)["run_id"]
    run_dir = resolve_run(run)
    spec = validate_spec(read_json(run_dir / "spec.json")["spec"], str(run_dir / "spec.json"))
    market = load_market_for(spec)
    a, b = session_bounds(market, dt.date.fromisoformat(day) if day else None)
    if bars:
        b = min(b, a + bars)
    splits = split_bars(market.bars.index, spec.splits.train, spec.splits.validation, spec.splits.embargo_bars)
    pipe = build_pipeline(spec, truncated(market, b), splits.train, run_dir / "models", window=(a, b), reuse=True)
    fitted = None
    if pipe.series.names():
        from experiments.pipeline import load_models

        fitted = load_models(spec, truncated(market, b), splits.train, run_dir / "models")
    name = session or f"{run_dir.name}-{market.bars.index[a].date()}"
    sdir = home / "paper" / name
    if sdir.exists() and not resume and (sdir / "state.json").exists():
        raise PaperError(f"paper session {sdir} exists: pass --resume to continue it or --session NEW")
    token, account = "sim-token", "VA00000001"
    with TradierSim(market, token=token, account_id=account, cash=spec.trading.initial_balance, start_index=a,
                    rate_limit=1_000_000) as sim:
        client = TradierClient(token, account, base_url=sim.url)
        ps = PaperSession(sdir, home, spec, fitted, pipe.strategy, market, client, _kill_switches(home, kill),
                          run_id=run_dir.name, advance=sim.set_index)
        start = a
        if resume:
            nxt = ps.resume()
            start = max(a, nxt)
        console.print(f"paper trading run {run_dir.name} on {market.bars.index[a].date()} "
                      f"(bars {start}..{b - 1}) against the local Tradier at {sim.url}")
        metrics = ps.run(start, b)
    console.print(f"{len(ps.engine.decisions)} decisions, {metrics.get('trades', 0)} trades, "
                  f"P&L {metrics.get('pnl', 0.0):+.2f}; stopped: {ps.stopped or 'no'}")
    console.print(f"session files: {sdir} (journal.jsonl, state.json, trades, metrics, ANALYSIS.md)")
    return sdir


def register(cli: typer.Typer) -> None:
    """Attach `paper` and `live`."""

    @cli.command("paper")
    def paper(
        run: Optional[str] = typer.Option(None, "--run", help="Run to trade (default: the promoted run)."),
        venue: str = typer.Option("replay", "--venue", help="replay (local Tradier) | sandbox | sim-on-tradier"),
        day: Optional[str] = typer.Option(None, "--day", help="Session to replay, YYYY-MM-DD (default: last)."),
        bars: Optional[int] = typer.Option(None, "--bars", min=1, help="Stop after this many bars."),
        session: Optional[str] = typer.Option(None, "--session", help="Session name under paper/."),
        resume: bool = typer.Option(False, "--resume", help="Continue a session, reconciling with the broker."),
        max_daily_loss: Optional[float] = typer.Option(None, "--max-daily-loss"),
        max_open_positions: Optional[int] = typer.Option(None, "--max-open-positions"),
        max_orders_per_minute: Optional[int] = typer.Option(None, "--max-orders-per-minute"),
        halt_file: Optional[str] = typer.Option(None, "--halt-file"),
    ) -> None:
        """Paper trade the promoted model's exact pipeline through the engine."""
        if venue != "replay":
            raise PaperError(f"venue '{venue}' needs a real-time bar feed from Tradier, which this build does not "
                             "have yet; use --venue replay")
        run_replay(run, day, session, bars, {"max_daily_loss": max_daily_loss,
                                             "max_open_positions": max_open_positions,
                                             "max_orders_per_minute": max_orders_per_minute,
                                             "halt_file": halt_file}, resume)

    @cli.command("live")
    def live(
        live_flag: bool = typer.Option(False, "--live", help="Required: you mean real money."),
        confirm: Optional[str] = typer.Option(None, "--confirm", help=f"Type exactly: {CONFIRMATION}"),
    ) -> None:
        """Live trading: refuses unless a live token, --live and the typed confirmation are all present."""
        token = os.environ.get("TRADIER_TOKEN")
        if not token or os.environ.get("TRADIER_ENV", "sandbox") != "live":
            raise PaperError("live trading refused: set TRADIER_TOKEN to a live token and TRADIER_ENV=live")
        if not live_flag:
            raise PaperError("live trading refused: pass --live")
        if confirm != CONFIRMATION:
            raise PaperError(f"live trading refused: pass --confirm \"{CONFIRMATION}\" exactly")
        raise PaperError("live trading is not available in this build: the live venue needs a real-time bar feed "
                         "that is not built yet; nothing was sent")
