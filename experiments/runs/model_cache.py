"""The fitted-model cache: an idea that changes nothing a model depends on loads that model instead of refitting it.

Each fitted model (predictor, regime HMM, exit model, and the entry controllers that learn: the PPO policy and
the Q-scorer) is stored under `<home>/cache/models/<kind>-<key>/`, where
the key hashes everything the fit can see: the spec with the sections the model cannot read taken out (a deny
list, so a new spec field invalidates the cache rather than being silently ignored), the training window, and
the data's identity (the data section plus a hash of every bar, and option snapshot, the fit could read). Entries
are written to a temporary folder and renamed into place, so concurrent runs never see half an entry; the cache
is bounded in bytes and evicts the least recently used entries.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from experiments.home import home_dir
from experiments.spec.io import canonical_dict
from experiments.spec.model import ExperimentSpec
from trader.errors import SpecError

if TYPE_CHECKING:
    from trader.market.base import Market

CACHE_ENV = "GAUSSIAN_MODEL_CACHE_MB"
"""Size bound in MB (0 turns the cache off); default DEFAULT_MB."""
DEFAULT_MB = 2048.0
ENTRY_META = "entry.json"
FORMAT = 1

_OTHER_CONTROLLERS = ("entry.consensus", "entry.bandit", "entry.predictor", "entry.momentum", "entry.random")

NOT_READ: dict[str, tuple[str, ...]] = {
    "predictor": ("name", "notes", "cycles", "entry", "exits", "trading", "costs", "regime"),
    "regime": ("name", "notes", "cycles", "entry", "exits", "trading", "costs", "model"),
    "exit_model": ("name", "notes", "cycles", "entry", "model", "regime"),
    # The controllers learn from the per-bar arrays (so from every model above) and simulate trades with the
    # engine's settings (exits, trading, costs, the cooldown); they never read the other controllers' sections.
    "rl": ("name", "notes", "cycles", *_OTHER_CONTROLLERS, "entry.q_scorer"),
    # The Q-scorer's threshold only filters its predictions; a hit loads the model with the spec's threshold.
    "q_scorer": ("name", "notes", "cycles", *_OTHER_CONTROLLERS, "entry.rl", "entry.q_scorer.threshold"),
}
"""Spec sections (dotted paths for a part of one) each model's fit never reads. Everything else is in its key."""

KEPT: dict[str, tuple[str, ...]] = {"exit_model": ("entry.cooldown_bars",)}
"""Fields inside a dropped section that the model does read (the exit model simulates with the cooldown)."""


@dataclass(frozen=True)
class CacheEntry:
    """One cached model: its kind, key, size in bytes and when it was last used."""

    kind: str
    key: str
    path: Path
    size: int
    last_used: float


def _pick(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        node = node[part]
    return node


def data_identity(spec: ExperimentSpec, market: Market, end: int) -> str:
    """A hash of the data a fit on bars [0, end) can see: the data section, the bars and the option snapshots."""
    import pandas as pd

    h = hashlib.sha256(json.dumps(canonical_dict(spec)["data"], sort_keys=True, default=str).encode())
    bars = market.bars.iloc[:end]
    h.update(pd.util.hash_pandas_object(bars, index=True).to_numpy().tobytes())
    if market.chains is not None and len(bars):
        seen = market.chains[market.chains["timestamp"] <= bars.index[-1]]
        h.update(pd.util.hash_pandas_object(seen, index=False).to_numpy().tobytes())
    for symbol in sorted(getattr(market, "context", {}) or {}):  # the universe's context series, all of them
        h.update(symbol.encode())
        h.update(pd.util.hash_pandas_object(market.context[symbol], index=True).to_numpy().tobytes())
    return h.hexdigest()


def model_key(kind: str, spec: ExperimentSpec, train: tuple[int, int], data_id: str) -> str:
    """The cache key of one model kind for this spec, training window and data."""
    if kind not in NOT_READ:
        raise SpecError(f"unknown model kind '{kind}' (known: {', '.join(NOT_READ)})")
    doc = canonical_dict(spec)
    read = json.loads(json.dumps(doc, default=str))  # a deep copy to cut the unread parts from
    for dotted in NOT_READ[kind]:
        *parents, last = dotted.split(".")
        node = _pick(read, ".".join(parents)) if parents else read
        node.pop(last, None)
    read["_kept"] = {f: _pick(doc, f) for f in KEPT.get(kind, ())}
    payload = {"format": FORMAT, "kind": kind, "spec": read, "train": list(train), "data": data_id}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


class ModelCache:
    """Fitted models on disk, keyed by what they depend on, bounded in size with least-recently-used eviction."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_bytes)

    @classmethod
    def from_home(cls) -> ModelCache | None:
        """The home's cache, or None when GAUSSIAN_MODEL_CACHE_MB is 0."""
        raw = os.environ.get(CACHE_ENV, "").strip()
        try:
            mb = float(raw) if raw else DEFAULT_MB
        except ValueError:
            raise SpecError(f"{CACHE_ENV}={raw!r} is not a number of megabytes") from None
        if mb < 0:
            raise SpecError(f"{CACHE_ENV}={raw!r} must be 0 (off) or a positive number of megabytes")
        return cls(home_dir() / "cache" / "models", int(mb * 1024 * 1024)) if mb > 0 else None

    def _dir(self, kind: str, key: str) -> Path:
        return self.root / f"{kind}-{key}"

    def fetch(self, kind: str, key: str, dest: Path) -> bool:
        """Copy a cached model's files into `dest`; False when it is not cached."""
        src = self._dir(kind, key)
        meta = src / ENTRY_META
        if not meta.is_file():
            return False
        dest.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.name != ENTRY_META:
                shutil.copy2(f, dest / f.name)
        os.utime(meta)  # the last-used time is the entry file's mtime
        return True

    def store(self, kind: str, key: str, files: Iterable[Path]) -> None:
        """Add a fitted model's files under its key (atomically), then evict down to the size bound."""
        final = self._dir(kind, key)
        if (final / ENTRY_META).is_file():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=self.root))
        try:
            for f in files:
                shutil.copy2(f, tmp / f.name)
            (tmp / ENTRY_META).write_text(json.dumps({"kind": kind, "key": key, "created": time.time()}))
            try:
                os.rename(tmp, final)
            except OSError:  # another run stored the same entry first: theirs stands
                return
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self.evict()

    def entries(self) -> list[CacheEntry]:
        """Every complete entry, most recently used first."""
        out = []
        if not self.root.is_dir():
            return out
        for d in self.root.iterdir():
            meta = d / ENTRY_META
            if d.name.startswith(".") or not meta.is_file():
                continue
            kind, _, key = d.name.partition("-")
            try:
                size = sum(f.stat().st_size for f in d.iterdir())
                used = meta.stat().st_mtime
            except FileNotFoundError:  # evicted meanwhile
                continue
            out.append(CacheEntry(kind, key, d, size, used))
        return sorted(out, key=lambda e: -e.last_used)

    def evict(self) -> list[CacheEntry]:
        """Remove least recently used entries until the cache fits its bound; returns what was removed."""
        kept, removed, total = [], [], 0
        for e in self.entries():
            if total + e.size <= self.max_bytes:
                kept.append(e)
                total += e.size
            else:
                removed.append(e)
        for e in removed:
            shutil.rmtree(e.path, ignore_errors=True)
        return removed

    def clear(self) -> int:
        """Remove every entry (and any left-over temporary folder); returns how many entries went."""
        n = len(self.entries())
        if self.root.is_dir():
            for d in self.root.iterdir():
                shutil.rmtree(d, ignore_errors=True)
        return n
