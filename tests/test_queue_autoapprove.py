"""The auto-approve policy: off by default, only inside the configured fields and bounds, a daily limit."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agents.sink import Source
from experiments.home import set_home
from experiments.ideas.autoapprove import AUTO_APPROVE_ACTOR, AutoApprovePolicy, load_autoapprove_policy
from experiments.ideas.errors import PolicyError
from experiments.ideas.models import Status
from experiments.ideas.queue import IdeaQueue
from experiments.spec.model import ExperimentSpec

AGENT = Source(kind="agent", name="proposer", model="claude-haiku-4-5")
POLICY = AutoApprovePolicy(
    enabled=True,
    allowed_fields=["entry.momentum."],
    bounds={"exits.stop_loss_pct": {"min": 4, "max": 12}, "model.encoder": {"values": ["tcn", "mamba2"]}},
    max_changes=2,
    max_per_day=3,
)


def _queue(tmp_path: Path, policy: AutoApprovePolicy | None = POLICY, clock=None) -> IdeaQueue:
    kw = {"clock": clock} if clock else {}
    return IdeaQueue(tmp_path / "ideas.json", base=ExperimentSpec(), policy=policy, **kw)


def _status(q: IdeaQueue, changes: dict, source: Source = AGENT) -> Status:
    res = q.submit("t", "h", "r", changes, source)
    assert res.accepted, res.reasons
    return q.get(res.idea_id).status


def test_off_by_default(tmp_path: Path) -> None:
    q = _queue(tmp_path, policy=None)
    assert _status(q, {"exits.stop_loss_pct": 6}) is Status.PROPOSED
    assert AutoApprovePolicy().enabled is False


def test_within_bounds_is_approved_and_recorded(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    res = q.submit("tighter stop", "h", "r", {"exits.stop_loss_pct": 6, "entry.momentum.lookback_bars": 30}, AGENT)
    assert res.accepted and res.status == "approved"
    idea = q.get(res.idea_id)
    assert [(e.action, e.actor) for e in idea.history] == [
        ("propose", AGENT.label()), ("approve", AUTO_APPROVE_ACTOR)]


@pytest.mark.parametrize("changes", [
    {"exits.stop_loss_pct": 20},                  # above the bound
    {"exits.stop_loss_pct": 3},                   # below the bound
    {"exits.stop_loss_pct": None},                # disabling is not a number inside the bound
    {"model.encoder": "lstm"},                    # not an allowed value
    {"trading.contracts": 5},                     # a field outside the policy
    {"entry.momentum.lookback_bars": 30, "entry.momentum.threshold_sigma": 2.0, "exits.stop_loss_pct": 6},  # 3 > 2
])
def test_outside_bounds_stays_proposed(tmp_path: Path, changes: dict) -> None:
    q = _queue(tmp_path)
    assert _status(q, changes) is Status.PROPOSED


def test_refusal_reasons_name_the_field() -> None:
    reasons = POLICY.refusals({"exits.stop_loss_pct": (8.0, 20.0), "trading.contracts": (1, 5)}, "agent", 0)
    assert any("exits.stop_loss_pct = 20.0 is above" in r for r in reasons)
    assert any("trading.contracts is outside" in r for r in reasons)


def test_people_are_not_auto_approved_unless_listed(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    person = Source(kind="human", name="bob")
    assert _status(q, {"exits.stop_loss_pct": 6}, person) is Status.PROPOSED
    q2 = _queue(tmp_path / "b", policy=POLICY.model_copy(update={"sources": ["human"]}))
    assert _status(q2, {"exits.stop_loss_pct": 6}, person) is Status.APPROVED


def test_a_change_that_changes_nothing_is_refused_not_queued(tmp_path: Path) -> None:
    q = _queue(tmp_path)
    for changes in ({"name": "only cosmetic"}, {"exits.stop_loss_pct": 50.0}):  # cosmetic, or the base's own value
        res = q.submit("t", "h", "r", changes, AGENT)
        assert not res.accepted and "changes nothing against the base spec" in res.reasons[0]
    assert q.list() == []


def test_daily_limit_in_new_york_days(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)]  # 10:00 in New York
    q = _queue(tmp_path, clock=lambda: now[0])
    got = [_status(q, {"exits.stop_loss_pct": 4.5 + s}) for s in range(5)]  # 8 would be the base: refused
    assert got == [Status.APPROVED] * 3 + [Status.PROPOSED] * 2
    now[0] = dt.datetime(2026, 3, 3, 4, 30, tzinfo=dt.UTC)  # 23:30 the same New York day
    assert _status(q, {"exits.stop_loss_pct": 9.5}) is Status.PROPOSED
    now[0] = dt.datetime(2026, 3, 3, 5, 30, tzinfo=dt.UTC)  # 00:30 the next day
    assert _status(q, {"exits.stop_loss_pct": 10}) is Status.APPROVED


def test_policy_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    set_home(None)
    monkeypatch.setenv("GAUSSIAN_HOME", str(tmp_path))
    assert load_autoapprove_policy() == AutoApprovePolicy()
    (tmp_path / "autoapprove.yaml").write_text(
        "enabled: true\nallowed_fields: [exits.]\nbounds:\n  exits.stop_loss_pct: {min: 4, max: 12}\nmax_per_day: 2\n")
    policy = load_autoapprove_policy()
    assert policy.enabled and policy.max_per_day == 2 and policy.bounds["exits.stop_loss_pct"].max == 12
    q = IdeaQueue.from_home()
    assert q.submit("t", "", "", {"exits.take_profit_pct": 30}, AGENT).status == "approved"
    for text, match in [
        ("enabled: true\nbounds:\n  exits.nope: {max: 3}\n", "exits.nope"),
        ("enabled: true\nallowed_fields: [modle.]\n", "modle."),
        ("enabled: yes please\n", "enabled"),
        ("enabled: true\nmax_per_dya: 3\n", "max_per_dya"),
        ("enabled: [true\n", "not valid YAML"),
    ]:
        (tmp_path / "autoapprove.yaml").write_text(text)
        with pytest.raises(PolicyError, match=match):
            load_autoapprove_policy()
    with pytest.raises(PolicyError, match="not found"):
        load_autoapprove_policy(tmp_path / "missing.yaml")
