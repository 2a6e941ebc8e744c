"""The TPE (and random-search) proposer: a space from the spec model, history told, proposals through the queue."""
from __future__ import annotations

from pathlib import Path

from agents.context import TriedItem
from agents.proposal import is_protected
from agents.tpe import propose_tpe, tpe_space
from experiments.spec.model import ExperimentSpec
from tests.agent_fixtures import make_queue, sample_context, spec_tools

FIELDS = ["exits.", "entry.momentum."]


def _base() -> dict:
    return spec_tools().base_flat()


def test_the_space_comes_from_the_spec_model_without_protected_fields() -> None:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = tpe_space(ExperimentSpec, _base())
    assert space and not any(is_protected(p) for p in space)
    assert isinstance(space["model.encoder"], CategoricalDistribution)
    assert isinstance(space["exits.flat_by_eod"], CategoricalDistribution)
    hold = space["exits.max_hold_minutes"]
    assert isinstance(hold, IntDistribution) and (hold.low, hold.high, hold.log) == (1, 20000, True)
    assert isinstance(space["exits.stop_loss_pct"], FloatDistribution)
    assert "exits.take_profit_pct" not in space  # None in the base: left to the agent
    narrow = tpe_space(ExperimentSpec, _base(), FIELDS)
    assert narrow and all(p.startswith(tuple(FIELDS)) for p in narrow)


def test_trials_are_queued_with_their_source_and_only_in_the_space(tmp_path: Path) -> None:
    queue = make_queue(tmp_path)
    tools = spec_tools()
    out = propose_tpe(sample_context(max_proposals=3), queue, tools.validate_changes, spec_model=ExperimentSpec,
                      base=_base(), prefixes=FIELDS, max_proposals=3)
    ideas = queue.list()
    assert len(ideas) == 3 and all(i.source.label() == "optimizer:tpe" for i in ideas)
    assert all(k.startswith(tuple(FIELDS)) for i in ideas for k in i.changes)
    assert out.source == "optimizer:tpe" and not out.errors


def test_history_is_told_the_validation_sharpe_of_its_own_source_only(tmp_path: Path) -> None:
    tools = spec_tools()
    tried = [TriedItem(idea_id=f"i{k}", run_id=f"r{k}", title="t", status="done", source="optimizer:tpe",
                       changes={"entry.momentum.lookback_bars": 20 + 40 * k}, metrics={"sharpe": float(k)})
             for k in range(6)]
    tried.append(TriedItem(idea_id="x", status="done", source="heuristic:offline-rules",
                           changes={"entry.momentum.lookback_bars": 300}, metrics={"sharpe": 9.0}))
    tried.append(TriedItem(idea_id="f", status="failed", source="optimizer:tpe",
                           changes={"entry.momentum.lookback_bars": 7}))
    ctx = sample_context(tried=tried)
    a = propose_tpe(ctx, make_queue(tmp_path / "a"), tools.validate_changes, spec_model=ExperimentSpec,
                    base=_base(), prefixes=["entry.momentum.lookback_bars"], max_proposals=2, dry_run=True)
    assert any("7 finished trial(s) told" in n for n in a.notes), a.notes
    b = propose_tpe(ctx, make_queue(tmp_path / "b"), tools.validate_changes, spec_model=ExperimentSpec,
                    base=_base(), prefixes=["entry.momentum.lookback_bars"], max_proposals=2, dry_run=True)
    assert [p.changes for p in a.proposals] == [p.changes for p in b.proposals]  # same inputs, same trials
    r = propose_tpe(ctx, make_queue(tmp_path / "c"), tools.validate_changes, spec_model=ExperimentSpec,
                    base=_base(), prefixes=["entry.momentum.lookback_bars"], sampler="random", max_proposals=2,
                    dry_run=True)
    assert any("0 finished trial(s) told" in n for n in r.notes)  # random search has its own history
