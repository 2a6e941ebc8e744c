"""Recommendations: concrete changes to real ExperimentSpec fields, each motivated by a finding with enough trades.

The analysis layer may not import the spec model, so this module keeps a small table of the fields it changes
with conservative bounds inside the spec's own (tests validate every recommendation against the real model).
A rule whose evidence comes from fewer than `min_trades` trades is reported as insufficient, never recommended.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.fmt import money, num, pct, pval
from trader.metrics import mean_ci, wilson_interval

# Mirrors experiments.spec.model.SIGNAL_NAMES (a test keeps them equal).
SIGNAL_NAMES = ("predictor_agreement", "hmm_stance", "momentum", "volatility_window", "technical", "options_flow",
                "regime_quality", "advanced")

# Fields a rule may change: bounds inside the spec's (inclusive), integer or not, and the largest step one
# recommendation may take (None: the rule's own step, e.g. x1.5, is already conservative).
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "cycles": (10, 10_000_000, True),
    "entry.cooldown_bars": (0, 1000, True),
    "entry.consensus.min_signals_to_trade": (1, 8, True),
    "entry.consensus.min_weighted_confidence": (0.0, 1.0, False),
    "entry.predictor.min_confidence": (0.5, 1.0, False),
    "entry.predictor.cost_multiple": (0.0, 20.0, False),
    "entry.momentum.threshold_sigma": (0.0, 10.0, False),
    "entry.random.entry_probability": (0.0, 1.0, False),
    "entry.q_scorer.threshold": (-100.0, 1000.0, False),
    "exits.stop_loss_pct": (0.5, 100.0, False),
    "exits.max_hold_minutes": (1, 20_000, True),
    "exits.close_before_expiry_minutes": (1, 390, True),
}
MAX_STEP: dict[str, float] = {
    "entry.consensus.min_signals_to_trade": 1,
    "entry.consensus.min_weighted_confidence": 0.1,
    "entry.predictor.min_confidence": 0.05,
    "entry.momentum.threshold_sigma": 0.5,
}
LIST_FIELDS = ("entry.consensus.blocked_signals",)
_MISSING = object()


@dataclass
class Candidate:
    """A rule's proposed change before the trade-count gate."""

    rule: str
    field: str
    value: Any
    current: Any
    finding: str
    evidence: dict[str, Any]
    enough: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The recommendation as a JSON-able dict."""
        return {"rule": self.rule, "field": self.field, "value": self.value, "current": self.current,
                "finding": self.finding, "evidence": self.evidence}


@dataclass
class Context:
    """What the rules read: the run's spec, trades, metrics, window, breakdowns and confidence analysis."""

    spec: dict[str, Any]
    trades: pd.DataFrame
    metrics: dict[str, Any]
    window: dict[str, Any]
    breakdowns: dict[str, dict[str, Any]]
    confidence: dict[str, Any]
    min_trades: int
    notes: list[str] = field(default_factory=list)

    def get(self, dotted: str, default: Any = _MISSING) -> Any:
        """A spec value by dotted path (the default when absent)."""
        node: Any = self.spec
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def entry_type(self) -> str:
        """The spec's entry controller."""
        return str(self.get("entry.type", ""))


def clamp(field_name: str, value: float) -> float | int:
    """A value moved inside the field's table bounds (rounded for integer fields)."""
    lo, hi, is_int = BOUNDS[field_name]
    v = min(max(float(value), lo), hi)
    return round(v) if is_int else round(v, 4)


def _step(field_name: str, current: Any, new: float) -> Any:
    """The clamped new value, or None when it would not change the current one."""
    if not isinstance(current, (int, float)) or isinstance(current, bool):
        return None
    step = MAX_STEP.get(field_name)
    if step is not None:
        new = min(max(new, current - step), current + step)
    v = clamp(field_name, new)
    return None if math.isclose(float(v), float(current), abs_tol=1e-9) else v


# ------------------------------------------------------------------------------------------ rules
def rule_too_few_trades(ctx: Context) -> list[Candidate]:
    """Too few trades to conclude anything: evaluate more bars when the run was capped, and lower entry thresholds."""
    n = int(ctx.metrics.get("trades") or 0)
    if n >= ctx.min_trades:
        return []
    bars = ctx.window.get("bars")
    finding = (f"only {n} trades in {bars} validation bars, below the minimum of {ctx.min_trades} for any "
               f"conclusion about this spec")
    ev = {"trades": n, "bars": bars, "min_trades": ctx.min_trades}
    out = []
    cycles = ctx.get("cycles", None)
    if isinstance(cycles, int) and isinstance(bars, int) and bars >= cycles:
        v = _step("cycles", cycles, cycles * 2)
        if v is not None:
            out.append(Candidate("too_few_trades", "cycles", v, cycles,
                                 finding + "; the window was capped by cycles, so more bars give more trades "
                                 "without changing the strategy", ev, True))
    et = ctx.entry_type
    plan: list[tuple[str, Callable[[Any], float]]] = {
        "consensus": [("entry.consensus.min_signals_to_trade", lambda c: c - 1),
                      ("entry.consensus.min_weighted_confidence", lambda c: c - 0.05)],
        "predictor": [("entry.predictor.min_confidence", lambda c: c - 0.02),
                      ("entry.predictor.cost_multiple", lambda c: c * 0.75)],
        "momentum": [("entry.momentum.threshold_sigma", lambda c: round(c * 0.75 / 0.05) * 0.05)],
        "random": [("entry.random.entry_probability", lambda c: c * 2)],
        "q_scorer": [("entry.q_scorer.threshold", lambda c: c - max(1.0, abs(c) * 0.25))],
    }.get(et, []) + [("entry.cooldown_bars", lambda c: c // 2)]
    for fname, fn in plan:
        cur = ctx.get(fname, None)
        v = _step(fname, cur, fn(cur)) if isinstance(cur, (int, float)) else None
        if v is not None:
            out.append(Candidate("too_few_trades", fname, v, cur,
                                 finding + f"; an easier entry condition for '{et}' lets more trades through", ev, True))
            break
    return out


def rule_block_signal(ctx: Context) -> list[Candidate]:
    """A consensus signal whose trades lose (95% CI of mean P&L below 0) is blocked: the worst one only."""
    if ctx.entry_type != "consensus":
        return []
    groups = {g["group"]: g for g in ctx.breakdowns["signal"]["groups"]}
    total = len(ctx.trades)
    blocked = list(ctx.get("entry.consensus.blocked_signals", []) or [])
    need = int(ctx.get("entry.consensus.min_signals_to_trade", 1) or 1)
    out = []
    for name in SIGNAL_NAMES:
        g = groups.get(name)
        if g is None or name in blocked or g["pnl_mean"] is None or g["pnl_mean"] >= 0:
            continue
        ci = g["pnl_mean_ci95"]
        without = ctx.trades.loc[~ctx.trades["signals"].map(lambda s, n=name: n in str(s).split(",")), "pnl"]
        ev = {"signal": name, "trades_with": g["trades"], "pnl_mean_with": g["pnl_mean"], "pnl_mean_ci95": ci,
              "trades_without": len(without),
              "pnl_mean_without": float(without.mean()) if len(without) else None}
        finding = (f"the {g['trades']} trades where '{name}' passed averaged {money(g['pnl_mean'])} "
                   f"(95% CI {money(ci[0]) if ci else 'n/a'} .. {money(ci[1]) if ci else 'n/a'}) against "
                   f"{money(ev['pnl_mean_without'])} for the {len(without)} trades without it")
        c = Candidate("block_signal", "entry.consensus.blocked_signals", [*blocked, name], blocked, finding, ev,
                      bool(g["enough"] and ci and ci[1] < 0))
        if not c.enough:
            c.reason = "too few trades" if not g["enough"] else "95% CI of mean P&L includes 0"
        elif g["trades"] >= total:
            c.enough, c.reason = False, "the signal passed in every trade, so its effect cannot be separated"
        elif len(without) and without.mean() <= g["pnl_mean"]:
            c.enough, c.reason = False, "trades without the signal did no better"
        elif g["vs_rest_p"] is None or g["vs_rest_p"] >= 0.05:
            c.enough, c.reason = False, (f"its trades do not differ significantly from those without it "
                                         f"(Welch {pval(g['vs_rest_p'])})")
        elif len(SIGNAL_NAMES) - len(blocked) - 1 < need:
            c.enough, c.reason = False, f"blocking it would leave fewer signals than min_signals_to_trade={need}"
        ev["vs_rest_p"] = g["vs_rest_p"]
        out.append(c)
    good = sorted((c for c in out if c.enough), key=lambda c: (c.evidence["pnl_mean_ci95"][1], c.value[-1]))
    for c in good[1:]:
        c.enough, c.reason = False, "one signal is blocked at a time and another one lost more"
    return good[:1] + [c for c in out if not c.enough]


def rule_stop_loss(ctx: Context) -> list[Candidate]:
    """Stop-loss exits make up half or more of the losing trades: widen the stop; no stop and deep losses: set one."""
    t = ctx.trades
    losers = t[t["pnl"] <= 0]
    n_l = len(losers)
    cur = ctx.get("exits.stop_loss_pct", None)
    if n_l == 0:
        return []
    if cur is None:
        med = float(losers["pnl_pct"].median())
        if med > -30:
            return []
        v = clamp("exits.stop_loss_pct", max(5.0, round(abs(med) / 2 / 5) * 5))
        finding = (f"no stop-loss is set and the median losing trade lost {med:.1f}% of its premium "
                   f"over {n_l} losing trades")
        return [Candidate("set_stop_loss", "exits.stop_loss_pct", v, None, finding,
                          {"losers": n_l, "median_loss_pct": med}, n_l >= ctx.min_trades,
                          "" if n_l >= ctx.min_trades else "too few losing trades")]
    stopped = int((losers["exit_reason"] == "stop_loss").sum())
    share = stopped / n_l
    if share < 0.5:
        return []
    lo, hi = wilson_interval(stopped, n_l)
    v = _step("exits.stop_loss_pct", cur, round(cur * 1.5 * 2) / 2)
    if v is None:
        return []
    stop_pnl = t.loc[t["exit_reason"] == "stop_loss", "pnl_pct"]
    mean_stop = float(stop_pnl.mean())
    slip = (", far beyond the stop: exits fill after the order latency, at the bid"
            if mean_stop < -1.5 * float(cur) else "")
    finding = (f"{stopped} of {n_l} losing trades ({pct(share)}, 95% CI {pct(lo)} .. {pct(hi)}) exited at the "
               f"{num(float(cur), 1)}% stop-loss, realizing {mean_stop:.1f}% of premium on average{slip}; with "
               f"option spreads and bar noise a stop this tight is often hit before the move plays out")
    ev = {"losers": n_l, "stopped": stopped, "share": share, "share_ci95": [lo, hi],
          "stop_mean_pnl_pct": mean_stop}
    enough = n_l >= ctx.min_trades
    return [Candidate("widen_stop_loss", "exits.stop_loss_pct", v, cur, finding, ev, enough,
                      "" if enough else "too few losing trades")]


def rule_max_hold(ctx: Context) -> list[Candidate]:
    """Max-hold exits lose while winners close well inside the limit: lower exits.max_hold_minutes."""
    t = ctx.trades
    cur = ctx.get("exits.max_hold_minutes", None)
    mh = t[t["exit_reason"] == "max_hold"]
    winners = t[t["pnl"] > 0]
    if not isinstance(cur, int) or len(mh) == 0 or len(winners) == 0:
        return []
    mean, lo, hi = mean_ci(mh["pnl"])
    win_median = float(winners["hold_minutes"].median())
    if mean is None or mean >= 0 or win_median >= 0.5 * cur:
        return []
    win_p75 = float(winners["hold_minutes"].quantile(0.75))
    target = max(win_p75, 0.5 * cur)
    target = math.ceil(target / 5) * 5 if target > 10 else math.ceil(target)
    v = _step("exits.max_hold_minutes", cur, target)
    if v is None or v >= cur:
        return []
    finding = (f"{len(mh)} trades closed at the {cur}-minute max hold averaged {money(mean)} "
               f"(95% CI {money(lo)} .. {money(hi)}), while winners were held a median {win_median:.0f} minutes "
               f"(75th percentile {win_p75:.0f})")
    ev = {"max_hold_trades": len(mh), "pnl_mean": mean, "pnl_mean_ci95": [lo, hi], "winners": len(winners),
          "winner_hold_median": win_median, "winner_hold_p75": win_p75}
    enough = len(mh) >= ctx.min_trades and hi is not None and hi < 0
    reason = "" if enough else ("too few max-hold exits" if len(mh) < ctx.min_trades else
                                "95% CI of mean P&L includes 0")
    return [Candidate("lower_max_hold", "exits.max_hold_minutes", v, cur, finding, ev, enough, reason)]


def rule_expiry(ctx: Context) -> list[Candidate]:
    """Positions held into expiry and expiring worthless: close them an hour before expiry instead."""
    t = ctx.trades
    cur = ctx.get("exits.close_before_expiry_minutes", _MISSING)
    otm = t[t["exit_reason"] == "expiry_otm"]
    if cur is not None or len(otm) == 0:
        return []
    finding = (f"{len(otm)} trades were held to expiry and expired worthless, losing {money(otm['pnl'].sum())} "
               f"in total ({money(otm['pnl'].mean())} each); nothing closes positions before expiry")
    ev = {"expiry_otm_trades": len(otm), "pnl_total": float(otm["pnl"].sum())}
    enough = len(otm) >= ctx.min_trades
    return [Candidate("close_before_expiry", "exits.close_before_expiry_minutes", 60, None, finding, ev, enough,
                      "" if enough else "too few expiry exits")]


def _momentum_threshold(current: float, cut: float) -> float | None:
    """The momentum threshold_sigma whose entries all have confidence >= cut (confidence = .5 + .5 tanh(z - thr))."""
    if cut <= 0.5 or cut >= 1.0:
        return None
    return current + math.atanh(2 * cut - 1)


def rule_confidence(ctx: Context) -> list[Candidate]:
    """Confidence is significantly predictive and low-confidence trades lose: raise the entry's confidence bar."""
    conf = ctx.confidence
    if conf.get("verdict") not in ("predictive", "too few trades") or (conf.get("spearman_rho") or 0) <= 0:
        return []
    if conf.get("verdict") == "too few trades" and (conf.get("p_value") or 1) >= 0.05:
        return []
    t = ctx.trades[np.isfinite(ctx.trades["confidence"])]
    best = None
    for row in conf["reliability"][1:]:
        cut = row["lo"]
        above, below = t[t["confidence"] >= cut], t[t["confidence"] < cut]
        if len(below) == 0 or len(above) < max(2, ctx.min_trades // 2) or below["pnl"].mean() >= 0:
            continue
        if best is None or above["pnl"].sum() > best[1]:
            best = (cut, float(above["pnl"].sum()), len(above), len(below), float(below["pnl"].mean()))
    if best is None:
        return []
    cut, kept_pnl, n_above, n_below, below_mean = best
    et = ctx.entry_type
    fname = {"consensus": "entry.consensus.min_weighted_confidence", "predictor": "entry.predictor.min_confidence",
             "momentum": "entry.momentum.threshold_sigma"}.get(et)
    finding = (f"confidence predicts P&L (Spearman rho {num(conf['spearman_rho'])}, {pval(conf['p_value'])}, "
               f"{conf['trades']} trades); the {n_below} trades below confidence {cut:.1f} averaged "
               f"{money(below_mean)} while the {n_above} at or above it made {money(kept_pnl)} in total "
               f"(cut chosen on this window, so the step is capped: confirm on a new run)")
    ev = {"spearman_rho": conf["spearman_rho"], "p_value": conf["p_value"], "cut": cut, "trades_above": n_above,
          "trades_below": n_below, "pnl_mean_below": below_mean, "pnl_total_above": kept_pnl}
    enough = conf["verdict"] == "predictive"
    if fname is None:
        ctx.notes.append(finding + f"; entry type '{et}' has no confidence threshold to raise")
        return []
    cur = ctx.get(fname, None)
    if not isinstance(cur, (int, float)):
        return []
    if fname.endswith("threshold_sigma"):
        new = _momentum_threshold(float(cur), cut)
        if new is None:
            return []
        new = round(new / 0.05) * 0.05
    else:
        new = cut
    if new <= cur:
        return []
    v = _step(fname, cur, new)
    if v is None:
        return []
    return [Candidate("raise_confidence", fname, v, cur, finding, ev, enough, "" if enough else "too few trades")]


RULES: tuple[Callable[[Context], list[Candidate]], ...] = (
    rule_too_few_trades, rule_block_signal, rule_stop_loss, rule_max_hold, rule_expiry, rule_confidence,
)


def recommend(ctx: Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every rule: (recommendations with enough trades, insufficient candidates with the reason they were held)."""
    recs: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    seen: set[str] = set()
    rules = RULES if len(ctx.trades) else (rule_too_few_trades,)
    for rule in rules:
        for c in rule(ctx):
            if c.enough and c.field not in seen and in_bounds(c.field, c.value):
                seen.add(c.field)
                recs.append(c.as_dict())
            elif not c.enough:
                held.append({**c.as_dict(), "reason": c.reason or "too few trades"})
    return recs, held


def in_bounds(field_name: str, value: Any) -> bool:
    """Whether a value lies inside this module's table for the field (lists: known signal names only)."""
    if field_name in LIST_FIELDS:
        return isinstance(value, list) and all(v in SIGNAL_NAMES for v in value) and len(set(value)) == len(value)
    if field_name not in BOUNDS or not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    lo, hi, is_int = BOUNDS[field_name]
    return lo <= value <= hi and (not is_int or float(value).is_integer())
