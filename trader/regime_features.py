"""Causal features of the regime HMM: row t uses bars up to and including t only, over finite windows.

Every feature is a function of a fixed number of trailing bars (the longest window plus one), so a streaming
filter that keeps only that many bars computes the same rows as the batch computation over the whole series.
Early rows use the bars that exist (partial windows).

Per-bar inputs (intraday bars)
    ``r``: one-bar log return with the overnight gap taken out (a session's first bar is open-to-close).
    Squared returns, the bar range and log volume are divided (volume: shifted) by a time-of-day profile
    estimated on the training bars (15-minute buckets since 09:30), so the open/close U-shape of intraday
    activity is not mistaken for a regime. Daily bars use close-to-close returns and no profile.

Axes
    trend: ``trend_ret_W`` = sum of W returns / sqrt(sum of their squares) (a scale-free t-like statistic) at
    three scales, ``trend_slope_W`` the least-squares slope of the gap-free log price over W bars in the same units.
    volatility: ``vol_rv_W`` log realized volatility (profile-adjusted) at two scales, ``vol_range_W`` log mean
    high-low range, ``vol_vix`` log VIX-like level and ``vol_vix_chg_W`` its log change (when a vix column exists).
    liquidity: ``liq_volume_W`` mean profile-adjusted log volume, ``liq_spread_W`` log mean spread in cents
    (spread column), ``liq_quote_W`` mean log quote size (quote_size column).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from trader.errors import DataError
from trader.market.base import TZ

AXES: tuple[str, ...] = ("trend", "volatility", "liquidity")
REQUIRED = ("open", "high", "low", "close", "volume")
BUCKET_MINUTES = 15
N_BUCKETS = 26  # 09:30-16:00 in 15-minute buckets
_TINY = 1e-14


@dataclass(frozen=True)
class FeatureConfig:
    """Window lengths in bars and the bar layout (intraday or daily) of the regime features."""

    intraday: bool = True
    trend_windows: tuple[int, ...] = (60, 195, 390)
    slope_window: int = 120
    vol_windows: tuple[int, ...] = (30, 120)
    range_window: int = 30
    vix_change: int = 15
    volume_window: int = 30
    volume_norm_window: int = 390
    spread_window: int = 10

    @classmethod
    def for_interval(cls, minutes: float) -> FeatureConfig:
        """Windows scaled to a bar interval in minutes (daily or longer bars get day-sized windows)."""
        if minutes >= 390:
            return cls(intraday=False, trend_windows=(5, 20, 60), slope_window=20, vol_windows=(5, 20),
                       range_window=5, vix_change=1, volume_window=5, volume_norm_window=60, spread_window=1)

        def bars(m: int) -> int:
            return max(2, round(m / minutes))

        return cls(intraday=True, trend_windows=tuple(bars(w) for w in (60, 195, 390)), slope_window=bars(120),
                   vol_windows=(bars(30), bars(120)), range_window=bars(30), vix_change=bars(15),
                   volume_window=bars(30), volume_norm_window=bars(390), spread_window=bars(10))

    def lookback(self) -> int:
        """Bars a streaming filter must keep so its last row equals the batch row (longest window + 1)."""
        return 1 + max(*self.trend_windows, self.slope_window, *self.vol_windows, self.range_window,
                       self.vix_change, self.volume_window, self.volume_norm_window, self.spread_window)

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        d = asdict(self)
        d["trend_windows"] = list(self.trend_windows)
        d["vol_windows"] = list(self.vol_windows)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FeatureConfig:
        """Inverse of to_dict."""
        d = dict(d)
        d["trend_windows"] = tuple(d["trend_windows"])
        d["vol_windows"] = tuple(d["vol_windows"])
        return cls(**d)


@dataclass
class Profile:
    """Time-of-day profile (per 15-minute bucket) of squared returns, range (ratios) and log volume (shifts)."""

    r2: list[float] = field(default_factory=lambda: [1.0] * N_BUCKETS)
    range: list[float] = field(default_factory=lambda: [1.0] * N_BUCKETS)
    log_volume: list[float] = field(default_factory=lambda: [0.0] * N_BUCKETS)


def bar_interval_minutes(index: pd.DatetimeIndex) -> float:
    """The median spacing of the bars in minutes (1.0 for a single bar)."""
    if len(index) < 2:
        return 1.0
    ns = pd.DatetimeIndex(index).as_unit("ns").asi8
    return float(np.median(np.diff(ns)) / 60e9)


def check_bars(bars: pd.DataFrame) -> None:
    """Raise DataError unless the bars have a DatetimeIndex and the required columns."""
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise DataError("regime features need bars indexed by a DatetimeIndex (the bar start times)")
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise DataError(f"bars lack the column(s) {', '.join(missing)} needed for the regime features")


def optional_columns(bars: pd.DataFrame) -> list[str]:
    """Which optional columns (vix, spread, quote_size) exist with at least one finite value."""
    out = []
    for c in ("vix", "spread", "quote_size"):
        if c in bars.columns and np.isfinite(bars[c].to_numpy(dtype=float)).any():
            out.append(c)
    return out


def _rolling_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Trailing sum over w rows (fewer at the start); each row is one dot product of its own window."""
    return np.convolve(x, np.ones(w))[: len(x)]


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    n = len(x)
    count = np.minimum(np.arange(1, n + 1), w)
    return _rolling_sum(x, w) / count


def _lag(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted k rows back, the first value held at the start."""
    if len(x) == 0:
        return x
    return np.concatenate([np.full(min(k, len(x)), x[0]), x[: max(0, len(x) - k)]])


def _rolling_slope(y: np.ndarray, w: int) -> np.ndarray:
    """Least-squares slope of y over the last w rows (the series is extended backwards with its first value)."""
    if len(y) == 0:
        return y
    padded = np.concatenate([np.full(w - 1, y[0]), y])
    k = np.arange(w, dtype=float)
    weights = (k - k.mean()) / np.sum((k - k.mean()) ** 2)
    # correlate: output j = sum_k padded[j + k] * weights[k], i.e. window ending at row j of y
    return np.correlate(padded, weights, mode="valid")


def column_fill(bars: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """Median of each optional column over these (training) bars: the value used before its first observation."""
    return {c: float(np.nanmedian(bars[c].replace([np.inf, -np.inf], np.nan).to_numpy(dtype=float)))
            for c in columns}


def _filled(bars: pd.DataFrame, col: str, fill: float) -> np.ndarray:
    """A column forward-filled (earlier values only); values before the first observation take `fill`."""
    s = bars[col].astype(float).replace([np.inf, -np.inf], np.nan).ffill().fillna(fill)
    return s.to_numpy(dtype=float)


def clock_keys(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Per bar a session key (yyyymmdd in New York) and the minute of the day the bar starts."""
    idx = pd.DatetimeIndex(index)
    if idx.tz is not None:
        idx = idx.tz_convert(TZ)
    day = np.asarray(idx.year * 10000 + idx.month * 100 + idx.day, dtype=np.int64)
    minute = np.asarray(idx.hour * 60 + idx.minute, dtype=np.int64)
    return day, minute


def bar_inputs(bars: pd.DataFrame, columns: list[str], fill: dict[str, float]) -> dict[str, np.ndarray]:
    """The arrays the features are computed from: prices, volume, the optional columns (filled), clock keys."""
    check_bars(bars)
    absent = [c for c in columns if c not in bars.columns]
    if absent:
        raise DataError(f"bars lack the column(s) {', '.join(absent)} the regime model was fitted with")
    out = {c: bars[c].to_numpy(dtype=float) for c in REQUIRED}
    for col in columns:
        out[col] = _filled(bars, col, fill[col])
    out["day"], out["minute"] = clock_keys(pd.DatetimeIndex(bars.index))
    return out


def per_bar(inp: dict[str, np.ndarray], cfg: FeatureConfig) -> dict[str, np.ndarray]:
    """Per-bar inputs: gap-free return, range, log volume, time-of-day bucket and the optional columns."""
    o, c = inp["open"], inp["close"]
    n = len(c)
    prev = _lag(c, 1)
    if cfg.intraday:
        day = inp["day"]
        new = np.ones(n, dtype=bool)
        if n > 1:
            new[1:] = day[1:] != day[:-1]
        base = np.where(new, o, prev)
        bucket = np.clip((inp["minute"] - (9 * 60 + 30)) // BUCKET_MINUTES, 0, N_BUCKETS - 1).astype(np.int64)
    else:
        base = prev.copy()
        if n:
            base[0] = o[0]
        bucket = np.zeros(n, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(c / base)
        rng = np.log(inp["high"] / inp["low"])
    out = {
        "r": np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0),
        "range": np.nan_to_num(np.maximum(rng, 0.0), nan=0.0, posinf=0.0),
        "log_volume": np.log1p(np.maximum(np.nan_to_num(inp["volume"]), 0.0)),
        "bucket": bucket,
        "close": c,
    }
    for col in ("vix", "spread", "quote_size"):
        if col in inp:
            out[col] = inp[col]
    return out


def fit_profile(raw: dict[str, np.ndarray], rows: slice, intraday: bool, min_count: int = 10) -> Profile:
    """Time-of-day profile from the given rows (training only); buckets with few bars keep the neutral value."""
    prof = Profile()
    if not intraday:
        return prof
    b = raw["bucket"][rows]
    r2 = raw["r"][rows] ** 2
    rg = raw["range"][rows]
    lv = raw["log_volume"][rows]
    m_r2, m_rg, m_lv = float(np.mean(r2)), float(np.mean(rg)), float(np.mean(lv))
    for k in range(N_BUCKETS):
        sel = b == k
        if sel.sum() < min_count:
            continue
        if m_r2 > 0 and np.mean(r2[sel]) > 0:
            prof.r2[k] = float(np.mean(r2[sel]) / m_r2)
        if m_rg > 0 and np.mean(rg[sel]) > 0:
            prof.range[k] = float(np.mean(rg[sel]) / m_rg)
        prof.log_volume[k] = float(np.mean(lv[sel]) - m_lv)
    return prof


def compute_features(raw: dict[str, np.ndarray], cfg: FeatureConfig, prof: Profile) -> dict[str, np.ndarray]:
    """All regime features by name from per-bar inputs (which features exist depends on the optional columns)."""
    r, b = raw["r"], raw["bucket"]
    r2 = r * r
    r2a = r2 / np.asarray(prof.r2)[b]
    rga = raw["range"] / np.asarray(prof.range)[b]
    lva = raw["log_volume"] - np.asarray(prof.log_volume)[b]
    f: dict[str, np.ndarray] = {}
    for w in cfg.trend_windows:
        f[f"trend_ret_{w}"] = _rolling_sum(r, w) / np.sqrt(_rolling_sum(r2, w) + _TINY)
    w = cfg.slope_window
    y = np.cumsum(r)
    f[f"trend_slope_{w}"] = _rolling_slope(y, w) * w / np.sqrt(_rolling_sum(r2, w) + _TINY)
    for w in cfg.vol_windows:
        f[f"vol_rv_{w}"] = 0.5 * np.log(_rolling_mean(r2a, w) + _TINY)
    f[f"vol_range_{cfg.range_window}"] = np.log(_rolling_mean(rga, cfg.range_window) + 1e-8)
    if "vix" in raw:
        lvix = np.log(np.maximum(raw["vix"], 1e-6))
        f["vol_vix"] = lvix
        f[f"vol_vix_chg_{cfg.vix_change}"] = lvix - _lag(lvix, cfg.vix_change)
    lw = cfg.volume_norm_window
    long_mean = _rolling_mean(lva, lw)
    long_sd = np.sqrt(np.maximum(_rolling_mean(lva * lva, lw) - long_mean**2, 0.0))
    f[f"liq_volume_{cfg.volume_window}"] = (_rolling_mean(lva, cfg.volume_window) - long_mean) / (long_sd + 0.05)
    if "spread" in raw:
        cents = np.maximum(raw["spread"], 0.0) * 100.0  # the tick, not the price level, sets SPY's spread
        f[f"liq_spread_{cfg.spread_window}"] = np.log(_rolling_mean(cents, cfg.spread_window) + 0.1)
    if "quote_size" in raw:
        f[f"liq_quote_{cfg.spread_window}"] = _rolling_mean(np.log1p(np.maximum(raw["quote_size"], 0.0)),
                                                            cfg.spread_window)
    return f


def axis_of(name: str) -> str:
    """The axis a feature belongs to, from its name prefix."""
    prefix = name.split("_", 1)[0]
    return {"trend": "trend", "vol": "volatility", "liq": "liquidity"}[prefix]
