"""What the agent reads: digests of the latest validation reports, the leaderboard and the tried list, within a budget.

Only validation figures ever enter the context: any mapping key that mentions the holdout is dropped on the way
in, any sentence of text that mentions it is cut (agents.untrusted), and `assert_no_holdout` re-checks the
finished context, keys and text. The budget is a simple estimate (characters / 4) of
the rendered user prompt; when it is exceeded, detail is dropped in a fixed order (oldest first) and each cut
is named in `omitted`, so the model knows what it is not seeing.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agents.llm_errors import LLMError
from agents.proposal import is_protected
from agents.untrusted import mentions_holdout, scrub_strings

ANALYSIS_JSON = "analysis.json"
ANALYSIS_MD = "ANALYSIS.md"
DIGEST_METRICS = ("pnl", "pnl_pct", "trades", "win_rate", "sharpe", "dsr", "n_trials", "profit_factor",
                  "expectancy", "max_drawdown", "avg_hold_minutes", "exposure", "fees")
LEADERBOARD_KEYS = ("rank", "run_id", "name", "entry", "encoder", "trades", "pnl_pct", "win_rate", "sharpe", "dsr",
                    "random_pnl_pct", "buy_hold_pnl_pct", "promoted")
TRIED_METRICS = ("sharpe", "pnl_pct", "pnl", "trades", "win_rate", "dsr")
MARKDOWN_EXCERPT_CHARS = 2000
FORBIDDEN_KEY = "holdout"


class ContextError(LLMError):
    """The agent's context would carry something it must never see (a holdout figure)."""


class Recommendation(BaseModel):
    """One change an analysis report recommends, with the finding behind it."""

    model_config = ConfigDict(extra="ignore")

    field: str
    value: Any = None
    current: Any = None
    finding: str = ""
    rule: str = ""


class ReportDigest(BaseModel):
    """The facts of one run's validation report the agent needs, compact."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    spec_hash: str | None = None
    entry_type: str | None = None
    encoder: str | None = None
    interval: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict, description="the run's spec against the base spec")
    window: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    baselines: dict[str, Any] = Field(default_factory=dict)
    confidence: str | None = None
    findings: list[str] = Field(default_factory=list)
    recommendations: list[Recommendation] = Field(default_factory=list)
    held_back: list[str] = Field(default_factory=list, description="candidate changes with too little evidence")
    notes: list[str] = Field(default_factory=list)
    text: str = Field("", description="ANALYSIS.md excerpt, only when the run has no analysis.json")


class TriedItem(BaseModel):
    """One thing already tried: an idea in the queue and/or an executed run, with its outcome."""

    model_config = ConfigDict(extra="forbid")

    idea_id: str | None = None
    run_id: str | None = None
    title: str = ""
    status: str
    source: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict)
    spec_hash: str | None = None
    entry_type: str | None = None
    encoder: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class AgentContext(BaseModel):
    """Everything the prompt templates render."""

    model_config = ConfigDict(extra="forbid")

    reports: list[ReportDigest] = Field(default_factory=list, description="newest first")
    leaderboard: list[dict[str, Any]] = Field(default_factory=list, description="best first")
    tried: list[TriedItem] = Field(default_factory=list, description="newest first")
    base: dict[str, Any] = Field(default_factory=dict, description="the base spec's changeable fields, flattened")
    supported_entry_types: list[str] | None = None
    signal_names: list[str] = Field(default_factory=list)
    max_proposals: int = Field(3, ge=1)
    omitted: list[str] = Field(default_factory=list, description="what the budget cut, for the model to know")


# ---------------------------------------------------------------------------------------------- holdout guard
def scrub_holdout(obj: Any) -> Any:
    """A copy of `obj` without any mapping key that mentions the holdout (at any depth)."""
    if isinstance(obj, Mapping):
        return {k: scrub_holdout(v) for k, v in obj.items() if FORBIDDEN_KEY not in str(k).lower()}
    if isinstance(obj, (list, tuple)):
        return [scrub_holdout(v) for v in obj]
    return obj


def _holdout_keys(obj: Any, path: str = "") -> Iterator[str]:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            where = f"{path}.{k}" if path else str(k)
            if FORBIDDEN_KEY in str(k).lower():
                yield where
            yield from _holdout_keys(v, where)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _holdout_keys(v, f"{path}[{i}]")
    elif isinstance(obj, str) and mentions_holdout(obj):
        yield f"{path} (text)"


def assert_no_holdout(obj: Any) -> None:
    """Raise ContextError when any mapping key or any text in `obj` mentions the holdout."""
    found = list(_holdout_keys(obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj))
    if found:
        raise ContextError(f"The agent context holds holdout data at {', '.join(found[:3])}; it may only see "
                           "validation figures.")


# ---------------------------------------------------------------------------------------------- report digests
def compact(x: Any, digits: int = 4) -> Any:
    """Numbers rounded to `digits` significant digits (NaN/inf to None), recursively, for a shorter prompt."""
    if isinstance(x, bool) or x is None or isinstance(x, (str, int)):
        return x
    if isinstance(x, float):
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}")
    if isinstance(x, Mapping):
        return {str(k): compact(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [compact(v, digits) for v in x]
    return str(x)


def _finding_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, Mapping):
        return str(item)
    text = str(item.get("text", ""))
    if not item.get("conclusive", True) and item.get("caveat"):
        text += f" (inconclusive: {item['caveat']})"
    return text


def _held_text(item: Mapping[str, Any]) -> str:
    return (f"{item.get('field')} -> {json.dumps(item.get('value'), default=str)} held back "
            f"({item.get('reason', 'too few trades')})")


def digest_from_analysis(analysis: Mapping[str, Any], changes: Mapping[str, Any] | None = None) -> ReportDigest:
    """A digest of one analysis.json dict (validation split only)."""
    data = scrub_holdout(analysis)
    split = data.get("split", "validation")
    if split != "validation":
        raise ContextError(f"analysis of run {data.get('run_id')} is for split {split!r}; the agent reads "
                           "validation reports only.")
    summary = data.get("spec_summary") or {}
    metrics = data.get("metrics") or {}
    baselines = data.get("baselines") or {}
    conf = data.get("confidence") or {}
    verdict = conf.get("verdict")
    if verdict:
        rho = conf.get("spearman_rho")
        verdict = f"{verdict} (Spearman rho {compact(rho)})" if isinstance(rho, (int, float)) else str(verdict)
    recs = [Recommendation.model_validate(r) for r in data.get("recommendations") or [] if isinstance(r, Mapping)
            and r.get("field")]
    return ReportDigest(
        run_id=str(data.get("run_id") or ""),
        spec_hash=data.get("spec_hash"),
        entry_type=summary.get("entry_type"),
        encoder=summary.get("encoder"),
        interval=summary.get("interval"),
        changes=compact(scrub_holdout(dict(changes or {}))),
        window=compact({k: (data.get("window") or {}).get(k) for k in ("start", "end", "bars")}),
        metrics=compact({k: metrics.get(k) for k in DIGEST_METRICS if k in metrics}),
        baselines=compact({
            "buy_and_hold_pnl_pct": (baselines.get("buy_and_hold") or {}).get("pnl_pct"),
            "random_entry_pnl_pct": (baselines.get("random_entry") or {}).get("pnl_pct"),
            "random_entry_trades": (baselines.get("random_entry") or {}).get("trades"),
        }),
        confidence=verdict,
        findings=[_finding_text(f) for f in data.get("findings") or []],
        recommendations=[Recommendation(field=r.field, value=compact(r.value), current=compact(r.current),
                                        finding=r.finding, rule=r.rule) for r in recs],
        held_back=[_held_text(h) for h in data.get("insufficient") or [] if isinstance(h, Mapping)],
        notes=[str(n) for n in data.get("notes") or []],
    )


def _markdown_excerpt(text: str) -> str:
    lines = [line for line in text.splitlines() if FORBIDDEN_KEY not in line.lower()]
    excerpt = "\n".join(lines).strip()
    return excerpt[:MARKDOWN_EXCERPT_CHARS] + ("\n..." if len(excerpt) > MARKDOWN_EXCERPT_CHARS else "")


def read_report_digest(run_dir: Path, changes: Mapping[str, Any] | None = None) -> ReportDigest | None:
    """The digest of a run directory's analysis.json (or an ANALYSIS.md excerpt); None when it has neither."""
    run_dir = Path(run_dir)
    path = run_dir / ANALYSIS_JSON
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            data = None
        if isinstance(data, dict):
            data.setdefault("run_id", run_dir.name)
            return digest_from_analysis(data, changes)
    md = run_dir / ANALYSIS_MD
    if md.is_file():
        return ReportDigest(run_id=run_dir.name, changes=compact(scrub_holdout(dict(changes or {}))),
                            text=_markdown_excerpt(md.read_text(encoding="utf-8", errors="replace")))
    return None


def recent_report_dirs(runs_root: Path, limit: int, exclude: Callable[[Path], bool] | None = None) -> list[Path]:
    """The `limit` newest run directories (run ids sort by time) that hold an analysis report."""
    root = Path(runs_root)
    if not root.is_dir() or limit <= 0:
        return []
    out: list[Path] = []
    for d in sorted((p for p in root.iterdir() if p.is_dir() and p.name[:1] not in "._"), reverse=True):
        if not ((d / ANALYSIS_JSON).is_file() or (d / ANALYSIS_MD).is_file()):
            continue
        if exclude is not None and exclude(d):
            continue
        out.append(d)
        if len(out) >= limit:
            break
    return out


# ---------------------------------------------------------------------------------------------- the context
def leaderboard_rows(rows: Sequence[Mapping[str, Any]], limit: int = 15) -> list[dict[str, Any]]:
    """Leaderboard rows cut to the columns the agent reads (validation figures only)."""
    return [compact({k: r.get(k) for k in LEADERBOARD_KEYS if k in r}) for r in list(rows)[:limit]]


def tried_item(**fields: Any) -> TriedItem:
    """A TriedItem with every holdout key dropped, metrics cut to TRIED_METRICS and numbers compacted."""
    clean = scrub_holdout(fields)
    clean["metrics"] = compact({k: v for k, v in (clean.get("metrics") or {}).items() if k in TRIED_METRICS})
    clean["changes"] = compact(clean.get("changes") or {})
    if clean.get("error"):
        clean["error"] = str(clean["error"])[:300]
    return TriedItem(**clean)


def build_context(
    reports: Sequence[ReportDigest],
    leaderboard: Sequence[Mapping[str, Any]],
    tried: Sequence[TriedItem],
    base: Mapping[str, Any],
    max_proposals: int,
    supported_entry_types: Sequence[str] | None = None,
    signal_names: Sequence[str] = (),
) -> AgentContext:
    """Assemble the context (base limited to changeable fields) and check it holds no holdout data."""
    ctx = AgentContext(
        reports=list(reports),
        leaderboard=leaderboard_rows(leaderboard),
        tried=list(tried),
        base=compact({k: v for k, v in base.items() if not is_protected(k)}),
        supported_entry_types=list(supported_entry_types) if supported_entry_types is not None else None,
        signal_names=list(signal_names),
        max_proposals=max_proposals,
    )
    # report text, titles and errors are untrusted: no sentence mentioning the holdout gets through
    ctx = AgentContext.model_validate(scrub_strings(ctx.model_dump(mode="json")))
    assert_no_holdout(ctx)
    return ctx


# ---------------------------------------------------------------------------------------------- the budget
def estimate_tokens(text: str) -> int:
    """A rough token count: characters / 4, rounded up."""
    return (len(text) + 3) // 4


def _cut_list(items: list[Any], keep: int) -> tuple[list[Any], int]:
    return items[:keep], max(0, len(items) - keep)


def _steps(ctx: AgentContext) -> Iterator[str]:
    """Apply one reduction at a time to `ctx` (in place) and yield what it cut."""
    for keep in (6, 4):
        cut = 0
        for r in ctx.reports:
            r.findings, n = _cut_list(r.findings, keep)
            cut += n
        if cut:
            yield f"{cut} lower-ranked findings of the reports"
    held = sum(len(r.held_back) for r in ctx.reports)
    for r in ctx.reports:
        r.held_back = []
    if held:
        yield f"{held} held-back candidate changes of the reports"
    for keep in (30, 15):
        ctx.tried, n = _cut_list(ctx.tried, keep)
        if n:
            yield f"the {n} oldest tried items"
    while len(ctx.reports) > 1:
        dropped = ctx.reports.pop()
        yield f"the report of run {dropped.run_id} (older)"
    for keep in (10, 5):
        ctx.leaderboard, n = _cut_list(ctx.leaderboard, keep)
        if n:
            yield f"leaderboard rows below rank {keep}"
    cut = 0
    for r in ctx.reports:
        cut += len(r.notes)
        r.notes = []
        r.findings, n = _cut_list(r.findings, 2)
        cut += n
    if cut:
        yield f"{cut} more findings and notes of the remaining report"
    for keep in (8, 3):
        ctx.tried, n = _cut_list(ctx.tried, keep)
        if n:
            yield f"the {n} oldest tried items"
    for r in ctx.reports:
        r.text = r.text[:600]
        r.findings = [f[:200] for f in r.findings]
        for rec in r.recommendations:
            rec.finding = rec.finding[:200]
    yield "long texts of the remaining report, truncated"


def compress_context(ctx: AgentContext, budget_tokens: int, render: Callable[[AgentContext], str]) -> AgentContext:
    """A copy of `ctx` cut until `render(ctx)` fits `budget_tokens` (estimated), each cut listed in `omitted`."""
    out = ctx.model_copy(deep=True)
    if estimate_tokens(render(out)) <= budget_tokens:
        return out
    for what in _steps(out):
        out.omitted.append(f"{what} (token budget)")
        if estimate_tokens(render(out)) <= budget_tokens:
            return out
    out.omitted.append("the context is still over its token budget after every cut")
    return out
