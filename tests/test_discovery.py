"""The discovery benchmark's verdicts: a null promotion fails its target, medium power needs 80 % and profits."""
from __future__ import annotations

from pathlib import Path

from experiments.cli.discovery import DiscoveryGrid, MarketOutcome, power_plot, summarize


def _o(strength: str, edge: float, seed: int, promoted: bool, pnl: float | None = None) -> MarketOutcome:
    return MarketOutcome(strength, edge, seed, 2, "r" if promoted else None, pnl, None, 1.0)


def test_a_single_false_promotion_fails_the_null_target() -> None:
    rows = {r["strength"]: r for r in summarize([_o("null", 0.0, k, False) for k in range(20)])}
    assert rows["null"]["met"] is True and rows["null"]["rate"] == 0.0
    bad = {r["strength"]: r for r in summarize([_o("null", 0.0, 1, True, 3.0), _o("null", 0.0, 2, False)])}
    assert bad["null"]["met"] is False and bad["null"]["rate"] == 0.5


def test_medium_power_needs_80_percent_and_positive_holdouts() -> None:
    good = [_o("medium", 1.0, k, True, 5.0) for k in range(4)] + [_o("medium", 1.0, 9, False)]
    assert summarize(good)[0]["met"] is True
    loser = [_o("medium", 1.0, k, True, 5.0) for k in range(4)] + [_o("medium", 1.0, 9, True, -1.0)]
    assert summarize(loser)[0]["met"] is False
    weak = [_o("medium", 1.0, k, k < 3, 5.0) for k in range(5)]
    assert summarize(weak)[0]["met"] is False  # 60 %


def test_the_power_curve_is_written(tmp_path: Path) -> None:
    doc = {"summary": summarize([_o("null", 0.0, 1, False), _o("medium", 1.0, 1, True, 2.0)])}
    assert power_plot(doc, tmp_path / "p.png").stat().st_size > 1000
    assert DiscoveryGrid.quick().edges == ("null", "medium") and DiscoveryGrid.full().seeds >= 20


def test_quick_and_full_grids_share_the_market_and_its_split_design() -> None:
    """The quick grid is the full one with fewer strengths, seeds and experiments: same market size, same base
    spec, so a quick verdict speaks for the full grid's configuration."""
    from experiments.cli.discovery import base_spec_doc
    from experiments.spec.io import validate_spec
    from experiments.spec.splits import split_bars
    from trader.market.synthetic import generate_synthetic

    quick, full = DiscoveryGrid.quick(), DiscoveryGrid.full()
    assert quick.sessions == full.sessions and quick.proposer == full.proposer
    spec = validate_spec(base_spec_doc(1), "discovery base")
    assert spec.entry.type == "momentum" and spec.exits.model.enabled is False
    market = generate_synthetic(sessions=full.sessions, seed=1, edge=0.0, max_dte=0, strikes_each_side=1)
    s = split_bars(market.bars.index, spec.splits)
    dates = market.bars.index.date
    days = [len(set(dates[a:b])) for a, b in (s.train, s.validation, s.holdout)]
    # enough daily validation returns for the Deflated Sharpe to tell a Sharpe of 5 from luck, and a holdout
    # long enough that a real edge clears its floor; the one-session embargo takes a day from each
    assert days[1] >= 39 and days[2] >= 29, days
