"""The feature families a run used and what each was worth: a table for ANALYSIS.md and one finding for the agent.

Reads the run's `features` report (written by the run: requested, used and dropped families, and the
permutation importance per family of the predictor's direction signal and of the exit model on validation;
see `analysis.importance`). A family whose importance is within one spread of zero is called "no measurable
effect", so a single noisy shuffle is not read as evidence.
"""
from __future__ import annotations

from typing import Any

from analysis.findings import finding

MODELS = (("predictor_importance", "predictor (direction, minus Brier)"), ("exit_importance", "exit model (AUC)"))


def family_summary(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The families table of a run's metrics document, or None when the run wrote no features report."""
    rep = doc.get("features")
    if not isinstance(rep, dict):
        return None
    rows = []
    for key, label in MODELS:
        block = rep.get(key) or {}
        for name, g in (block.get("groups") or {}).items():
            rows.append({"model": label, "family": name, "columns": g.get("columns"),
                         "importance": g.get("importance"), "std": g.get("std"),
                         "verdict": _verdict(g.get("importance"), g.get("std"))})
        if block.get("note"):
            rows.append({"model": label, "family": "-", "columns": None, "importance": None, "std": None,
                         "verdict": block["note"]})
    rows.sort(key=lambda r: (r["model"], -(r["importance"] if isinstance(r["importance"], (int, float)) else 0)))
    return {"requested": list(rep.get("requested") or []), "used": list(rep.get("used") or []),
            "warnings": list(rep.get("warnings") or []), "importance": rows}


def _verdict(value: Any, spread: Any) -> str:
    if not isinstance(value, (int, float)):
        return "not measured"
    noise = spread if isinstance(spread, (int, float)) else 0.0
    if abs(value) <= max(noise, 1e-9):
        return "no measurable effect"
    return "helped" if value > 0 else "hurt"


def family_findings(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One finding naming the families used (and dropped) and which ones helped each model."""
    if summary is None:
        return []
    text = f"Feature families used: {', '.join(summary['used']) or 'none'}"
    if summary["warnings"]:
        text += f" ({'; '.join(summary['warnings'])})"
    parts = []
    for _, label in MODELS:
        rows = [r for r in summary["importance"] if r["model"] == label and isinstance(r["importance"], (int, float))]
        if rows:
            parts.append(f"{label}: " + ", ".join(f"{r['family']} {r['importance']:+.4f} ({r['verdict']})"
                                                  for r in rows))
    if parts:
        text += ". Permutation importance on validation, " + "; ".join(parts)
    return [finding("feature_families", text + ".", True, {"used": summary["used"]})]
