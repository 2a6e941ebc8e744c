"""The offline proposer: recommendations mapped to proposals, untried controllers and encoders, determinism."""
from __future__ import annotations

from pathlib import Path

from agents.context import TriedItem
from agents.offline import ENCODER_CANDIDATES, offline_candidates, propose_offline
from agents.sink import Source
from experiments.spec.model import ExperimentSpec
from tests.agent_fixtures import digest_of, make_queue, sample_context, sample_digest, spec_tools, write_analysed_run


def run_offline(root: Path, ctx: object, limit: int = 3, dry_run: bool = False) -> tuple[object, object]:
    queue = make_queue(root)
    tools = spec_tools()
    out = propose_offline(ctx, queue, tools.validate_changes, spec_model=ExperimentSpec, max_proposals=limit,
                          dry_run=dry_run, spec_hash_of=tools.spec_hash_of)
    return out, queue


def test_recommendations_become_proposals_on_top_of_the_runs_changes(tmp_path: Path) -> None:
    run_dir = write_analysed_run(tmp_path / "runs", overrides={"exits.max_hold_minutes": 60})
    digest = digest_of(run_dir)
    out, queue = run_offline(tmp_path, sample_context(reports=[digest]), limit=10)
    recs = [p for p in out.proposals if p.based_on_run == run_dir.name]
    assert {tuple(sorted(p.changes)) for p in recs} >= {("exits.max_hold_minutes", "exits.stop_loss_pct"),
                                                       ("entry.consensus.blocked_signals", "exits.max_hold_minutes")}
    stop = next(p for p in recs if "exits.stop_loss_pct" in p.changes)
    assert stop.changes == {"exits.max_hold_minutes": 60, "exits.stop_loss_pct": 75.0}
    assert stop.decision == "queued" and "26 of 31 losing trades" in stop.rationale
    idea = queue.get(stop.idea_id)
    assert idea.source == Source(kind="heuristic", name="offline-rules") and idea.analysis_ref == run_dir.name
    assert idea.priority == 2


def test_same_inputs_give_the_same_proposals(tmp_path: Path) -> None:
    ctx = sample_context(reports=[digest_of(write_analysed_run(tmp_path / "runs"))])
    a, _ = run_offline(tmp_path / "a", ctx, limit=6)
    b, _ = run_offline(tmp_path / "b", ctx, limit=6)
    strip = ("idea_id",)
    assert [p.model_dump(exclude=set(strip)) for p in a.proposals] == [p.model_dump(exclude=set(strip))
                                                                        for p in b.proposals]
    assert len(a.proposals) == 6 and a.notes == b.notes


def test_recommendations_alternate_with_exploration(tmp_path: Path) -> None:
    ctx = sample_context(reports=[sample_digest()])
    out, _ = run_offline(tmp_path, ctx, limit=3)
    kinds = [("rec" if p.based_on_run else "explore") for p in out.proposals]
    assert kinds == ["rec", "explore", "explore"]  # one recommendation in the report, then exploration


def test_explores_untried_controllers_and_encoders(tmp_path: Path) -> None:
    tried = [TriedItem(idea_id="i1", status="done", changes={"entry.type": "predictor"}, entry_type="predictor",
                       encoder="tcn"),
             TriedItem(idea_id="i2", status="failed", changes={"entry.type": "momentum"}, entry_type="momentum"),
             TriedItem(idea_id="i3", status="invalid", changes={"entry.type": "random"}, entry_type="random")]
    ctx = sample_context(reports=[], tried=tried)  # the base (consensus, tcn): proposing it would change nothing
    cands, _ = offline_candidates(ctx, ExperimentSpec, spec_tools().spec_hash_of)
    changes = [c["changes"] for c in cands]
    assert {"entry.type": "consensus"} not in changes and {"entry.type": "random"} in changes  # invalid: never ran
    assert {"entry.type": "momentum"} not in changes and {"entry.type": "predictor"} not in changes
    assert {"entry.type": "predictor", "model.encoder": "tcn"} not in changes
    for enc in ENCODER_CANDIDATES[1:]:
        assert {"entry.type": "predictor", "model.encoder": enc} in changes
        assert {"entry.type": "consensus", "model.encoder": enc} in changes
    assert {"entry.type": "consensus", "model.encoder": "tcn"} not in changes  # the same spec as entry.type=consensus
    assert not any(c.get("entry.type") in ("momentum", "random") and "model.encoder" in c for c in changes)


def test_only_supported_controllers_and_a_note_without_model_based_ones(tmp_path: Path) -> None:
    ctx = sample_context(reports=[], supported_entry_types=["momentum", "random"])
    cands, notes = offline_candidates(ctx, ExperimentSpec)
    assert [c["changes"] for c in cands] == [{"entry.type": "momentum"}, {"entry.type": "random"}]
    assert any("encoders are explored only with a model-based" in n for n in notes)


def test_tried_ideas_and_earlier_jobs_are_not_proposed_again(tmp_path: Path) -> None:
    ctx = sample_context(reports=[sample_digest()])
    queue = make_queue(tmp_path)
    tools = spec_tools()
    first = propose_offline(ctx, queue, tools.validate_changes, spec_model=ExperimentSpec, max_proposals=2,
                            spec_hash_of=tools.spec_hash_of)
    assert [p.decision for p in first.proposals] == ["queued", "queued"]
    tried = [TriedItem(idea_id=i.id, status="rejected" if n == 0 else i.status.value, changes=i.changes,
                       spec_hash=i.spec_hash, entry_type=(i.spec or {}).get("entry", {}).get("type"))
             for n, i in enumerate(queue.list())]
    second = propose_offline(sample_context(reports=[sample_digest()], tried=tried), queue, tools.validate_changes,
                             spec_model=ExperimentSpec, max_proposals=2, spec_hash_of=tools.spec_hash_of)
    assert not {p.title for p in first.proposals} & {p.title for p in second.proposals}
    assert all(p.decision == "queued" for p in second.proposals) and len(queue.list()) == 4


def test_protected_and_invalid_recommendations_go_through_the_same_checks(tmp_path: Path) -> None:
    digest = sample_digest(recommendations=[
        {"field": "cycles", "value": 10000, "current": 5000, "finding": "too few trades", "rule": "too_few_trades"},
        {"field": "exits.stop_loss_pct", "value": 500.0, "current": 8.0, "finding": "bogus", "rule": "x"},
    ], changes={"data.sessions": 200, "exits.take_profit_pct": 20.0})
    out, queue = run_offline(tmp_path, sample_context(reports=[digest]), limit=2)
    cycles, explore, invalid = out.proposals  # recommendations alternate with exploration
    assert cycles.decision == "refused" and "cycles: protected field" in cycles.reasons[0]
    assert cycles.changes == {"exits.take_profit_pct": 20.0, "cycles": 10000}  # data.sessions not carried over
    assert "Protected fields of that run not carried over: data.sessions" in cycles.rationale
    assert explore.decision == "queued" and not explore.based_on_run
    assert invalid.decision == "invalid" and invalid.idea_id is not None and "stop_loss_pct" in invalid.reasons[0]
    assert [i.status.value for i in queue.list()] == ["proposed", "invalid"]  # a refusal does not use the limit


def test_dry_run_submits_nothing(tmp_path: Path) -> None:
    out, queue = run_offline(tmp_path, sample_context(), limit=3, dry_run=True)
    assert out.proposals and all(p.decision == "valid" for p in out.proposals) and queue.list() == []


def test_explores_each_context_family_once_and_the_proposal_validates(tmp_path: Path) -> None:
    from agents.offline import FAMILY_CANDIDATES

    tried = [TriedItem(idea_id="i1", status="done", entry_type="consensus", encoder="tcn",
                       changes={"features.families": ["price", "chain", "macro"]})]
    ctx = sample_context(reports=[], tried=tried)
    cands, _ = offline_candidates(ctx, ExperimentSpec, spec_tools().spec_hash_of)
    families = [c["changes"]["features.families"][-1] for c in cands if "features.families" in c["changes"]]
    assert families == [f for f in FAMILY_CANDIDATES if f != "macro"]
    crypto = next(c for c in cands if c["changes"].get("features.families", [""])[-1] == "crypto")
    assert crypto["changes"]["features.required.crypto"] is False
    assert spec_tools().validate_changes(crypto["changes"]) == []
