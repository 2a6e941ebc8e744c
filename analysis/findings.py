"""Findings: short, specific sentences with their evidence; those resting on too few trades are marked as such."""
from __future__ import annotations

from typing import Any

from analysis.fmt import ci, money, num, pct, pct_points, pval

# Breakdowns whose groups become findings (the others stay in the tables). Exit reasons are described apart:
# a stop-loss exit loses by construction, so testing its mean against 0 says nothing.
FINDING_BREAKDOWNS = ("strategy", "signal", "direction", "regime_trend", "regime_volatility", "regime_liquidity",
                      "regime_label", "hour", "weekday", "dte", "moneyness")
ALPHA = 0.05


def trials(n: Any) -> str:
    """'1 trial' / '12 trials'."""
    return f"{n} trial" if n == 1 else f"{n} trials"


def finding(topic: str, text: str, conclusive: bool, evidence: dict[str, Any] | None = None,
            caveat: str = "") -> dict[str, Any]:
    """One finding; a non-conclusive one carries the reason in `caveat`."""
    return {"topic": topic, "text": text, "conclusive": conclusive, "caveat": caveat, "evidence": evidence or {}}


def headline_findings(metrics: dict[str, Any], baselines: dict[str, Any], min_trades: int) -> list[dict[str, Any]]:
    """The result against its baselines, the deflated Sharpe and what costs took."""
    out = []
    n = int(metrics.get("trades") or 0)
    bh = baselines.get("buy_and_hold") or {}
    rnd = baselines.get("random_entry") or {}
    rnd_text = (f"buy and hold returned {pct_points(bh.get('pnl_pct'))} and random entry "
                f"{pct_points(rnd.get('pnl_pct'))} ({num(rnd.get('trades'))} trades) over the same window")
    s, r = metrics.get("pnl_pct"), rnd.get("pnl_pct")
    ev = {"pnl_pct": s, "buy_and_hold_pnl_pct": bh.get("pnl_pct"), "random_pnl_pct": r, "trades": n}
    if n == 0:
        out.append(finding("baselines", f"The strategy made no trades in the validation window; {rnd_text}.", True,
                           ev))
    else:
        text = (f"The strategy returned {pct_points(s)} ({money(metrics.get('pnl'))}) over {n} trades; "
                f"{rnd_text}")
        if isinstance(s, (int, float)) and isinstance(r, (int, float)):
            text += f", so it {'beat' if s > r else 'did not beat'} random entry on this one path"
        out.append(finding("baselines", text + ".", n >= min_trades, ev,
                           "" if n >= min_trades else f"only {n} trades (minimum {min_trades})"))
    dsr, sr = metrics.get("dsr"), metrics.get("sharpe")
    if dsr is not None:
        verdict = ("the Sharpe ratio is unlikely to be the luck of the best of that many trials" if dsr >= 0.95 else
                   "the Sharpe ratio is not distinguishable from the best of that many zero-skill trials")
        out.append(finding("sharpe", f"Sharpe {num(sr)} (annualized, daily returns); deflated Sharpe ratio "
                           f"{num(dsr, 3)} over {trials(metrics.get('n_trials'))}: {verdict}.", True,
                           {"sharpe": sr, "psr": metrics.get("psr"), "dsr": dsr, "n_trials": metrics.get("n_trials"),
                            "days": metrics.get("days")}))
    fees, realized = metrics.get("fees") or 0.0, metrics.get("realized_pnl")
    if n and isinstance(realized, (int, float)):
        gross = realized + fees
        if gross > 0:
            text = (f"Commissions and fees of {money(fees)} took {pct(fees / gross)} of the {money(gross)} gross "
                    f"P&L (the bid/ask spread is paid in the fill prices on top).")
        else:
            text = (f"The trades lost {money(-gross)} before commissions and fees of {money(fees)}: the losses "
                    f"are not a cost problem alone.")
        out.append(finding("costs", text, True, {"fees": fees, "gross_pnl": gross}))
    return out


def confidence_finding(conf: dict[str, Any], min_trades: int) -> dict[str, Any]:
    """What the rank correlation of confidence with P&L says, only claiming direction when significant."""
    v = conf["verdict"]
    ev = {k: conf.get(k) for k in ("spearman_rho", "p_value", "trades")}
    if v == "not testable":
        return finding("confidence", f"Confidence could not be tested: {conf.get('reason')}.", True, ev)
    stat = f"Spearman rho {num(conf['spearman_rho'])}, {pval(conf['p_value'])}, {conf['trades']} trades"
    if v == "predictive":
        return finding("confidence", f"Confidence predicts P&L: higher-confidence entries did better ({stat}).",
                       True, ev)
    if v == "inverted":
        return finding("confidence", f"Confidence is inverted: higher-confidence entries did significantly worse "
                       f"({stat}). Raising a confidence threshold would keep the worse trades; the entry's "
                       f"confidence needs rework before it can filter.", True, ev)
    if v == "too few trades":
        return finding("confidence", f"Confidence vs P&L: {stat}.", False, ev,
                       f"below the minimum of {min_trades} trades")
    return finding("confidence", f"No evidence that confidence predicts P&L ({stat}).", True, ev)


def comparison_findings(numeric: list[dict[str, Any]], categorical: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Features that differ significantly between winners and losers (Holm-adjusted across the features tested)."""
    out = []
    for r in numeric:
        if not r["significant"]:
            continue
        direction = "higher" if (r["median_win"] or 0) > (r["median_loss"] or 0) else "lower"
        out.append(finding("winners_vs_losers",
                           f"Winners had {direction} {r['label']} than losers (median {num(r['median_win'], 3)} vs "
                           f"{num(r['median_loss'], 3)}; Mann-Whitney {pval(r['p_value'])}, Holm-adjusted "
                           f"{pval(r['p_holm'])}).", True, dict(r)))
    for r in categorical:
        if r["significant"]:
            out.append(finding("winners_vs_losers",
                               f"The win rate depends on the {r['label']} (chi-square {pval(r['p_value'])}, "
                               f"Holm-adjusted {pval(r['p_holm'])}, {r['categories']} categories).", True, dict(r)))
    return out


def _group_text(title: str, g: dict[str, Any]) -> str:
    return (f"{title} = {g['group']}: {g['trades']} trades, mean P&L {money(g['pnl_mean'])} "
            f"(95% CI {ci(g['pnl_mean_ci95'], 'money')}), total {money(g['pnl_total'])}, win rate "
            f"{pct(g['win_rate'])}")


def breakdown_findings(breakdowns: dict[str, dict[str, Any]], min_trades: int) -> list[dict[str, Any]]:
    """Groups that differ from the other trades and whose mean P&L interval excludes 0; else the worst, marked.

    A group is a conclusive finding only with at least `min_trades` trades, a 95% interval of its mean P&L that
    excludes 0, and a mean that differs from the rest of the trades (Welch t-test, p < 0.05): when the whole
    strategy loses, every large group loses too, and that alone is not a finding about the group.
    """
    out = []
    for name in FINDING_BREAKDOWNS:
        b = breakdowns[name]
        groups = b["groups"]
        if len(groups) < 2:
            continue
        clear = [g for g in groups if g["enough"] and g["verdict"] != "not distinguishable from 0"
                 and g["vs_rest_p"] is not None and g["vs_rest_p"] < ALPHA]
        note = (f"; {b['tested']} groups in this table had enough trades, and at 95% about one test in twenty "
                f"fires by chance" if b["tested"] > 1 else "")
        for g in clear:
            word = "loses" if g["verdict"].startswith("loses") else "wins"
            out.append(finding(name, f"{_group_text(b['title'][0].upper() + b['title'][1:], g)}: it {word} (95% CI of mean P&L "
                               f"{'below' if word == 'loses' else 'above'} 0) and differs from the other "
                               f"{g['rest_trades']} trades (mean {money(g['rest_pnl_mean'])}, Welch "
                               f"{pval(g['vs_rest_p'])}){note}.", True, dict(g)))
        if clear:
            continue
        losing = [g for g in groups if g["pnl_mean"] is not None and g["pnl_mean"] < 0
                  and g["trades"] >= max(3, min_trades // 4)]
        if not losing:
            continue
        worst = min(losing, key=lambda g: (g["pnl_mean"], g["group"]))
        if not worst["enough"]:
            caveat = f"only {worst['trades']} trades, below the minimum of {min_trades}"
        elif worst["verdict"] == "not distinguishable from 0":
            caveat = "its 95% CI of mean P&L includes 0"
        else:
            caveat = f"it does not differ significantly from the other trades (Welch {pval(worst['vs_rest_p'])})"
        out.append(finding(name, f"Worst {_group_text(b['title'], worst)}.", False, dict(worst), caveat))
    return out


def exit_reason_finding(breakdowns: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Where the losses came from, by exit reason (counts and dollars: descriptive, no test needed)."""
    groups = [g for g in breakdowns["exit_reason"]["groups"] if g["pnl_total"] < 0]
    total = sum(g["pnl_total"] for g in groups)
    if not groups or total >= 0:
        return []
    groups.sort(key=lambda g: (g["pnl_total"], g["group"]))
    parts = [f"{g['group']} {g['trades']} trades {money(g['pnl_total'])} ({pct(g['pnl_total'] / total)})"
             for g in groups]
    return [finding("exit_reason", "Net losses by exit reason: " + "; ".join(parts) + ".", True,
                    {g["group"]: {"trades": g["trades"], "pnl_total": g["pnl_total"]} for g in groups})]


def drawdown_finding(dd: dict[str, Any], metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The deepest drawdown period, when there was one."""
    if not dd["periods"]:
        return []
    p = dd["periods"][0]
    end = f"recovered at {p['recovery_time']}" if p["recovery_time"] else "not recovered by the window's end"
    return [finding("drawdown", f"Deepest drawdown {pct(p['depth'], 2)} ({money(p['depth_usd'])}) from the peak at "
                    f"{p['peak_time']} to the trough at {p['trough_time']}, {end}; {dd['count']} drawdown "
                    f"period{'' if dd['count'] == 1 else 's'} in all, exposure {pct(metrics.get('exposure'))} of bars.", True, dict(p))]
