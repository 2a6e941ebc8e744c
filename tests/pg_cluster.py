"""A throw-away PostgreSQL cluster on 127.0.0.1 (Debian's `postgresql` package): initdb into a temp dir, run
`postgres` on a free port as a non-root user, create databases, stop and remove it all at the end."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def pg_bin() -> Path:
    """The folder holding initdb and postgres (the newest installed version)."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                         reverse=True):
        if Path(folder, "postgres").exists() and Path(folder, "initdb").exists():
            return Path(folder)
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (make test does it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    """start() -> url(dbname); stop(). Runs as the `postgres` system user when we are root."""

    def __init__(self, fsync: bool = False) -> None:
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="gaussian-pg-"))
        self.port = free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None
        self._user: dict = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self._user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def start(self) -> PostgresCluster:
        data = self.dir / "data"
        subprocess.run([str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                        "--locale=C", "--no-sync"], check=True, capture_output=True, cwd=self.dir, **self._user)
        args = [str(self.bin / "postgres"), "-D", str(data), "-k", str(self.dir), "-h", "127.0.0.1",
                "-p", str(self.port), "-c", "max_connections=200", "-c", "shared_buffers=64MB"]
        if not self.fsync:
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.dir / "postgres.log", "wb")  # noqa: SIM115 - the server's log lives as long as it
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, **self._user)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.proc is not None and self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "postgres.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"postgres did not start:\n{log}") from None
                time.sleep(0.1)

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"dm_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: disconnect clients, stop
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)
