"""`gaussian paper` SIGKILLed at random moments, then resumed: never a traceback, every resume works (the replay
venue's fresh account said so), every order id (hence tag) used once, and the day completes. With the SimBroker
(`--broker sim`, everything in the process) the killed session's trades and cash equal an uninterrupted run's:
no trade counted twice or lost, whenever the kill fell between a bar's journal lines and its state.json."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.optimizer_fixtures import REPO, gaussian, make_home

KILLS = 10


def _sh(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gaussian(home, *args), check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["tradier", "sim"])
def test_paper_killed_at_random_moments_resumes_each_time(tmp_path: Path, broker: str) -> None:
    home = make_home(tmp_path)
    ran = _sh(home, "run", "--set", "entry.type=momentum", "--set", "entry.cooldown_bars=1",
              "--set", "exits.max_hold_minutes=2", "--json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    run_id = json.loads(ran.stdout)["run_id"]
    assert _sh(home, "promote", run_id, "--force").returncode == 0
    rng = random.Random(16)
    outputs: list[str] = []
    session = home / "paper" / "s"
    for k in range(KILLS):
        args = ["paper", "--venue", "replay", "--broker", broker, "--session", "s", "--json"] + (
            ["--resume"] if k else [])
        with open(tmp_path / f"out{k}.txt", "w") as fh:
            proc = subprocess.Popen(gaussian(home, *args), cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
        # wait until this process is processing bars, then kill it at a random moment
        start = time.monotonic()
        seen = _bars(session)
        while proc.poll() is None and _bars(session) <= seen and time.monotonic() - start < 120:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        outputs.append((tmp_path / f"out{k}.txt").read_text())
    final = _sh(home, "paper", "--venue", "replay", "--broker", broker, "--session", "s", "--resume", "--json")
    outputs.append(final.stdout + final.stderr)
    assert final.returncode == 0, final.stderr[-3000:]
    assert all("Traceback" not in o for o in outputs), next(o[-1500:] for o in outputs if "Traceback" in o)
    assert json.loads(final.stdout)["complete"]
    events = [json.loads(line) for line in (session / "journal.jsonl").read_text().splitlines()
              if line.strip().endswith("}")]
    void = {s for e in events if e["event"] == "rollback" for s in e["voided"]}
    ids = [e["order_id"] for e in events if e["event"] == "submit"]
    assert ids and len(ids) == len(set(ids))  # each order id, hence each tag, used once
    resumes = [e for e in events if e["event"] == "resume"]
    assert len(resumes) >= KILLS - 1
    if broker == "tradier":
        assert any(e["event"] == "resume_fresh_account" for e in events)
        return
    whole = _sh(home, "paper", "--venue", "replay", "--broker", "sim", "--session", "u", "--json")
    assert whole.returncode == 0, whole.stderr[-3000:]
    trades = {name: pd.read_parquet(home / "paper" / name / "trades.parquet") for name in ("s", "u")}
    assert len(trades["u"]) >= 3
    assert list(zip(trades["s"]["symbol"], trades["s"]["pnl"].round(6))) == list(
        zip(trades["u"]["symbol"], trades["u"]["pnl"].round(6)))  # no trade counted twice or lost
    cash = {name: json.loads((home / "paper" / name / "state.json").read_text())["sim_cash"] for name in ("s", "u")}
    assert cash["s"] == pytest.approx(cash["u"])
    standing = [e for e in events if e.get("seq") not in void]
    assert len([e for e in standing if e["event"] == "trade"]) == len(trades["u"])


def _bars(session: Path) -> int:
    try:
        return json.loads((session / "state.json").read_text())["bar"]
    except (OSError, ValueError, KeyError):
        return -1
