"""Rendering the analysis dict into ANALYSIS.md through the Jinja template in analysis/templates/."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from analysis import fmt

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE = "ANALYSIS.md.j2"


def _cell(x: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(x).replace("|", "\\|").replace("\n", " ")


def environment() -> Environment:
    """The Jinja environment with the report's number filters (strict: an unknown name is an error)."""
    env = Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), undefined=StrictUndefined, autoescape=False,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update({"money": fmt.money, "pct": fmt.pct, "pct_points": fmt.pct_points, "num": fmt.num,
                        "pval": fmt.pval, "ci": fmt.ci, "value": fmt.value, "cell": _cell})
    return env


def render_report(analysis: dict[str, Any]) -> str:
    """ANALYSIS.md text for an analysis dict (deterministic: nothing depends on the current time)."""
    text = environment().get_template(TEMPLATE).render(a=analysis)
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:  # collapse runs of blank lines left by template blocks
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return "\n".join(out).strip() + "\n"
