"""The promotion gate and the act of promoting: exactly one model is promoted, with the evidence that let it in.

The gate's checks, in order: minimum trades; the Deflated Sharpe Ratio over the number of trials in the ledger
above a threshold; the Probability of Backtest Overfitting (CSCV over every run sharing the validation window,
see experiments.promotion.pbo) at most `max_pbo`; beating the random-entry baseline; beating buy-and-hold; and, only when all of those pass,
the sealed holdout (evaluated once, here): its Sharpe must keep at least (1 - holdout_margin) of the validation
Sharpe (precisely: holdout >= validation - margin * |validation|). The gate's settings live in
`<home>/promotion.yaml`, not in the experiment spec, so no proposal can loosen them.

Promoting writes `runs/promoted.json` atomically (run, time, who, forced or not, the previous run, every check
with its figures) and appends each decision to `runs/promotions.jsonl`: promotions, the demotion of the run
that was promoted before, and refusals.
"""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from experiments.files import append_jsonl, atomic_write_json, file_lock
from experiments.home import home_dir, runs_dir
from experiments.runs import ledger
from experiments.runs.attempts import is_abandoned
from experiments.runs.store import read_json, resolve_run
from trader.errors import GaussianError, StateError
from trader.sharpe_stats import PERIODS_PER_YEAR, deflated_sharpe, trials_variance

GATE_FILE = "promotion.yaml"
CHECK_ORDER = ("min_trades", "min_dsr", "max_pbo", "beats_random", "beats_buy_and_hold", "holdout")


class PromotionError(GaussianError):
    """The promotion settings file is malformed, or a run cannot be considered for promotion."""


class PromotionGate(BaseModel):
    """What a run must show to be promoted (settings of the home, never of an experiment spec)."""

    model_config = ConfigDict(extra="forbid")

    min_trades: int = Field(30, ge=0, le=1_000_000, description="validation trades needed")
    min_dsr: float = Field(0.95, ge=0.0, le=1.0,
                           description="Deflated Sharpe Ratio over the ledger's trial count must exceed this")
    must_beat_random: bool = Field(True, description="validation P&L % must exceed the random-entry baseline's")
    must_beat_buy_and_hold: bool = Field(True, description="validation P&L % must exceed buy-and-hold's")
    max_pbo: float = Field(0.5, ge=0.0, le=1.0,
                           description="Probability of Backtest Overfitting over the trial matrix must not exceed "
                                       "this (not applied while fewer than 3 runs x 8 days share the window)")
    holdout_margin: float = Field(0.5, ge=0.0, le=10.0,
                                  description="share of the validation Sharpe the holdout Sharpe may lose")


def gate_path() -> Path:
    """Where the gate's settings live: promotion.yaml in the home."""
    return home_dir() / GATE_FILE


def load_gate(path: str | Path | None = None) -> PromotionGate:
    """Read the gate settings (default: the home's promotion.yaml); a missing file means the defaults."""
    p = Path(path) if path is not None else gate_path()
    if not p.exists():
        if path is not None:
            raise PromotionError(f"{p}: promotion settings file not found")
        return PromotionGate()
    import yaml  # here: the leaderboard and `gaussian status` use this module but never read the YAML

    from experiments.spec.io import describe_validation_error

    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PromotionError(f"{p}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise PromotionError(f"{p}: the promotion settings must be a mapping of fields")
    try:
        return PromotionGate.model_validate(data)
    except ValidationError as err:
        raise PromotionError(describe_validation_error(err, str(p))) from None


# ----- the gate, as pure functions over figures ----------------------------------------------------------------


@dataclass
class GateCheck:
    """One check of the gate: passed, failed or not evaluated (passed None), with its figures and a sentence."""

    name: str
    passed: bool | None
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def current_dsr(metrics: dict[str, Any], n_trials: int, trial_sharpes: list[float] | None) -> float | None:
    """The run's Deflated Sharpe Ratio recomputed over `n_trials` trials (None when its Sharpe is undefined)."""
    sr = _num(metrics.get("sharpe"))
    days = metrics.get("days")
    if sr is None or not isinstance(days, int) or days < 2:
        return None
    skew = _num(metrics.get("return_skew"))
    kurt = _num(metrics.get("return_kurtosis"))
    return deflated_sharpe(sr / math.sqrt(PERIODS_PER_YEAR), days, 0.0 if skew is None else skew,
                           3.0 if kurt is None else kurt, max(1, n_trials), trials_variance(trial_sharpes))


def pbo_check(pbo: dict[str, Any] | None, gate: PromotionGate) -> GateCheck:
    """PBO over the trial matrix at most max_pbo; passes, saying so, when too few runs or days share the window."""
    value = None if pbo is None else _num(pbo.get("pbo"))
    figures = {**(pbo or {}), "max_pbo": gate.max_pbo}
    if value is None:
        what = "not computed" if pbo is None else f"{pbo.get('runs', 0)} runs x {pbo.get('days', 0)} days"
        return GateCheck("max_pbo", True, f"PBO not defined ({what} share the window; needs 3 runs x 8 days): too "
                                          "few trials to measure selection overfitting", figures)
    ok = value <= gate.max_pbo
    return GateCheck("max_pbo", ok, f"PBO {value:.2f} over {pbo.get('runs')} runs x {pbo.get('days')} days "
                                    f"{'<=' if ok else 'exceeds'} {gate.max_pbo}", figures)


def validation_checks(doc: dict[str, Any], gate: PromotionGate, n_trials: int,
                      trial_sharpes: list[float] | None = None, pbo: dict[str, Any] | None = None) -> list[GateCheck]:
    """The gate's checks on a run's validation figures (metrics.json content), in order."""
    m = doc.get("metrics") or {}
    base = doc.get("baselines") or {}
    trades = int(m.get("trades") or 0)
    checks = [GateCheck("min_trades", trades >= gate.min_trades,
                        f"{trades} validation trades {'>=' if trades >= gate.min_trades else '<'} {gate.min_trades}",
                        {"trades": trades, "min_trades": gate.min_trades})]
    dsr = current_dsr(m, n_trials, trial_sharpes)
    ok = dsr is not None and dsr > gate.min_dsr
    checks.append(GateCheck("min_dsr", ok,
                            f"Deflated Sharpe {_f(dsr, 3)} over {n_trials} trials "
                            f"{'>' if ok else 'is not above'} {gate.min_dsr}",
                            {"dsr": dsr, "n_trials": n_trials, "min_dsr": gate.min_dsr, "sharpe": m.get("sharpe"),
                             "days": m.get("days")}))
    checks.append(pbo_check(pbo, gate))
    pnl = _num(m.get("pnl_pct"))
    for name, key, label, wanted in (("beats_random", "random_entry", "random entry", gate.must_beat_random),
                                     ("beats_buy_and_hold", "buy_and_hold", "buy & hold",
                                      gate.must_beat_buy_and_hold)):
        other = _num((base.get(key) or {}).get("pnl_pct"))
        beats = pnl is not None and other is not None and pnl > other
        if not wanted:
            checks.append(GateCheck(name, True, f"not required (P&L {_f(pnl)}% vs {label} {_f(other)}%)",
                                    {"pnl_pct": pnl, f"{key}_pnl_pct": other, "required": False}))
            continue
        checks.append(GateCheck(name, beats, f"P&L {_f(pnl)}% {'>' if beats else 'does not beat'} "
                                             f"{label} {_f(other)}%",
                                {"pnl_pct": pnl, f"{key}_pnl_pct": other, "required": True}))
    return checks


def holdout_check(doc: dict[str, Any], holdout: dict[str, Any], gate: PromotionGate) -> GateCheck:
    """The holdout check: holdout Sharpe >= validation Sharpe - margin * |validation Sharpe|."""
    val = _num((doc.get("metrics") or {}).get("sharpe"))
    hm = holdout.get("metrics") or {}
    hold = _num(hm.get("sharpe"))
    figures = {"validation_sharpe": val, "holdout_sharpe": hold, "holdout_margin": gate.holdout_margin,
               "holdout_pnl_pct": hm.get("pnl_pct"), "holdout_trades": hm.get("trades"),
               "holdout_window": holdout.get("window"),
               "holdout_baselines": {k: (v or {}).get("pnl_pct") for k, v in (holdout.get("baselines") or {}).items()}}
    if val is None or hold is None:
        which = "validation" if val is None else "holdout"
        return GateCheck("holdout", False, f"the {which} Sharpe is undefined (too few days or no variation)", figures)
    floor = val - gate.holdout_margin * abs(val)
    figures["holdout_floor"] = floor
    ok = hold >= floor
    return GateCheck("holdout", ok, f"holdout Sharpe {_f(hold)} {'>=' if ok else '<'} floor {_f(floor)} "
                                    f"(validation {_f(val)}, margin {gate.holdout_margin})", figures)


def sealed_holdout_check(reason: str) -> GateCheck:
    """The holdout check when it is not run: the holdout stays sealed."""
    return GateCheck("holdout", None, f"not evaluated ({reason}); the holdout stays sealed")


def failed_names(checks: list[GateCheck]) -> list[str]:
    """Names of the checks that failed."""
    return [c.name for c in checks if c.passed is False]


# ----- the act of promoting ------------------------------------------------------------------------------------


@dataclass
class PromotionDecision:
    """The outcome of applying the gate to a run: promoted or refused, each check, and what it replaced."""

    run_id: str
    promoted: bool
    forced: bool
    by: str
    checks: list[GateCheck]
    previous: str | None = None
    message: str = ""
    time: str = ""

    @property
    def failed(self) -> list[str]:
        """The checks that failed."""
        return failed_names(self.checks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        out = asdict(self)
        out["failed"] = self.failed
        return out


def promoted_path() -> Path:
    """runs/promoted.json: the one promoted run and its evidence."""
    return runs_dir() / "promoted.json"


def history_path() -> Path:
    """runs/promotions.jsonl: every decision (promote, demote, refuse), append-only."""
    return runs_dir() / "promotions.jsonl"


def current_promoted() -> dict[str, Any] | None:
    """The promoted.json document, or None when nothing is promoted."""
    p = promoted_path()
    return read_json(p) if p.exists() else None


def promotion_history() -> list[dict[str, Any]]:
    """Every recorded decision, oldest first."""
    from experiments.files import read_jsonl

    return read_jsonl(history_path())


def _rank_key(metrics: dict[str, Any]) -> tuple[float, float]:
    sharpe = _num(metrics.get("sharpe"))
    pnl = _num(metrics.get("pnl"))
    return (-math.inf if sharpe is None else sharpe, -math.inf if pnl is None else pnl)


def incumbent_check(doc: dict[str, Any], incumbent: dict[str, Any] | None) -> GateCheck:
    """(auto-promotion only) the run must rank above the promoted run on validation Sharpe, then P&L."""
    if incumbent is None:
        return GateCheck("beats_promoted", True, "nothing is promoted yet", {})
    inc_metrics = (incumbent.get("validation") or {}).get("metrics") or {}
    mine = _rank_key(doc.get("metrics") or {})
    theirs = _rank_key(inc_metrics)
    ok = mine > theirs
    return GateCheck("beats_promoted", ok,
                     f"validation Sharpe {_f(mine[0])} {'ranks above' if ok else 'does not rank above'} promoted run "
                     f"{incumbent.get('run_id')} ({_f(theirs[0])})",
                     {"sharpe": mine[0] if math.isfinite(mine[0]) else None,
                      "promoted_run": incumbent.get("run_id"),
                      "promoted_sharpe": theirs[0] if math.isfinite(theirs[0]) else None})


def _evaluate_holdout_here(run_dir: Path) -> dict[str, Any]:
    from experiments.runs.runner import evaluate_holdout

    return evaluate_holdout(run_dir)


def _evidence(doc: dict[str, Any]) -> dict[str, Any]:
    keys = ("pnl", "pnl_pct", "trades", "win_rate", "sharpe", "sortino", "max_drawdown", "dsr", "days", "n_trials")
    return {"metrics": {k: (doc.get("metrics") or {}).get(k) for k in keys}, "baselines": doc.get("baselines"),
            "window": doc.get("window")}


def promote(run: str | Path, *, gate: PromotionGate | None = None, force: bool = False, by: str = "human",
            auto: bool = False,
            holdout_fn: Callable[[Path], dict[str, Any]] | None = None) -> PromotionDecision:
    """Apply the gate to a finished run and promote it when it passes (or when forced); record the decision.

    The holdout is evaluated (through `holdout_fn`, default `evaluate_holdout` in this process) only when every
    validation check passes, or when forced. With `auto`, the run must also rank above the promoted run. A refusal
    is returned (and recorded), not raised; a run that cannot be considered at all raises PromotionError.
    """
    run_dir = resolve_run(str(run))
    run_id = run_dir.name
    if is_abandoned(run_dir):
        raise PromotionError(f"run {run_id} is an abandoned attempt (see {run_dir / 'ABANDONED.json'}) "
                             "and cannot be promoted")
    if not (run_dir / "metrics.json").exists():
        raise PromotionError(f"run {run_id} has no metrics.json; only a finished run can be promoted")
    doc = read_json(run_dir / "metrics.json")
    gate = gate or load_gate()
    runs_dir().mkdir(parents=True, exist_ok=True)
    with file_lock(promoted_path(), timeout=600):
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        incumbent = current_promoted()
        if incumbent is not None and incumbent.get("run_id") == run_id:
            return PromotionDecision(run_id, True, bool(incumbent.get("forced")), by, [], incumbent.get("previous"),
                                     f"run {run_id} is already the promoted run", now)
        from experiments.promotion.pbo import current_pbo

        checks = validation_checks(doc, gate, ledger.trial_count(), ledger.trial_sharpes(), current_pbo(run_id))
        if auto:
            checks.append(incumbent_check(doc, incumbent))
        holdout: dict[str, Any] | None = None
        if failed_names(checks) and not force:
            checks.append(sealed_holdout_check("an earlier check failed"))
        else:
            try:
                holdout = (holdout_fn or _evaluate_holdout_here)(run_dir)
                checks.append(holdout_check(doc, holdout, gate))
            except GaussianError as exc:
                checks.append(GateCheck("holdout", False, f"the holdout evaluation failed: {exc}"))
        failed = failed_names(checks)
        previous = incumbent.get("run_id") if incumbent else None
        decision = PromotionDecision(run_id, not failed or force, force, by, checks, previous, time=now)
        if decision.promoted:
            _write_promotion(decision, doc, holdout, gate, run_dir)
            why = " (forced past: " + ", ".join(failed) + ")" if failed else ""
            decision.message = (f"promoted run {run_id}{why}" +
                                (f"; run {previous} is demoted" if previous else ""))
        else:
            decision.message = refusal_sentence(run_id, checks)
            append_jsonl(history_path(), {"time": now, "action": "refuse", "run_id": run_id, "by": by,
                                          "auto": auto, "failed": failed,
                                          "checks": [asdict(c) for c in checks]})
        return decision


def refusal_sentence(run_id: str, checks: list[GateCheck]) -> str:
    """One sentence naming each failed check and why."""
    bad = [c for c in checks if c.passed is False]
    return f"run {run_id} fails the promotion gate: " + "; ".join(f"{c.name}: {c.detail}" for c in bad)


def _write_promotion(decision: PromotionDecision, doc: dict[str, Any], holdout: dict[str, Any] | None,
                     gate: PromotionGate, run_dir: Path) -> None:
    spec = read_json(run_dir / "spec.json") if (run_dir / "spec.json").exists() else {}
    record = {
        "run_id": decision.run_id,
        "name": (spec.get("spec") or {}).get("name"),
        "spec_hash": spec.get("hash"),
        "idea_id": spec.get("idea_id"),
        "promoted_at": decision.time,
        "by": decision.by,
        "forced": decision.forced,
        "previous": decision.previous,
        "gate": gate.model_dump(),
        "checks": [asdict(c) for c in decision.checks],
        "failed": decision.failed,
        "validation": _evidence(doc),
        "holdout": {"metrics": (holdout or {}).get("metrics"), "baselines": (holdout or {}).get("baselines"),
                    "window": (holdout or {}).get("window"), "evaluated_at": (holdout or {}).get("evaluated_at")}
        if holdout else None,
        "run_dir": str(run_dir),
    }
    atomic_write_json(promoted_path(), record)
    if decision.previous:
        append_jsonl(history_path(), {"time": decision.time, "action": "demote", "run_id": decision.previous,
                                      "replaced_by": decision.run_id, "by": decision.by})
    append_jsonl(history_path(), {"time": decision.time, "action": "promote", "run_id": decision.run_id,
                                  "by": decision.by, "forced": decision.forced, "previous": decision.previous,
                                  "failed": decision.failed, "checks": [asdict(c) for c in decision.checks]})


def require_promoted() -> dict[str, Any]:
    """The promoted run's record, or a clear error when nothing is promoted."""
    doc = current_promoted()
    if doc is None:
        raise StateError(f"no run is promoted yet ({promoted_path()} is missing); see `gaussian promote`")
    return doc
