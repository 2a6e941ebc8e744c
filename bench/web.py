"""Requests per second and p50/p99 latency of the dashboard's JSON API over a real Uvicorn server on 127.0.0.1.

Usage: python bench/web.py [--ideas 1000] [--runs 500] [--requests 300]
The server is `gaussian serve` in its own process (the client does not share its interpreter). The home holds
`ideas` ideas in mixed statuses (done ones with results) and `runs` finished run directories with
ledger lines, an optimizer status and an agent cost ledger. Each endpoint is asked `requests` times, one request
at a time after a warm-up, over one keep-alive connection (requests/s = 1 / mean latency). "leaderboard, cold"
records a run in the ledger before each request, so every answer is computed afresh. Target: the overview's p99
under 100 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = "entry: {type: momentum}\ndata: {sessions: 10}\ncycles: 600\n"
STATUSES = ("proposed", "approved", "done", "failed", "rejected")


def build_home(home: Path, n_ideas: int, n_runs: int) -> list[str]:
    """Write the bench home; returns the run ids."""
    from agents.cost_ledger import CostLedger, default_ledger_path
    from agents.sink import Source
    from experiments.home import set_home
    from experiments.ideas.models import HistoryEvent, Idea, IdeaResult, Status
    from experiments.ideas.queue import IdeaQueue
    from experiments.optimizer.status import write_optimizer_status
    from experiments.runs import ledger
    from experiments.spec.io import spec_hash, validate_spec

    set_home(home)
    (home / "base_spec.yaml").write_text(BASE, encoding="utf-8")
    q = IdeaQueue.from_home()
    base = q.base_spec()
    base_hash = spec_hash(base)
    runs_root = home / "runs"
    run_ids = []
    for k in range(n_runs):
        run_id = f"20250101-{k // 3600:02d}{k // 60 % 60:02d}{k % 60:02d}-{k:06x}-{k % 9999:04d}"
        d = runs_root / run_id
        (d / "models").mkdir(parents=True)
        spec = {**base.model_dump(mode="json"), "name": f"bench-{k}"}
        (d / "spec.json").write_text(json.dumps({"hash": f"h{k:015d}", "spec": spec, "idea_id": None}))
        m = {"trades": 40 + k % 30, "pnl": float(k % 97 - 40), "pnl_pct": (k % 97 - 40) / 50, "win_rate": 0.5,
             "sharpe": (k % 53 - 20) / 10, "days": 40, "return_skew": 0.0, "return_kurtosis": 3.0}
        (d / "metrics.json").write_text(json.dumps({"metrics": m, "baselines": {
            "random_entry": {"pnl_pct": -1.0}, "buy_and_hold": {"pnl_pct": 0.5}}}))
        ledger.record(run_id, f"h{k:015d}", "done", m)
        run_ids.append(run_id)
    now = dt.datetime.now(dt.UTC)
    src = Source(kind="heuristic", name="bench")
    with q.store.transaction() as state:
        for k in range(n_ideas):
            status = Status(STATUSES[k % len(STATUSES)])
            spec = validate_spec({**base.model_dump(mode="json"), "name": f"idea-{k}"}, "bench")
            t = now - dt.timedelta(minutes=n_ideas - k)
            history = [HistoryEvent(time=t, actor="heuristic:bench", action="propose", from_status=None,
                                    to_status=Status.PROPOSED)]
            result = None
            if status is not Status.PROPOSED:
                history.append(HistoryEvent(time=t, actor="human:bench", action="reject" if status is Status.REJECTED
                                            else "approve", from_status=Status.PROPOSED,
                                            to_status=Status.REJECTED if status is Status.REJECTED
                                            else Status.APPROVED))
            if status in (Status.DONE, Status.FAILED):
                history.append(HistoryEvent(time=t, actor="worker:w", action="start", from_status=Status.APPROVED,
                                            to_status=Status.RUNNING))
                history.append(HistoryEvent(time=t, actor="worker:w", action="complete" if status is Status.DONE
                                            else "fail", from_status=Status.RUNNING, to_status=status))
                result = IdeaResult(run_id=run_ids[k % len(run_ids)] if status is Status.DONE else None,
                                    metrics={"sharpe": 1.0, "pnl_pct": 0.5, "trades": 40},
                                    error="boom" if status is Status.FAILED else None, finished=t)
            idea = Idea(id=f"{t:%Y%m%d-%H%M%S}-{k + 1:04d}", seq=k + 1, created=t, source=src, title=f"idea {k}",
                        hypothesis="h", rationale="r", changes={"name": f"idea-{k}"}, base_hash=base_hash,
                        spec=spec.model_dump(mode="json"), spec_hash=spec_hash(spec), priority=k % 7,
                        status=status, attempts=1 if result else 0, result=result, history=history)
            state.ideas[idea.id] = idea
            state.touch(idea.id)
        state.next_seq = n_ideas + 1
    write_optimizer_status({"pid": os.getpid(), "host": socket.gethostname(), "state": "running",
                            "started": now.isoformat(), "heartbeat": now.isoformat(), "heartbeat_s": 3600.0,
                            "stale_after_s": 7200.0, "current": None, "agent": {}})
    CostLedger(default_ledger_path(home)).record(model="m", usd=0.01, outcome="ok")
    return run_ids


def measure(client: object, url: str, n: int, before: object = None) -> dict[str, float]:
    """n sequential GETs of url (after 5 warm-up requests): requests/s, p50 and p99 in ms; `before()` runs
    ahead of each request, outside the timing."""
    for _ in range(5):
        assert client.get(url).status_code == 200  # type: ignore[attr-defined]
    lat = []
    total = 0.0
    for _ in range(n):
        if before is not None:
            before()  # type: ignore[operator]
        s = time.perf_counter()
        r = client.get(url)  # type: ignore[attr-defined]
        lat.append((time.perf_counter() - s) * 1000)
        total += lat[-1] / 1000
        assert r.status_code == 200, (url, r.status_code)
    lat.sort()
    return {"rps": n / total, "p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))]}


def main() -> None:
    """Build the home, serve it, measure each endpoint and print the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ideas", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    import subprocess

    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        t0 = time.perf_counter()
        runs = build_home(home, args.ideas, args.runs)
        print(f"home with {args.ideas} ideas and {args.runs} runs built in {time.perf_counter() - t0:.1f} s "
              f"(queue file {(home / 'queue' / 'ideas.json').stat().st_size / 1e6:.1f} MB)")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "GAUSSIAN_WEB_TOKEN": "bench-token-0123456789"}
        server = subprocess.Popen([sys.executable, "-m", "experiments.cli.main", "serve", "--home", str(home),
                                   "--port", str(port), "--no-alerts"], env=env, stdout=subprocess.DEVNULL,
                                  cwd=Path(__file__).resolve().parents[1])
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(url + "/api/v1/alerts", timeout=5)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("gaussian serve did not start") from None
                time.sleep(0.2)
        endpoints = [("overview", "/api/v1/overview", args.requests),
                     ("ideas list", "/api/v1/ideas", args.requests),
                     ("ideas list (proposed)", "/api/v1/ideas?status=proposed", args.requests),
                     ("overview page", "/", args.requests),
                     ("leaderboard", "/api/v1/runs", args.requests),
                     ("leaderboard, cold", "/api/v1/runs", max(10, args.requests // 30)),
                     ("one run", f"/api/v1/runs/{runs[0]}", args.requests)]
        rows = []
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                from experiments.runs import ledger

                def new_trial() -> None:  # a run recorded: the leaderboard is computed afresh
                    ledger.record(runs[-1], "h-bench", "failed", error="bench")

                for name, url, n in endpoints:
                    rows.append((name, url, n, measure(client, url, n, new_trial if "cold" in name else None)))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"\n{'endpoint':<24}{'path':<40}{'n':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, url, n, m in rows:
        print(f"{name:<24}{url[:39]:<40}{n:>6}{m['rps']:>9.1f}{m['p50']:>9.1f}{m['p99']:>9.1f}")
    p99 = rows[0][3]["p99"]
    print(f"\noverview p99 {p99:.1f} ms: {'meets' if p99 < 100 else 'MISSES'} the 100 ms target")


if __name__ == "__main__":
    main()
