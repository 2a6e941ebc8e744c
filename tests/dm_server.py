"""A Data Manager on 127.0.0.1 for tests and the benchmark: a bare FastAPI app with `mount_datamanager`, served
by uvicorn in a thread (`ThreadServer`) or in its own process (`python -m tests.dm_server ...`, to be killed)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def build_app(home: Path, db_url: str | None, token: str, **kwargs: Any) -> FastAPI:
    from experiments.web.datamanager import mount_datamanager

    app = FastAPI()
    mount_datamanager(app, home, db_url, token, **kwargs)
    return app


class ThreadServer:
    """uvicorn serving `app` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: FastAPI, port: int = 0) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    @property
    def url(self) -> str:
        sock = self.server.servers[0].sockets[0]
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def spawn(home: Path, port: int, token: str, db_url: str | None = None, *extra: str) -> subprocess.Popen:
    """A Data Manager in its own process on `port`, answering once this returns."""
    args = [sys.executable, "-m", "tests.dm_server", "--home", str(home), "--port", str(port), "--token", token]
    if db_url:
        args += ["--db", db_url]
    proc = subprocess.Popen([*args, *extra], cwd=ROOT)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/bots", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"the Data Manager process did not start (exit {proc.poll()})")
        time.sleep(0.1)


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve a Data Manager on 127.0.0.1.")
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--db", default=None)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--burst", type=int, default=400)
    args = ap.parse_args()
    app = build_app(args.home, args.db, args.token, rate_per_s=args.rate, burst=args.burst)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
