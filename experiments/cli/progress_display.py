"""How long work shows on the console: a run's phases as rich bars with an ETA on a terminal, one plain line per
phase (and per training epoch) when the output is piped or redirected, so a log file shows progress as it happens;
the optimizer's log one line per event. Imported by the commands that run work, never by the read-only ones."""
from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from experiments.cli.tables import console
from experiments.runs.progress import Display, PhaseUpdate


class _ConsoleLog(logging.Handler):
    """Optimizer log lines on the console, one per event."""

    def emit(self, record: logging.LogRecord) -> None:
        style = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}.get(record.levelname, "")
        stamp = dt.datetime.fromtimestamp(record.created, dt.UTC).strftime("%H:%M:%SZ")
        console.print(Text(f"{stamp} {record.getMessage()}", style=style), highlight=False)


def attach_console_log() -> logging.Handler:
    """Show the optimizer's log on the console; returns the handler (remove it when done)."""
    handler = _ConsoleLog()
    logger = logging.getLogger("gaussian.optimizer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


class PlainPhases:
    """A line when a phase starts, a line per step that carries a note (epochs with their loss), and a line
    when it ends with its duration; flushed at once."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.phase: str | None = None
        self.t0 = 0.0
        self.closed = False

    def __call__(self, u: PhaseUpdate) -> None:
        now = time.monotonic()
        if u.phase != self.phase:
            self.phase, self.t0, self.closed = u.phase, now, False
            size = f" ({u.total:,} steps)" if u.total and u.total > 1 else ""
            self._line(f"{u.phase}: started{size}")
        if self.closed:
            return
        if u.total is not None and u.done >= u.total:
            self.closed = True
            note = f", {u.info}" if u.info else ""
            self._line(f"{u.phase}: done in {now - self.t0:.1f} s{note}")
        elif u.info and u.done > 0:
            self._line(f"{u.phase}: {u.done}/{u.total} {u.info}")

    def _line(self, text: str) -> None:
        self.out.write(f"  {text}\n")
        self.out.flush()


@contextmanager
def phase_display(console: Console, enabled: bool = True) -> Iterator[Display | None]:
    """A display for `run_experiment(progress=...)`: rich progress on a terminal, plain lines otherwise, None when
    disabled (--json)."""
    if not enabled:
        yield None
        return
    if not console.is_terminal:
        yield PlainPhases(console.file)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                  console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def show(u: PhaseUpdate) -> None:
            if u.phase not in tasks:
                tasks[u.phase] = bar.add_task(u.phase, total=u.total, info=u.info)
            bar.update(tasks[u.phase], completed=u.done, total=u.total, info=u.info)

        yield show
