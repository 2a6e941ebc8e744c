"""Shared pieces of the agent tests: a real idea queue, the spec tools, an analysed run and a ready context."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agents.context import AgentContext, ReportDigest, build_context, read_report_digest
from agents.settings import LLMSettings
from analysis.inputs import load_run
from analysis.report import build_analysis
from experiments.ideas.queue import IdeaQueue
from experiments.optimizer.agent_job import SpecTools
from experiments.spec.model import ExperimentSpec
from tests.analysis_fixtures import fixed_trades, spec_dict, write_run
from trader.signals import SIGNAL_NAMES

KEY = "sk-ant-test-key-0123456789abcdef"
TRADIER_TOKEN = "trd-secret-token-5f3c9a7e"
TRADIER_ACCOUNT = "VA99887766"
SUPPORTED = ["consensus", "predictor", "momentum", "random"]
HOLDOUT_SHARPE = 7.777123
HOLDOUT_PNL = 98765.4321


def make_queue(root: Path) -> IdeaQueue:
    """A real idea queue under `root` over the default spec (no auto-approve)."""
    return IdeaQueue(root / "queue" / "ideas.json", base=ExperimentSpec())


def spec_tools() -> SpecTools:
    """validate_changes / spec_hash_of over the default spec."""
    return SpecTools(ExperimentSpec())


def llm_settings(base_url: str, **overrides: Any) -> LLMSettings:
    """Settings pointed at a fake server, with tiny backoffs and a $1 daily cap."""
    values: dict[str, Any] = {
        "base_url": base_url, "api_key": SecretStr(KEY), "backoff_initial_s": 0.01, "backoff_max_s": 0.05,
        "timeout_s": 5.0, "connect_timeout_s": 1.0, "max_retries": 2, "daily_cap_usd": 1.0,
    }
    values.update(overrides)
    return LLMSettings(**values)


def write_analysed_run(root: Path, run_id: str = "20240201-120000-abc123-0001",
                       overrides: dict[str, Any] | None = None, holdout: bool = True) -> Path:
    """A run directory with analysis.json (validation) and, when `holdout`, holdout figures lying beside it."""
    spec = spec_dict(overrides)
    run_dir = write_run(root, fixed_trades(), spec=spec, run_id=run_id)
    analysis = build_analysis(load_run(run_dir))
    if holdout:  # figures the agent must never see, in the places a careless reader would pick them up
        analysis["holdout"] = {"sharpe": HOLDOUT_SHARPE, "pnl": HOLDOUT_PNL}
        analysis["metrics"]["holdout_sharpe"] = HOLDOUT_SHARPE
        (run_dir / "holdout.json").write_text(json.dumps({"split": "holdout", "metrics": {"sharpe": HOLDOUT_SHARPE,
                                                                                          "pnl": HOLDOUT_PNL}}))
    (run_dir / "analysis.json").write_text(json.dumps(analysis, indent=2))
    (run_dir / "ANALYSIS.md").write_text("# Analysis\n\nvalidation only\n")
    return run_dir


def sample_digest(run_id: str = "20240201-120000-abc123-0001", **fields: Any) -> ReportDigest:
    """A small hand-made report digest."""
    values: dict[str, Any] = {
        "run_id": run_id, "entry_type": "consensus", "encoder": "tcn", "interval": "1min", "changes": {},
        "metrics": {"trades": 48, "sharpe": -1.2, "pnl_pct": -3.4, "win_rate": 0.35},
        "findings": ["26 of 31 losing trades exited at the 8.0% stop-loss."],
        "recommendations": [{"field": "exits.stop_loss_pct", "value": 12.0, "current": 8.0,
                             "finding": "most losers hit the stop", "rule": "widen_stop_loss"}],
    }
    values.update(fields)
    return ReportDigest(**values)


def sample_context(reports: list[ReportDigest] | None = None, max_proposals: int = 3, **kwargs: Any) -> AgentContext:
    """A context over the default spec (consensus entry) with one report digest."""
    return build_context(
        reports=reports if reports is not None else [sample_digest()],
        leaderboard=kwargs.pop("leaderboard", []),
        tried=kwargs.pop("tried", []),
        base=spec_tools().base_flat(),
        max_proposals=max_proposals,
        supported_entry_types=kwargs.pop("supported_entry_types", SUPPORTED),
        signal_names=SIGNAL_NAMES,
    )


def digest_of(run_dir: Path) -> ReportDigest:
    """The digest the agent reads from a run directory (changes against the default spec)."""
    stored = json.loads((run_dir / "spec.json").read_text())["spec"]
    digest = read_report_digest(run_dir, spec_tools().diff_from_base(stored))
    assert digest is not None
    return digest


def proposal(title: str = "Wider stop-loss", **changes: Any) -> dict[str, Any]:
    """A well-formed raw proposal (changes default to a wider stop-loss)."""
    return {"title": title, "hypothesis": "Fewer trades are stopped out by noise.",
            "rationale": "26 of 31 losers hit the 8% stop in run 20240201-120000-abc123-0001.",
            "changes": changes or {"exits.stop_loss_pct": 12.0}, "priority": 5}
