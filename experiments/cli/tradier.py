"""`gaussian tradier-sim`: serve a cached or synthetic market over Tradier's REST wire format on 127.0.0.1."""
import json
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from experiments.cli.tables import make_console
from trader.errors import GaussianError

if TYPE_CHECKING:
    from trader.market.base import Market

app = typer.Typer(help="A local Tradier server replaying a market (for the paper loop, demos and tests).",
                  no_args_is_help=True)
console = make_console()


@app.callback()
def _group() -> None:
    """The local Tradier server (a subcommand group, so `serve` keeps its name)."""


def _market(name: str | None, sessions: int, seed: int, edge: float) -> "Market":
    if name:
        from experiments.cli.data import load_named_market

        return load_named_market(name)
    from trader.market.synthetic import generate_synthetic

    return generate_synthetic(sessions=sessions, seed=seed, edge=edge)


@app.command("serve")
def serve(
    market: Annotated[str | None, typer.Option("--market", help="Cached market name under data/ "
                                               "(default: a fresh synthetic market).")] = None,
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Synthetic sessions (without --market).")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Synthetic seed.")] = 0,
    edge: Annotated[float, typer.Option("--edge", min=0.0, help="Synthetic planted edge.")] = 0.3,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0 = any free).")] = 8765,
    token: Annotated[str, typer.Option("--token", envvar="TRADIER_SIM_TOKEN",
                                       help="Bearer token the server accepts.")] = "sim-token",
    account: Annotated[str, typer.Option("--account", help="The account number it serves.")] = "VA00000001",
    cash: Annotated[float, typer.Option("--cash", min=0.0, help="Starting cash.")] = 100_000.0,
    start_index: Annotated[int, typer.Option("--start-index", min=0, help="First bar position.")] = 0,
    advance_every: Annotated[float, typer.Option("--advance-every", min=0.0,
                                                 help="Seconds per bar (0 = only on POST /v1/sim/advance).")] = 0.0,
    max_seconds: Annotated[float, typer.Option("--max-seconds", min=0.0,
                                               help="Stop after this many seconds (0 = until Ctrl-C).")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the server's address as one JSON line.")] = False,
) -> None:
    """Serve a market on 127.0.0.1 until Ctrl-C, one bar per --advance-every seconds or per POST /v1/sim/advance."""
    data = _market(market, sessions, seed, edge)
    from trader.broker.tradier_sim import TradierSim

    sim = TradierSim(data, token=token, account_id=account, cash=cash, start_index=start_index, port=port)
    try:
        sim.start()
    except OSError as exc:
        raise GaussianError(f"Cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); pick another --port.") \
            from None
    info = {"url": sim.url, "account_id": account, "bars": sim.view.n, "index": sim.index,
            "time": sim.now.isoformat(), "advance_every_s": advance_every}
    if as_json:
        typer.echo(json.dumps(info))
    else:
        table = Table(title="local Tradier server", show_header=False)
        for key, value in info.items():
            table.add_row(key, str(value))
        console.print(table)
        console.print(f"point a client at it: TRADIER_BASE_URL={sim.url} TRADIER_ACCOUNT_ID={account} "
                      "TRADIER_TOKEN=<the --token value>")
        console.print(f"advance one bar: curl -X POST -H 'Authorization: Bearer <token>' "
                      f"-H 'Accept: application/json' {sim.url}/sim/advance")
    if advance_every > 0:
        sim.autoplay(advance_every)
    deadline = time.monotonic() + max_seconds if max_seconds > 0 else None
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.05 if deadline is not None else 0.5)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
