"""Data Manager throughput: concurrent bots reporting trades over HTTP to a Data Manager in its own process.

Usage: python bench/datamanager.py [--bots 20] [--trades 10000] [--backend sqlite|postgresql|both]
Each bot is a thread with its own connection, sending its share of the trades one after another (a retry on a
transport error or 5xx resends the same client_trade_id). Afterwards every bot's trades are read back: lost =
sent but not stored, duplicated = stored more than once. SQLite runs in WAL mode with synchronous=NORMAL; the
PostgreSQL cluster is a throw-away one with its default durability (fsync on, synchronous_commit on).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ADMIN = "bench-admin-token"


def _bot(url: str, bot_id: int, key: str, start: int, count: int, lat: list[float], stats: Counter) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=30, headers={"X-API-Key": key}) as http:
        for n in range(start, start + count):
            body = {"client_trade_id": f"b{bot_id}-t{n}", "symbol": "SPY", "action": "BUY_CALL" if n % 2 else
                    "BUY_PUT", "quantity": 1 + n % 3, "price": 2.5, "pnl": float((n * 37) % 41 - 20),
                    "time": f"2024-01-02T{10 + n % 6:02d}:{n % 60:02d}:00-05:00"}
            for _attempt in range(5):
                t0 = time.perf_counter()
                try:
                    r = http.post(f"/api/v1/bots/{bot_id}/trade", json=body)
                except httpx.HTTPError:
                    stats["retries"] += 1
                    continue
                lat.append(time.perf_counter() - t0)
                if r.status_code in (200, 201):
                    stats["ok"] += 1
                    break
                stats[f"http {r.status_code}"] += 1
                if r.status_code < 500 and r.status_code != 429:
                    break
                stats["retries"] += 1


def run(backend: str, db_url: str | None, n_bots: int, n_trades: int) -> dict:
    import httpx

    from tests.dm_server import spawn
    from tests.pg_cluster import free_port

    home = Path(tempfile.mkdtemp(prefix="dm-bench-"))
    port = free_port()
    proc = spawn(home, port, ADMIN, db_url, "--rate", "100000", "--burst", "100000")
    url = f"http://127.0.0.1:{port}"
    try:
        bots = []
        for b in range(n_bots):
            cfg = {"strategy": f"bench-{b}"}
            import hashlib
            import json

            h = hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
            out = httpx.post(f"{url}/api/v1/bots/register", headers={"Authorization": f"Bearer {ADMIN}"},
                             json={"name": f"bench-{b}", "owner": "bench", "config": cfg, "config_hash": h}).json()
            bots.append((out["bot_id"], out["api_key"]))
        share = [n_trades // n_bots + (1 if i < n_trades % n_bots else 0) for i in range(n_bots)]
        lat: list[float] = []
        stats: Counter = Counter()
        threads = [threading.Thread(target=_bot, args=(url, bid, key, 0, share[i], lat, stats))
                   for i, (bid, key) in enumerate(bots)]
        server_cpu = psutil.Process(proc.pid)
        cpu0 = sum(server_cpu.cpu_times()[:2])
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        cpu_ms = (sum(server_cpu.cpu_times()[:2]) - cpu0) * 1000 / max(1, stats["ok"])
        stored = 0
        dup = 0
        for bid, _ in bots:
            ids = [t["client_trade_id"] for t in httpx.get(f"{url}/api/v1/bots/{bid}/trades",
                                                           params={"limit": 10_000}, timeout=60).json()["trades"]]
            stored += len(set(ids))
            dup += len(ids) - len(set(ids))
        ms = np.array(lat) * 1000
        return {"backend": backend, "bots": n_bots, "trades": n_trades, "seconds": elapsed,
                "trades_per_s": stats["ok"] / elapsed, "p50_ms": float(np.percentile(ms, 50)),
                "p99_ms": float(np.percentile(ms, 99)), "lost": n_trades - stored, "duplicated": dup,
                "retries": stats["retries"], "server_cpu_ms": cpu_ms, "refused": sum(v for k, v in stats.items() if k.startswith("http"))}
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument("--trades", type=int, default=10_000)
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = ap.parse_args()
    rows = []
    if args.backend in ("sqlite", "both"):
        rows.append(run("sqlite (WAL)", None, args.bots, args.trades))
    if args.backend in ("postgresql", "both"):
        from tests.pg_cluster import PostgresCluster

        cluster = PostgresCluster(fsync=True).start()
        try:
            rows.append(run("postgresql", cluster.new_database(), args.bots, args.trades))
        finally:
            cluster.stop()
    head = f"{'backend':<14}{'bots':>6}{'trades':>8}{'seconds':>9}{'trades/s':>10}{'p50 ms':>8}{'p99 ms':>8}" \
           f"{'lost':>6}{'dup':>5}{'retries':>9}{'refused':>9}{'srv CPU ms/trade':>18}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['backend']:<14}{r['bots']:>6}{r['trades']:>8}{r['seconds']:>9.1f}{r['trades_per_s']:>10.0f}"
              f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['lost']:>6}{r['duplicated']:>5}{r['retries']:>9}"
              f"{r['refused']:>9}{r['server_cpu_ms']:>18.2f}")


if __name__ == "__main__":
    main()
