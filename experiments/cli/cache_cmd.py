"""`gaussian cache list` and `gaussian cache clear`: the fitted-model cache in the home."""
import datetime as dt
import json
from typing import Annotated

import typer
from rich.table import Table

from experiments.cli.tables import make_console

app = typer.Typer(help="The fitted-model cache (models reused by runs that change nothing they depend on).",
                  no_args_is_help=True)


def _cache():
    from experiments.runs.model_cache import ModelCache

    cache = ModelCache.from_home()
    if cache is None:
        typer.echo("the model cache is off (GAUSSIAN_MODEL_CACHE_MB=0)")
        raise typer.Exit(0)
    return cache


@app.command("list")
def cache_list(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Cached models, most recently used first, with their size and the bound."""
    cache = _cache()
    rows = [{"kind": e.kind, "key": e.key, "bytes": e.size,
             "last_used": dt.datetime.fromtimestamp(e.last_used, dt.UTC).isoformat(timespec="seconds")}
            for e in cache.entries()]
    if as_json:
        typer.echo(json.dumps({"root": str(cache.root), "max_bytes": cache.max_bytes, "entries": rows}, indent=2))
        return
    t = Table(title=f"model cache ({sum(r['bytes'] for r in rows) / 1e6:.1f} of {cache.max_bytes / 1e6:.0f} MB)")
    for col in ("kind", "key", "size", "last used (UTC)"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["kind"], r["key"], f"{r['bytes'] / 1e6:.2f} MB", r["last_used"])
    make_console().print(t)


@app.command("clear")
def cache_clear() -> None:
    """Remove every cached model (runs keep their own copies under runs/<id>/models/)."""
    n = _cache().clear()
    typer.echo(f"removed {n} cached model{'s' if n != 1 else ''}")
