"""Starting the dashboard: check the address against the token rule, print the token once when it was just
generated, then run Uvicorn until interrupted."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from experiments.web.auth import TOKEN_ENV, check_bind, env_token, token_path


def serve_home(home: Path, host: str = "127.0.0.1", port: int = 5050, *, alerts: bool = True,
               echo: Callable[[str], None] = print, db_url: str | None = None) -> None:
    """Serve `home` on host:port (the Data Manager over `db_url`, default <home>/datamanager.db); refuses a
    non-loopback host unless GAUSSIAN_WEB_TOKEN is set."""
    import uvicorn

    from experiments.web.alerts import load_alerts
    from experiments.web.app import create_app

    check_bind(host, env_token() is not None)
    home = Path(home).expanduser().resolve()
    if alerts:
        load_alerts(home)  # a malformed alerts.yaml stops the start with its one-line error
    app = create_app(home, alerts=alerts, db_url=db_url)
    shown = f"[{host}]" if ":" in host else host
    echo(f"gaussian dashboard for {home} on http://{shown}:{port}/")
    if app.state.token_created:
        echo(f"web token (shown once; kept in {token_path(home)}, mode 600): {app.state.web_token}")
    elif env_token() is None:
        echo(f"state-changing actions need the web token in {token_path(home)} (or set {TOKEN_ENV})")
    if app.state.dispatcher is not None:
        echo(f"alerts: {len(app.state.dispatcher.cfg.webhooks)} webhook(s) from {home / 'alerts.yaml'}")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
