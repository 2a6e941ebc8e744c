"""Backfill: analyze every finished run that lacks its ANALYSIS.md/analysis.json (or all of them with force)."""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from analysis.report import DEFAULT_MIN_TRADES, analyze_run, needs_analysis
from trader.errors import GaussianError

log = logging.getLogger("gaussian.analysis")


def finished_runs(runs_dir: Path) -> list[Path]:
    """Run directories holding a metrics.json, oldest first (run ids sort by time)."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "metrics.json").is_file())


def backfill(runs_dir: Path, force: bool = False, min_trades: int = DEFAULT_MIN_TRADES,
             failures: dict[str, str] | None = None,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """Analyze each finished run that needs it (every one with force); return the run ids analyzed.

    A run that cannot be analyzed (missing or broken files) is skipped; its one-sentence error goes into
    `failures` when given, and to the log.
    """
    done = []
    for run_dir in finished_runs(runs_dir):
        if not force and not needs_analysis(run_dir):
            continue
        if progress is not None:
            progress(run_dir.name)
        try:
            analyze_run(run_dir, min_trades=min_trades)
        except GaussianError as exc:
            log.warning("analysis of %s skipped: %s", run_dir.name, exc)
            if failures is not None:
                failures[run_dir.name] = str(exc)
            continue
        done.append(run_dir.name)
    return done
