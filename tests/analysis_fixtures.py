"""A fixed, seeded set of trades and its equity curve written as a run directory, for the analysis tests."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.spec.io import apply_overrides, spec_hash, validate_spec
from trader.domain import ExitReason, Trade, trades_frame
from trader.metrics import compute_metrics

NY = "America/New_York"
RUN_ID = "20240201-120000-abc123-0001"
SESSIONS = pd.bdate_range("2024-01-02", periods=8)
BAR_MINUTES = 5
SIGNAL_SETS = (("momentum", "hmm_stance"), ("momentum", "technical"), ("hmm_stance", "momentum", "technical"),
               ("hmm_stance", "volatility_window"))


def fixed_trades(n: int = 48, seed: int = 7) -> list[Trade]:
    """Seeded trades: confidence helps, the 'technical' signal hurts, most losers hit the stop-loss."""
    rng = np.random.default_rng(seed)
    out = []
    per_day = max(1, n // len(SESSIONS))
    for i in range(n):
        day = SESSIONS[min(i // per_day, len(SESSIONS) - 1)]
        entry = pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9, minutes=45 + 50 * (i % per_day))
        conf = round(0.5 + 0.45 * float(rng.random()), 3)
        signals = SIGNAL_SETS[int(rng.integers(0, len(SIGNAL_SETS)))]
        mean = 6.0 + 90.0 * (conf - 0.72) - (22.0 if "technical" in signals else 0.0)
        pnl = round(float(rng.normal(mean, 10.0)), 2)
        if pnl > 0:
            reason = ExitReason.TAKE_PROFIT if pnl > 12 else ExitReason.END_OF_DAY
            hold = float(rng.integers(3, 18))
        else:
            reason = ExitReason.STOP_LOSS if rng.random() < 0.75 else ExitReason.MAX_HOLD
            hold = 45.0 if reason is ExitReason.MAX_HOLD else float(rng.integers(4, 30))
        hold = float(round(hold / BAR_MINUTES) * BAR_MINUTES) or float(BAR_MINUTES)
        regime = int(rng.integers(0, 27))
        direction = 1 if rng.random() < 0.5 else -1
        entry_price = round(1.0 + float(rng.random()), 2)
        out.append(Trade(
            trade_id=i + 1, symbol=f"SPY{day:%y%m%d}{'C' if direction > 0 else 'P'}00470000",
            right="C" if direction > 0 else "P", strike=470.0, expiry=day.date() + dt.timedelta(days=1),
            contracts=1, entry_time=entry, exit_time=entry + pd.Timedelta(minutes=hold), entry_price=entry_price,
            exit_price=round(entry_price + (pnl + 0.8) / 100.0, 4), fees=0.8, pnl=pnl,
            pnl_pct=round(pnl / (entry_price * 100.0) * 100.0, 3), exit_reason=reason, hold_minutes=hold,
            strategy="consensus", direction=direction, confidence=conf, regime=regime, regime_trend=regime // 9,
            regime_volatility=(regime % 9) // 3, regime_liquidity=regime % 3, signals=signals,
            entry_underlying=470.0, entry_iv=round(0.12 + 0.1 * float(rng.random()), 4),
            entry_dte=int(rng.integers(0, 3)), moneyness=round(float(rng.normal(0.0, 0.004)), 5),
        ))
    return out


def equity_for(trades: pd.DataFrame, initial: float) -> pd.DataFrame:
    """A 5-minute equity curve over the sessions: realized P&L at each exit, n_open from the trades' spans."""
    stamps: list[pd.Timestamp] = []
    for day in SESSIONS:
        open_ = pd.Timestamp(day.date()).tz_localize(NY) + pd.Timedelta(hours=9, minutes=30)
        stamps += [open_ + pd.Timedelta(minutes=BAR_MINUTES * k) for k in range(78)]
    idx = pd.DatetimeIndex(stamps, name="timestamp")
    realized = np.zeros(len(idx))
    n_open = np.zeros(len(idx), dtype=np.int32)
    for _, t in trades.iterrows():
        realized[idx >= t["exit_time"]] += t["pnl"]
        n_open[(idx >= t["entry_time"]) & (idx < t["exit_time"])] += 1
    eq = initial + realized
    return pd.DataFrame({"equity": eq, "cash": eq, "open_value": 0.0, "n_open": n_open}, index=idx)


def spec_dict(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A full, validated spec dict (consensus entry unless overridden)."""
    data = apply_overrides({}, {"entry.type": "consensus", **(overrides or {})})
    return validate_spec(data, "fixture").model_dump(mode="json")


def write_run(root: Path, trades: list[Trade] | pd.DataFrame, spec: dict[str, Any] | None = None,
              run_id: str = RUN_ID, extra: dict[str, Any] | None = None) -> Path:
    """Write a run directory the way the runner does: spec.json, metrics.json, trades.parquet, equity.parquet."""
    spec = spec if spec is not None else spec_dict()
    initial = float(spec["trading"]["initial_balance"])
    frame = trades if isinstance(trades, pd.DataFrame) else trades_frame(trades)
    equity = equity_for(frame, initial)
    run_dir = root / run_id
    (run_dir / "models").mkdir(parents=True)
    h = spec_hash(validate_spec(spec, "fixture"))
    (run_dir / "spec.json").write_text(json.dumps({"hash": h, "spec": spec, "idea_id": None}, indent=2))
    metrics = compute_metrics(frame, equity, initial, n_trials=12, sharpe_trials=[0.4, -0.8, 1.1, 0.2])
    doc = {
        "run_id": run_id, "spec_hash": h, "split": "validation",
        "window": {"start": str(equity.index[0]), "end": str(equity.index[-1]), "bars": len(equity)},
        "metrics": metrics,
        "baselines": {"buy_and_hold": {"pnl_pct": 0.84, "pnl": 42.0, "sharpe": 1.12},
                      "random_entry": {"pnl": -61.5, "pnl_pct": -1.23, "trades": 37, "win_rate": 0.378,
                                       "sharpe": -2.05}},
        "predictor": {"direction_accuracy": 0.5312, "brier": 0.2471},
        **(extra or {}),
    }
    (run_dir / "metrics.json").write_text(json.dumps(doc, indent=2))
    frame.to_parquet(run_dir / "trades.parquet")
    equity.to_parquet(run_dir / "equity.parquet")
    return run_dir


def run_inputs(trades: list[Trade] | pd.DataFrame, spec: dict[str, Any] | None = None,
               window_bars: int | None = None) -> Any:
    """RunInputs in memory (no files) for rule tests: the same shapes load_run returns."""
    from analysis.inputs import RunInputs, normalize_equity, normalize_trades

    spec = spec if spec is not None else spec_dict()
    initial = float(spec["trading"]["initial_balance"])
    frame = trades if isinstance(trades, pd.DataFrame) else trades_frame(trades)
    equity = equity_for(frame, initial)
    metrics = compute_metrics(frame, equity, initial)
    doc = {"run_id": RUN_ID, "split": "validation", "metrics": metrics,
           "window": {"start": str(equity.index[0]), "end": str(equity.index[-1]),
                      "bars": window_bars if window_bars is not None else len(equity)},
           "baselines": {"buy_and_hold": {"pnl_pct": 0.5, "sharpe": 0.3},
                         "random_entry": {"pnl": -10.0, "pnl_pct": -0.2, "trades": 20, "win_rate": 0.4,
                                          "sharpe": -0.5}}}
    return RunInputs(RUN_ID, Path("."), spec, "0" * 16, doc, normalize_trades(frame), normalize_equity(equity))
