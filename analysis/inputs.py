"""Reading a run directory's validation outputs (spec, metrics, trades, equity) with clear errors.

Only the validation files are opened: a `holdout.json` written at promotion is never read here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from trader.domain import TRADE_COLUMNS
from trader.errors import StateError

NY = "America/New_York"
REQUIRED_FILES = ("spec.json", "metrics.json", "trades.parquet", "equity.parquet")
EQUITY_COLUMNS = ("equity", "cash", "open_value", "n_open")
BASELINE_COLUMNS = ("baseline_random", "baseline_buy_hold")  # optional: the baselines' equity, same bars
_NUMERIC = ("strike", "entry_price", "exit_price", "fees", "pnl", "pnl_pct", "hold_minutes", "confidence",
            "regime", "regime_trend", "regime_volatility", "regime_liquidity", "entry_underlying", "entry_iv",
            "entry_dte", "moneyness", "predicted_return", "predicted_std", "direction", "contracts")


@dataclass
class RunInputs:
    """Everything the analysis reads about one run (validation split only)."""

    run_id: str
    run_dir: Path
    spec: dict[str, Any]
    spec_hash: str
    doc: dict[str, Any]
    trades: pd.DataFrame
    equity: pd.DataFrame

    @property
    def metrics(self) -> dict[str, Any]:
        """The run's compute_metrics figures."""
        return self.doc.get("metrics") or {}

    @property
    def baselines(self) -> dict[str, Any]:
        """Buy-and-hold and random-entry figures over the same window."""
        return self.doc.get("baselines") or {}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StateError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise StateError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise StateError(f"{path} could not be read as Parquet ({type(exc).__name__})") from None


def _as_ny(values: pd.Series | pd.Index) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(pd.to_datetime(values))
    return idx.tz_localize(NY) if idx.tz is None else idx.tz_convert(NY)


def normalize_trades(trades: pd.DataFrame, source: str = "trades") -> pd.DataFrame:
    """Trades with numeric columns as floats, times in New York and signals/exit reasons as plain strings."""
    missing = [c for c in TRADE_COLUMNS if c not in trades.columns]
    if missing:
        raise StateError(f"{source} lacks the trade columns {', '.join(missing)}")
    out = trades[TRADE_COLUMNS].copy().reset_index(drop=True)
    for col in _NUMERIC:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    for col in ("entry_time", "exit_time"):
        out[col] = _as_ny(out[col]) if len(out) else pd.DatetimeIndex([], tz=NY)
    out["signals"] = out["signals"].fillna("").astype(str)
    out["exit_reason"] = out["exit_reason"].map(lambda v: getattr(v, "value", v)).fillna("").astype(str)
    out["strategy"] = out["strategy"].fillna("").astype(str)
    return out


def normalize_equity(equity: pd.DataFrame, source: str = "equity") -> pd.DataFrame:
    """The equity frame with a New York DatetimeIndex named timestamp and float columns."""
    missing = [c for c in EQUITY_COLUMNS if c not in equity.columns]
    if missing:
        raise StateError(f"{source} lacks the equity columns {', '.join(missing)}")
    keep = list(EQUITY_COLUMNS) + [c for c in BASELINE_COLUMNS if c in equity.columns]
    out = equity[keep].astype(float).copy()
    if "timestamp" in equity.columns and not isinstance(equity.index, pd.DatetimeIndex):
        out.index = equity["timestamp"]
    out.index = _as_ny(out.index) if len(out) else pd.DatetimeIndex([], tz=NY)
    out.index.name = "timestamp"
    return out.sort_index()


def load_run(run_dir: Path) -> RunInputs:
    """Read a finished run's spec, validation metrics, trades and equity; a clear StateError names what is wrong."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise StateError(f"run directory {run_dir} does not exist")
    for name in REQUIRED_FILES:
        if not (run_dir / name).is_file():
            raise StateError(f"{run_dir / name} is missing: the analysis needs {', '.join(REQUIRED_FILES)}")
    stored = _read_json(run_dir / "spec.json")
    spec = stored.get("spec")
    if not isinstance(spec, dict):
        raise StateError(f"{run_dir / 'spec.json'} has no 'spec' object")
    doc = _read_json(run_dir / "metrics.json")
    split = doc.get("split", "validation")
    if split not in ("validation", "paper"):
        raise StateError(f"{run_dir / 'metrics.json'} holds split '{split}'; the analysis reads validation only "
                         "(or a paper-trading session)")
    if not isinstance(doc.get("metrics"), dict):
        raise StateError(f"{run_dir / 'metrics.json'} has no 'metrics' object")
    trades = normalize_trades(_read_parquet(run_dir / "trades.parquet"), str(run_dir / "trades.parquet"))
    equity = normalize_equity(_read_parquet(run_dir / "equity.parquet"), str(run_dir / "equity.parquet"))
    return RunInputs(
        run_id=str(doc.get("run_id") or run_dir.name), run_dir=run_dir, spec=spec,
        spec_hash=str(stored.get("hash") or doc.get("spec_hash") or ""), doc=doc, trades=trades, equity=equity,
    )
