"""`gaussian paper` SIGKILLed at random moments, then resumed: never a traceback, every resume works (the replay
venue's fresh account said so), every order id (hence tag) used once, and the day completes."""
from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.optimizer_fixtures import REPO, gaussian, make_home

KILLS = 10


def _sh(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(gaussian(home, *args), check=False, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_paper_killed_at_random_moments_resumes_each_time(tmp_path: Path) -> None:
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
        args = ["paper", "--venue", "replay", "--session", "s", "--json"] + (["--resume"] if k else [])
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
    final = _sh(home, "paper", "--venue", "replay", "--session", "s", "--resume", "--json")
    outputs.append(final.stdout + final.stderr)
    assert final.returncode == 0, final.stderr[-3000:]
    assert all("Traceback" not in o for o in outputs), next(o[-1500:] for o in outputs if "Traceback" in o)
    assert json.loads(final.stdout)["complete"]
    events = [json.loads(line) for line in (session / "journal.jsonl").read_text().splitlines()
              if line.strip().endswith("}")]
    ids = [e["order_id"] for e in events if e["event"] == "submit"]
    assert ids and len(ids) == len(set(ids))  # each order id, hence each tag, used once
    resumes = [e for e in events if e["event"] == "resume"]
    assert len(resumes) >= KILLS - 1
    assert any(e["event"] == "resume_fresh_account" for e in events)


def _bars(session: Path) -> int:
    try:
        return json.loads((session / "state.json").read_text())["bar"]
    except (OSError, ValueError, KeyError):
        return -1
