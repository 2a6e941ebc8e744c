"""`gaussian serve`: the web dashboard over a home (FastAPI and Uvicorn are imported only when it runs, so the
rest of the CLI starts fast)."""
from pathlib import Path
from typing import Annotated

import typer


def register(cli: typer.Typer) -> None:
    """Attach the `serve` command."""

    @cli.command("serve")
    def serve(
        home: Annotated[Path | None, typer.Option("--home", help="The home to serve (default: the global "
                                                   "--home, GAUSSIAN_HOME or the cwd).")] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on (a non-loopback one needs "
                                          "GAUSSIAN_WEB_TOKEN set).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 5050,
        no_alerts: Annotated[bool, typer.Option("--no-alerts", help="Do not deliver the alerts.yaml "
                                                "webhooks.")] = False,
        db: Annotated[str | None, typer.Option("--db", help="The Data Manager's database: a SQLAlchemy URL such as "
                                               "postgresql://user@host/db (default: SQLite at "
                                               "<home>/datamanager.db).")] = None,
    ) -> None:
        """The web dashboard: overview, idea review, runs, promotion and paper, with a JSON API under /api/v1."""
        from experiments.home import home_dir
        from experiments.web.serve import serve_home

        serve_home(home or home_dir(), host, port, alerts=not no_alerts, echo=typer.echo, db_url=db)
