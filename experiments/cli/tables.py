"""Tables and console output shared by the CLI commands and the demo: leaderboard, gate checks, run results."""
from __future__ import annotations

import logging
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()


def fmt_cell(v: Any, pct: bool = False, digits: int = 2) -> str:
    """One table cell: "-" for missing, yes/no, a percentage or a number with thousands separators."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:,.{digits}f}"
    return str(v)


class _ConsoleLog(logging.Handler):
    """Optimizer log lines on the console, one per event."""

    def emit(self, record: logging.LogRecord) -> None:
        style = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}.get(record.levelname, "")
        stamp = logging.Formatter().formatTime(record, "%H:%M:%S")
        console.print(Text(f"{stamp} {record.getMessage()}", style=style), highlight=False)


def attach_console_log() -> logging.Handler:
    """Show the optimizer's log on the console; returns the handler (remove it when done)."""
    handler = _ConsoleLog()
    logger = logging.getLogger("gaussian.optimizer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def leaderboard_table(rows: list[dict[str, Any]], title: str, width: int | None = None) -> Table:
    """The leaderboard as a rich table (entry/encoder in one column, * marks the promoted run); a terminal under
    150 columns leaves out the win rate, one under 140 the name too."""
    w = width or console.width
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
              caption="* promoted" if any(r["promoted"] for r in rows) else None)
    cols = [("#", "right"), ("run", "left"), ("name", "left"), ("entry", "left"), ("trades", "right"),
            ("P&L%", "right"), ("win", "right"), ("Sharpe", "right"), ("DSR", "right"), ("rand%", "right"),
            ("B&H%", "right"), ("", "left")]
    dropped = ({"win"} if w < 150 else set()) | ({"name"} if w < 140 else set())
    keep = [c for c, _ in cols if c not in dropped]
    for col, justify in cols:
        if col in keep:
            t.add_column(col, justify=justify, no_wrap=True, overflow="ellipsis",  # type: ignore[arg-type]
                         min_width={"#": 2, "run": 27, "": 1}.get(col), max_width=32 if col == "name" else None)
    for r in rows:
        entry = f"{r['entry'] or '-'}/{r['encoder']}" if r["encoder"] else str(r["entry"] or "-")
        cells = {"#": str(r["rank"]), "run": r["run_id"], "name": str(r["name"] or "-"), "entry": entry,
                 "trades": fmt_cell(r["trades"]), "P&L%": fmt_cell(r["pnl_pct"]), "win": fmt_cell(r["win_rate"], pct=True),
                 "Sharpe": fmt_cell(r["sharpe"]), "DSR": fmt_cell(r["dsr"], digits=3), "rand%": fmt_cell(r["random_pnl_pct"]),
                 "B&H%": fmt_cell(r["buy_hold_pnl_pct"]), "": "[bold green]*[/]" if r["promoted"] else ""}
        t.add_row(*(cells[c] for c in keep))
    return t


def checks_table(decision: dict[str, Any], title: str) -> Table:
    """A promotion decision's checks: pass/fail/not evaluated with the figures."""
    t = Table(title=title)
    t.add_column("check")
    t.add_column("result")
    t.add_column("detail")
    for c in decision["checks"]:
        mark = {True: "[green]pass[/]", False: "[red]FAIL[/]", None: "[dim]not run[/]"}[c["passed"]]
        t.add_row(c["name"], mark, c["detail"])
    return t


def results_table(metrics: dict[str, Any], baselines: dict[str, Any], title: str) -> Table:
    """The headline figures of a run beside its baselines."""
    t = Table(title=title)
    t.add_column("")
    t.add_column("strategy", justify="right")
    t.add_column("random entry", justify="right")
    t.add_column("buy & hold", justify="right")
    r, bh = baselines.get("random_entry", {}), baselines.get("buy_and_hold", {})
    t.add_row("P&L $", fmt_cell(metrics.get("pnl")), fmt_cell(r.get("pnl")), fmt_cell(bh.get("pnl")))
    t.add_row("P&L %", fmt_cell(metrics.get("pnl_pct")), fmt_cell(r.get("pnl_pct")), fmt_cell(bh.get("pnl_pct")))
    t.add_row("trades", fmt_cell(metrics.get("trades")), fmt_cell(r.get("trades")), "-")
    t.add_row("win rate", fmt_cell(metrics.get("win_rate"), True), fmt_cell(r.get("win_rate"), True), "-")
    t.add_row("Sharpe", fmt_cell(metrics.get("sharpe")), fmt_cell(r.get("sharpe")), fmt_cell(bh.get("sharpe")))
    t.add_row("max drawdown", fmt_cell(metrics.get("max_drawdown"), True), "-", "-")
    t.add_row("DSR", fmt_cell(metrics.get("dsr")), "-", "-")
    return t
