"""Run directories: creating, writing and reading runs/<run_id>/ under the home."""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.files import atomic_write_json, atomic_write_text
from experiments.home import runs_dir
from trader.errors import StateError

if TYPE_CHECKING:
    import pandas as pd


def new_run_id(spec_hash: str) -> str:
    """A sortable, unique run id: UTC time, the spec hash prefix and a short random suffix."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{now}-{spec_hash[:6]}-{os.urandom(2).hex()}"  # os.urandom, as secrets.token_hex, without its imports


def create_run_dir(spec_hash: str) -> tuple[str, Path]:
    """Make a fresh run directory and return (run_id, path)."""
    root = runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    while True:
        run_id = new_run_id(spec_hash)
        path = root / run_id
        try:
            path.mkdir()
            (path / "models").mkdir()
            return run_id, path
        except FileExistsError:
            continue


def resolve_run(run: str) -> Path:
    """A run id under runs/ or a path to a run directory; a clear error when neither exists."""
    p = Path(run)
    if p.is_dir() and (p / "spec.json").exists():
        return p
    q = runs_dir() / run
    if q.is_dir():
        return q
    matches = sorted(d for d in runs_dir().glob(f"{run}*") if d.is_dir()) if runs_dir().exists() else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise StateError(f"run '{run}' is ambiguous: {', '.join(m.name for m in matches[:5])}")
    raise StateError(f"run '{run}' not found under {runs_dir()}")


def write_frame(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    atomic_write_json(path, data)


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    atomic_write_text(path, text)


def read_json(path: Path) -> Any:
    """Read a JSON file with a clear error when missing or broken."""
    if not path.exists():
        raise StateError(f"{path} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StateError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def environment() -> dict[str, Any]:
    """Versions, git commit and platform, recorded with every run (never environment variables)."""
    import numpy
    import pandas as pd
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "torch": torch.__version__,
        "threads": _threads(torch),
    }
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=False)
        info["git_commit"] = out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = "unknown"
    return info


def _threads(torch: Any) -> dict[str, int]:
    """Threads the run's libraries use: torch's pool and the widest BLAS/OpenMP pool loaded."""
    from threadpoolctl import threadpool_info

    pools = [int(p.get("num_threads", 0)) for p in threadpool_info()]
    return {"torch": int(torch.get_num_threads()), "blas_openmp": max(pools, default=0)}


def _started(run_dir: Path) -> tuple[str, int]:
    """When a run started: the second in its id, then its spec.json's write time (runs of one second in order)."""
    try:
        return run_dir.name[:15], (run_dir / "spec.json").stat().st_mtime_ns
    except FileNotFoundError:
        return run_dir.name[:15], 0


def list_runs() -> list[dict[str, Any]]:
    """Summaries of every run directory (newest first): id, name, idea, status (done, running, failed or
    incomplete), what it ran (entry, encoder, model window, exit model), validation bars and metrics."""
    from experiments.runs.progress import is_running, read_progress

    root = runs_dir()
    if not root.exists():
        return []
    out = []
    started = {d: _started(d) for d in root.iterdir() if d.is_dir() and (d / "spec.json").exists()}
    for d in sorted(started, key=lambda d: (started[d], d.name), reverse=True):
        spec = json.loads((d / "spec.json").read_text())
        metrics_path = d / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
        body = spec.get("spec", {})
        progress = read_progress(d) or {}
        status = ("done" if metrics else "running" if is_running(progress) else
                  "failed" if progress.get("state") == "failed" else "incomplete")
        out.append({
            "run_id": d.name,
            "name": body.get("name"),
            "idea_id": spec.get("idea_id"),
            "hash": spec.get("hash"),
            "status": status,
            "entry": (body.get("entry") or {}).get("type"),
            "encoder": (body.get("model") or {}).get("encoder"),
            "model_window": (body.get("model") or {}).get("window"),
            "exit_model": ((body.get("exits") or {}).get("model") or {}).get("enabled"),
            "bars": ((metrics or {}).get("window") or {}).get("bars"),
            "metrics": (metrics or {}).get("metrics", {}),
            "baselines": (metrics or {}).get("baselines", {}),
        })
    return out
