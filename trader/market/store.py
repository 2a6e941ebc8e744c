"""The market cache: one folder per market (bars.parquet, chains.parquet, truth.parquet, context.parquet, meta.json),
written atomically.

A market is written into a temporary sibling folder and renamed into place, so a crash leaves either the old
dataset or the new one, never half of one. Loading validates the bars and snapshots again and rebuilds the
quoter from ``meta["quoter"]``.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from trader.errors import DataError
from trader.market.base import TRUTH_COLUMNS, Market, OptionQuoter
from trader.market.validate import validate_bars, validate_options

META_FILE = "meta.json"
BARS_FILE = "bars.parquet"
CHAINS_FILE = "chains.parquet"
TRUTH_FILE = "truth.parquet"
CONTEXT_FILE = "context.parquet"


def quoter_from_meta(bars: pd.DataFrame, chains: pd.DataFrame | None, meta: dict[str, Any]) -> OptionQuoter | None:
    """Rebuild a market's quoter from its meta["quoter"] description (model or snapshot), None when absent."""
    spec = dict(meta.get("quoter") or {})
    kind = spec.pop("kind", None)
    if kind is None:
        return None
    if kind == "model":
        from trader.market.quoter import ModelQuoter

        return ModelQuoter(bars, **spec)
    if kind == "snapshot":
        from trader.market.files import SnapshotQuoter

        if chains is None:
            raise DataError("The market's meta asks for a snapshot quoter but it has no option snapshots.")
        return SnapshotQuoter(bars, chains, **spec)
    raise DataError(f"Unknown quoter kind {kind!r} in the market's meta (expected 'model' or 'snapshot').")


def save_market(market: Market, directory: str | Path) -> Path:
    """Write a market to directory atomically (temporary sibling folder, then rename); returns the folder."""
    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        market.bars.to_parquet(tmp / BARS_FILE)
        if market.chains is not None:
            market.chains.to_parquet(tmp / CHAINS_FILE, index=False)
        if market.truth is not None:
            market.truth.to_parquet(tmp / TRUTH_FILE)
        if market.context:
            from trader.market.context_files import context_to_long

            context_to_long(market.context).to_parquet(tmp / CONTEXT_FILE, index=False)
        meta = dict(market.meta)
        meta["bars"] = len(market.bars)
        meta["sessions"] = len(set(market.bars.index.date))
        if market.quoter is not None and hasattr(market.quoter, "params"):
            meta["quoter"] = market.quoter.params()
        with open(tmp / META_FILE, "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def read_meta(directory: str | Path) -> dict[str, Any]:
    """The meta.json of a stored market."""
    path = Path(directory) / META_FILE
    if not path.is_file():
        raise DataError(f"{directory}: no stored market here (missing {META_FILE}).")
    try:
        with open(path, encoding="utf-8") as fh:
            meta = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected a JSON object.")
    return meta


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read one Parquet file; a broken one raises a DataError naming it."""
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read Parquet ({exc}).") from exc


def load_market(directory: str | Path) -> Market:
    """Load a stored market, validating bars and snapshots and rebuilding its quoter."""
    folder = Path(directory)
    meta = read_meta(folder)
    bars_path = folder / BARS_FILE
    if not bars_path.is_file():
        raise DataError(f"{folder}: missing {BARS_FILE}.")
    bars = validate_bars(_read_parquet(bars_path), source=str(bars_path))
    chains = None
    if (folder / CHAINS_FILE).is_file():
        raw = _read_parquet(folder / CHAINS_FILE)
        chains = validate_options(raw, source=str(folder / CHAINS_FILE),
                                  underlying=str(meta.get("symbol", "SPY")))
    truth = None
    if (folder / TRUTH_FILE).is_file():
        truth = _read_parquet(folder / TRUTH_FILE)
        missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
        if missing or not truth.index.equals(bars.index):
            raise DataError(f"{folder / TRUTH_FILE}: truth must have columns {', '.join(TRUTH_COLUMNS)} "
                            "and the same timestamps as the bars.")
    context: dict[str, pd.DataFrame] = {}
    if (folder / CONTEXT_FILE).is_file():
        from trader.market.context_files import validate_context

        context = validate_context(_read_parquet(folder / CONTEXT_FILE), source=str(folder / CONTEXT_FILE))
    return Market(bars=bars, chains=chains, truth=truth, meta=meta, quoter=quoter_from_meta(bars, chains, meta),
                  context=context)


def list_markets(data_dir: str | Path) -> list[dict[str, Any]]:
    """Stored markets under data_dir: each one's meta plus its name (folder name), sorted by name."""
    root = Path(data_dir)
    if not root.is_dir():
        return []
    out = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not (child / META_FILE).is_file():
            continue
        out.append({"name": child.name, **read_meta(child)})
    return out
