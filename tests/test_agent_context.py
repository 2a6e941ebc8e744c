"""The agent's context and prompts: report digests, the holdout guard, the token budget, the search space."""
from __future__ import annotations

from pathlib import Path

import pytest

from agents.context import (
    ContextError,
    TriedItem,
    assert_no_holdout,
    build_context,
    compress_context,
    digest_from_analysis,
    estimate_tokens,
    recent_report_dirs,
    scrub_holdout,
    tried_item,
)
from agents.llm_errors import LLMConfigError
from agents.prompts import render_system, render_user
from agents.proposal import PROTECTED_FIELDS, is_protected, protected_field_errors
from agents.search_space import search_space
from experiments.spec.model import ExperimentSpec
from tests.agent_fixtures import (
    HOLDOUT_PNL,
    HOLDOUT_SHARPE,
    digest_of,
    sample_context,
    sample_digest,
    spec_tools,
    write_analysed_run,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One analysed run (with holdout figures lying next to its validation report)."""
    return write_analysed_run(tmp_path_factory.mktemp("runs"), overrides={"exits.max_hold_minutes": 60})


def test_digest_carries_the_report_facts_and_never_the_holdout(run_dir: Path) -> None:
    digest = digest_of(run_dir)
    assert digest.run_id == run_dir.name and digest.entry_type == "consensus"
    assert digest.changes == {"exits.max_hold_minutes": 60}
    assert digest.metrics["trades"] == 48 and "holdout_sharpe" not in digest.metrics
    assert any("stop_loss" in f for f in digest.findings)
    assert {r.field for r in digest.recommendations} >= {"exits.stop_loss_pct", "entry.consensus.blocked_signals"}
    assert_no_holdout(digest)


def test_rendered_prompts_contain_report_facts_and_no_holdout_figures(run_dir: Path) -> None:
    ctx = sample_context(reports=[digest_of(run_dir)])
    user, system = render_user(ctx), render_system(ctx, ExperimentSpec)
    assert run_dir.name in user and "exits.stop_loss_pct: 50.0 -> 75.0" in user
    assert "exited at the 50.0% stop-loss" in user and "trades=48" in user
    for text in (user, system):
        assert "holdout" not in text.lower()
        assert str(HOLDOUT_SHARPE)[:5] not in text and str(int(HOLDOUT_PNL)) not in text
    assert "submit_proposals" in system and "exits.stop_loss_pct: number or null [>0.0 <=100.0] (base 50.0)" in system
    assert "Entry controllers this build can run: consensus, predictor, momentum, random" in system


def test_holdout_keys_are_scrubbed_and_asserted() -> None:
    dirty = {"metrics": {"sharpe": 1.0, "holdout_sharpe": 9.0}, "Holdout": {"pnl": 1}, "rows": [{"holdout": 2}]}
    assert scrub_holdout(dirty) == {"metrics": {"sharpe": 1.0}, "rows": [{}]}
    with pytest.raises(ContextError, match="metrics.holdout_sharpe"):
        assert_no_holdout(dirty)
    with pytest.raises(ContextError, match="validation reports only"):
        digest_from_analysis({"run_id": "r", "split": "holdout", "metrics": {"sharpe": 3.0}})
    ctx = build_context([], [{"rank": 1, "run_id": "r", "sharpe": 1.0, "holdout_sharpe": 5.0}],
                        [tried_item(status="done", changes={"splits.holdout": 0.3, "exits.stop_loss_pct": 9.0})],
                        spec_tools().base_flat(), 3)
    assert ctx.leaderboard == [{"rank": 1, "run_id": "r", "sharpe": 1.0}]
    assert ctx.tried[0].changes == {"exits.stop_loss_pct": 9.0}
    assert not any(is_protected(k) for k in ctx.base) and "data.interval" in ctx.base


def test_markdown_only_report_is_read_without_holdout_lines(tmp_path: Path) -> None:
    run = tmp_path / "20240301-000000-aaaaaa-0001"
    run.mkdir()
    (run / "ANALYSIS.md").write_text("# Analysis\nSharpe 1.2 on validation\nholdout sharpe 9.9\n")
    from agents.context import read_report_digest

    digest = read_report_digest(run)
    assert digest is not None and "Sharpe 1.2" in digest.text and "9.9" not in digest.text


def test_recent_report_dirs_newest_first_and_limited(tmp_path: Path) -> None:
    for name in ("20240101-000000-a-1", "20240301-000000-c-1", "20240201-000000-b-1", "_workers"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "analysis.json").write_text("{}")
    (tmp_path / "20240401-000000-d-1").mkdir()  # not analysed
    found = recent_report_dirs(tmp_path, 2)
    assert [p.name for p in found] == ["20240301-000000-c-1", "20240201-000000-b-1"]
    skip = recent_report_dirs(tmp_path, 5, exclude=lambda p: p.name.startswith("202403"))
    assert [p.name for p in skip] == ["20240201-000000-b-1", "20240101-000000-a-1"]


def big_context() -> object:
    reports = [sample_digest(f"2024020{k}-120000-abc123-0001", findings=[f"finding {k}.{i} " + "x" * 150
                                                                          for i in range(12)],
                             held_back=[f"held {i}" for i in range(5)]) for k in range(5, 0, -1)]
    tried = [TriedItem(idea_id=f"i{i}", title=f"idea {i} " + "y" * 40, status="done",
                       changes={"exits.stop_loss_pct": 5.0 + i}, metrics={"sharpe": 0.1 * i}) for i in range(80)]
    board = [{"rank": i + 1, "run_id": f"run{i}", "sharpe": 1.0 - i * 0.01} for i in range(15)]
    return sample_context(reports=reports, tried=tried, leaderboard=board)


def test_context_is_cut_to_the_token_budget_oldest_first() -> None:
    ctx = big_context()
    full = estimate_tokens(render_user(ctx))
    cut = compress_context(ctx, 1500, render_user)
    text = render_user(cut)
    assert full > 1500 >= estimate_tokens(text)
    assert cut.reports[0].run_id == "20240205-120000-abc123-0001"  # the newest report survives
    assert cut.omitted and "Left out of this context" in text and "(token budget)" in text
    assert compress_context(ctx, 1500, render_user) == cut  # deterministic
    assert ctx.omitted == [] and len(ctx.tried) == 80  # the original is untouched
    assert compress_context(ctx, 10**6, render_user).omitted == []


def test_context_says_so_when_it_cannot_fit() -> None:
    cut = compress_context(big_context(), 50, render_user)
    assert cut.omitted[-1].startswith("the context is still over its token budget")


def test_search_space_leaves_out_protected_fields() -> None:
    rows = {r["path"]: r for r in search_space(ExperimentSpec, spec_tools().base_flat())}
    assert "data.interval" in rows and rows["exits.stop_loss_pct"]["base"] == 50.0
    for path in ("seed", "cycles", "splits.holdout", "data.edge", "data.sessions", "costs.latency_bars",
                 "trading.initial_balance", "name", "notes"):
        assert path not in rows
    assert "one of tcn|lstm|transformer|mamba2" in rows["model.encoder"]["type"]


def test_protected_field_rules() -> None:
    assert PROTECTED_FIELDS[:3] == ("seed", "cycles", "splits")
    for path in ("seed", "cycles", "splits.holdout", "splits.embargo_bars", "data.source", "data.edge",
                 "costs.spread_multiplier", "trading.initial_balance"):
        assert is_protected(path), path
    for path in ("data.interval", "exits.stop_loss_pct", "entry.type", "model.encoder", "trading.contracts",
                 "seeds", "cycles_extra"):
        assert not is_protected(path), path
    assert len(protected_field_errors({"splits.train": 0.5, "exits.stop_loss_pct": 3.0})) == 1


def test_missing_templates_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="prompt templates are missing"):
        render_user(sample_context(), prompts_dir=tmp_path)
