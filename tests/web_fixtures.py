"""A home for the dashboard tests: two analysed runs (real ANALYSIS.md, plots, equity), ledger lines, and a queue
with proposed ideas, one motivated by a run's analysis; built once and copied per test."""
from __future__ import annotations

import shutil
from pathlib import Path

from agents.sink import Source
from experiments.home import set_home
from experiments.ideas.queue import IdeaQueue
from experiments.runs import ledger
from tests.analysis_fixtures import fixed_trades, spec_dict, write_run

TOKEN = "test-token-0123456789abcdef"
RUN_A = "20240201-120000-aaaaaa-0001"
RUN_B = "20240202-120000-bbbbbb-0002"
BASE = "entry: {type: momentum}\ndata: {sessions: 10}\nsplits: {embargo_bars: 45}\ncycles: 600\n"
IDEAS = (
    ("shorter momentum lookback", {"entry.momentum.lookback_bars": 10}, RUN_A),
    ("wider stop loss", {"exits.stop_loss_pct": 0.5}, None),
    ("longer momentum lookback", {"entry.momentum.lookback_bars": 40}, None),
)


def build_home(root: Path, analyze: bool = True) -> dict[str, str]:
    """Write the dashboard's test home into `root`; returns the ids of its ideas by title."""
    from analysis.report import analyze_run

    root.mkdir(parents=True, exist_ok=True)
    set_home(root)
    (root / "base_spec.yaml").write_text(BASE, encoding="utf-8")
    runs = root / "runs"
    for run_id, seed, name in ((RUN_A, 7, "momentum-a"), (RUN_B, 11, "consensus-b")):
        d = write_run(runs, fixed_trades(48, seed), spec_dict({"name": name}), run_id=run_id)
        if analyze:
            analyze_run(d)
        import json

        ledger.record(run_id, json.loads((d / "spec.json").read_text())["hash"], "done",
                      json.loads((d / "metrics.json").read_text())["metrics"])
    q = IdeaQueue.from_home()
    ids = {}
    for title, changes, ref in IDEAS:
        idea = q.propose(title, f"{title} should help", "seen in the analysis", changes,
                         Source(kind="heuristic", name="offline"), analysis_ref=ref)
        ids[title] = idea.id
    return ids


def copy_home(template: Path, dest: Path) -> Path:
    """A fresh copy of a built home (the tests change it)."""
    shutil.copytree(template, dest)
    set_home(dest)
    return dest


class LiveServer:
    """The dashboard served by a real Uvicorn server on 127.0.0.1 (a free port) from a thread."""

    def __init__(self, home: Path, token: str = TOKEN, alerts: bool = False) -> None:
        import socket
        import threading
        import time

        import uvicorn

        from experiments.web.app import create_app

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(home, token, alerts=alerts), host="127.0.0.1", port=self.port,
                                log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the dashboard did not start on {self.url}")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server and wait for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
