"""Tables and console output shared by the CLI commands and the demo: leaderboard, gate checks, run results."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


def make_console(**kwargs: Any) -> Console:
    """A console for command output, sized when it is made (the terminal, or COLUMNS, as it is then), with emoji
    codes off: a title holding ':name:' prints as written, and rich's emoji table is never loaded."""
    return Console(emoji=False, **kwargs)


console = make_console()


def fmt_cell(v: Any, pct: bool = False, digits: int = 2) -> str:
    """One table cell: "-" for missing, yes/no, a percentage or a number with thousands separators."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


@dataclass(frozen=True)
class Col:
    """A table column: its row key, header, alignment, how long it stays when the terminal is narrow (`keep`,
    100 = always) and whether it may be shortened with an ellipsis (`flex`, text such as titles)."""

    key: str
    header: str
    justify: str = "left"
    keep: int = 50
    flex: bool = False
    min_width: int = 12


def cell_width(text: str) -> int:
    """Printed width of a cell that may hold rich markup."""
    return Text.from_markup(text, emoji=False).cell_len


def fit_table(title: str, cols: list[Col], rows: list[dict[str, str]], width: int | None = None,
              wide: bool = False, caption: str | None = None) -> Table:
    """A table that fits `width` columns: numbers and ids are never cut; the least important columns are left out
    first (the caption says so), then flexible text columns are shortened with an ellipsis. `wide` keeps every
    column at full width (print it with `print_table(..., wide=True)`)."""
    w = width or console.width
    gap = 1  # the space between two columns: the box's divider (no padding, no outer edge)
    natural = {c.key: max([cell_width(c.header)] + [cell_width(r.get(c.key, "")) for r in rows]) for c in cols}
    floor = {c.key: min(natural[c.key], c.min_width) if c.flex else natural[c.key] for c in cols}
    chosen = list(cols)
    hidden: list[str] = []
    while not wide and sum(floor[c.key] for c in chosen) + gap * (len(chosen) - 1) > w and any(
            c.keep < 100 for c in chosen):
        drop = min((c for c in chosen if c.keep < 100), key=lambda c: c.keep)
        chosen.remove(drop)
        hidden.append(drop.header or drop.key)
    widths = {c.key: natural[c.key] for c in chosen}
    flex = [c for c in chosen if c.flex]
    if not wide and flex and sum(widths.values()) + gap * (len(chosen) - 1) > w:
        spare = w - gap * (len(chosen) - 1) - sum(natural[c.key] for c in chosen if not c.flex)
        extra = max(0, spare - sum(floor[c.key] for c in flex))
        for c in sorted(flex, key=lambda c: -c.keep):  # the more important text gets its room first
            grow = min(natural[c.key] - floor[c.key], extra)
            widths[c.key], extra = floor[c.key] + grow, extra - grow
    notes = [caption] if caption else []
    if hidden:
        notes.append(f"hidden at this width: {', '.join(hidden)} (--wide shows them)")
    t = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False, show_edge=False,
              caption="; ".join(notes) or None)
    for c in chosen:
        t.add_column(c.header, justify=c.justify, no_wrap=True, overflow="ellipsis",  # type: ignore[arg-type]
                     width=widths[c.key])
    for r in rows:
        t.add_row(*(r.get(c.key, "") for c in chosen))
    if wide:
        t.width = sum(widths.values()) + gap * (len(chosen) - 1)
    return t


def print_table(table: Table, wide: bool = False, out: Console | None = None) -> None:
    """Print a table; with `wide` at its full width even past the terminal's edge."""
    c = out or console
    if wide:
        c.print(table, width=max(c.width, table.width or 0), crop=False, overflow="ignore")
    else:
        c.print(table)


def changes_text(changes: dict[str, Any]) -> str:
    """An idea's spec changes in one line: `exits.stop_loss_pct=12, entry.type="consensus"`."""
    return ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in changes.items()) or "(none)"


def utc_text(t: Any, seconds: bool = False) -> str:
    """A time (datetime or ISO string) in UTC, the one convention of every table and status line."""
    if t is None or t == "":
        return "-"
    when = t if isinstance(t, dt.datetime) else dt.datetime.fromisoformat(str(t))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def leaderboard_table(rows: list[dict[str, Any]], title: str, width: int | None = None,
                      wide: bool = False) -> Table:
    """The leaderboard (entry/encoder in one column, bars = validation window, * marks the promoted run), fitted
    to the terminal width."""
    cols = [Col("#", "#", "right", 100), Col("run", "run", keep=100), Col("name", "name", keep=10, flex=True),
            Col("entry", "entry", keep=40, flex=True, min_width=9), Col("bars", "bars", "right", 45),
            Col("trades", "trades", "right", 90), Col("pnl", "P&L%", "right", 100),
            Col("win", "win", "right", 20), Col("sharpe", "Sharpe", "right", 100), Col("dsr", "DSR", "right", 80),
            Col("rand", "rand%", "right", 60), Col("bh", "B&H%", "right", 55), Col("star", "", keep=100)]
    cells = []
    for r in rows:
        entry = f"{r['entry'] or '-'}/{r['encoder']}" if r.get("encoder") else str(r.get("entry") or "-")
        cells.append({"#": str(r["rank"]), "run": r["run_id"], "name": str(r["name"] or "-"), "entry": entry,
                      "bars": fmt_cell(r.get("bars")), "trades": fmt_cell(r["trades"]),
                      "pnl": fmt_cell(r["pnl_pct"]), "win": fmt_cell(r["win_rate"], pct=True),
                      "sharpe": fmt_cell(r["sharpe"]), "dsr": fmt_cell(r["dsr"], digits=3),
                      "rand": fmt_cell(r["random_pnl_pct"]), "bh": fmt_cell(r["buy_hold_pnl_pct"]),
                      "star": "[bold green]*[/]" if r["promoted"] else ""})
    caption = "* promoted" if any(r["promoted"] for r in rows) else None
    return fit_table(title, cols, cells, width, wide, caption)


def queue_table(ideas: list[Any], title: str, width: int | None = None, wide: bool = False) -> Table:
    """Ideas with what each changes against the base, status, priority, source, tries and creation time (UTC)."""
    cols = [Col("#", "#", "right", 100), Col("status", "status", keep=100), Col("prio", "prio", "right", 30),
            Col("title", "title", keep=60, flex=True, min_width=20),
            Col("changes", "changes", keep=95, flex=True, min_width=40), Col("source", "source", keep=40, flex=True,
                                                                             min_width=8),
            Col("tries", "tries", "right", 20), Col("hash", "spec hash", keep=10),
            Col("created", "created (UTC)", keep=35), Col("id", "id", keep=5)]
    styles = {"proposed": "yellow", "approved": "cyan", "running": "blue", "done": "green", "failed": "red",
              "rejected": "magenta", "invalid": "red"}
    cells = [{"#": str(i.seq), "status": f"[{styles.get(i.status.value, '')}]{i.status.value}[/]",
              "prio": str(i.priority), "title": i.title, "changes": changes_text(i.changes),
              "source": i.source.label(), "tries": str(i.attempts), "hash": (i.spec_hash or "-")[:12],
              "created": utc_text(i.created), "id": i.id} for i in ideas]
    return fit_table(title, cols, cells, width, wide)


def runs_table(rows: list[dict[str, Any]], title: str, width: int | None = None, wide: bool = False) -> Table:
    """Runs newest first: what each ran (entry, encoder, window, exit model), its status and validation figures."""
    cols = [Col("run", "run", keep=100), Col("name", "name", keep=30, flex=True), Col("status", "status", keep=90),
            Col("entry", "entry", keep=85), Col("encoder", "encoder", keep=50), Col("window", "window", "right", 25),
            Col("exit", "exit model", keep=15), Col("bars", "bars", "right", 60),
            Col("trades", "trades", "right", 80), Col("pnl", "P&L%", "right", 100),
            Col("sharpe", "Sharpe", "right", 100), Col("win", "win", "right", 20)]
    cells = []
    for r in rows:
        m = r["metrics"]
        uses_model = r.get("entry") not in ("momentum", "random", None)
        cells.append({"run": r["run_id"], "name": str(r.get("label") or r.get("name") or "-"), "status": r["status"],
                      "entry": str(r.get("entry") or "-"), "encoder": str(r.get("encoder") or "-") if uses_model
                      else "-", "window": fmt_cell(r.get("model_window")) if uses_model else "-",
                      "exit": fmt_cell(r.get("exit_model")), "bars": fmt_cell(r.get("bars")),
                      "trades": fmt_cell(m.get("trades")), "pnl": fmt_cell(m.get("pnl_pct")),
                      "sharpe": fmt_cell(m.get("sharpe")), "win": fmt_cell(m.get("win_rate"), True)})
    return fit_table(title, cols, cells, width, wide)


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
