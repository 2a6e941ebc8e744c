"""Causal features from bars: row t of `build_features(bars)` uses bars up to and including t only.

Sessions and overnight gaps (intraday bars)
    A session is one calendar date of the bar index (America/New_York). The overnight gap between the last
    close of one session and the first open of the next is taken out of every price-based series: the
    one-bar return at a session's first bar is open-to-close of that bar, and the indicators (RSI, MACD,
    Bollinger %B, HMA) run on a gap-free log price, the cumulative sum of those one-bar returns. The gap
    itself is one feature (`gap`, held for the whole session, 0 in the first session of the data).
    Rolling statistics (returns over k bars, realized vol, ATR, volume z-score, the indicators) do NOT reset
    at a session boundary: at 09:31 they still see the previous afternoon. The session features
    (`vwap_dist`, `open_dist`) DO reset: VWAP and the open are those of the current session.
    With daily bars (`intraday=False`) each bar is its own session: one-bar returns are close-to-close
    (the gap is part of the move) and `vwap_dist`/`open_dist` describe the bar itself.

Warm-up
    Rolling windows use whatever history exists (pandas `min_periods=1`; standard deviations need two
    points), so early rows are computed from fewer bars. Any value still missing (the std of one point,
    a change with no earlier value, a missing vix/spread/quote_size that cannot be forward-filled) is set
    to 0, the neutral value of every feature (all features are centred: RSI and %B are shifted to 0 at their
    midpoints). Rows before `WARMUP_BARS` are therefore computed from short histories; a model may skip them.

Optional columns: `vix` (level/100 and its 5-bar log change), `spread` (in basis points of the close) and
`quote_size` (log1p of shares) add features when the column exists; missing values are forward-filled
(only earlier values are used) and then set to 0.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from trader.errors import DataError

RETURN_WINDOWS: tuple[int, ...] = (1, 5, 15, 30, 120, 390)
"""Log returns over these many bars; the two long ones (two hours, a session) let a model with a short receptive
field see a trend that lasts days (without them the default TCN saw 13 + 30 bars and was blind to it)."""
VOL_WINDOWS: tuple[int, ...] = (5, 15, 30, 60)
ATR_WINDOW = 14
VOLUME_WINDOW = 30
RSI_WINDOW = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
BOLLINGER_WINDOW = 20
HMA_WINDOW = 16
VIX_CHANGE_BARS = 5
WARMUP_BARS = 60
"""The longest short rolling window (the long returns, 120 and 390 bars, use what history exists until then)."""

SESSION_OPEN_MINUTE = 9 * 60 + 30
SESSION_MINUTES = 390.0
REQUIRED = ("open", "high", "low", "close", "volume")


def _check_bars(bars: pd.DataFrame) -> None:
    """Raise DataError unless bars has a DatetimeIndex and the required positive price columns."""
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise DataError("features need bars indexed by a DatetimeIndex (the bar start times)")
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise DataError(f"bars lack the column(s) {', '.join(missing)} needed for features")
    prices = bars[["open", "high", "low", "close"]].to_numpy(dtype=float)
    if len(prices) and not (np.isfinite(prices).all() and (prices > 0).all()):
        raise DataError("bars have a non-positive or missing open/high/low/close; features need positive prices")


def infer_intraday(index: pd.DatetimeIndex) -> bool:
    """True when the bars are intraday: the median spacing of consecutive bars is under 12 hours."""
    if len(index) < 2:
        return True
    spacing = np.median(np.diff(index.as_unit("ns").asi8)) / 1e9
    return bool(spacing < 12 * 3600)


def _wma(x: np.ndarray, n: int) -> np.ndarray:
    """Linearly weighted moving average (weights 1..n, newest heaviest) from shifted copies, prefix-exact."""
    out = np.zeros_like(x)
    weight_sum = np.zeros_like(x)
    for lag in range(min(n, len(x))):
        w = float(n - lag)
        shifted = np.full_like(x, np.nan)
        shifted[lag:] = x[: len(x) - lag] if lag else x
        ok = ~np.isnan(shifted)
        out[ok] += w * shifted[ok]
        weight_sum[ok] += w
    return out / weight_sum


def _hma(x: np.ndarray, n: int) -> np.ndarray:
    """Hull moving average WMA(2 WMA(x, n/2) - WMA(x, n), sqrt(n)); early rows use the bars available."""
    half = max(1, n // 2)
    root = max(1, round(math.sqrt(n)))
    return _wma(2.0 * _wma(x, half) - _wma(x, n), root)


def session_keys(index: pd.DatetimeIndex) -> np.ndarray:
    """Session id of each bar: its calendar date in New York time as an integer yyyymmdd."""
    local = index.tz_convert("America/New_York") if index.tz is not None else index
    return np.asarray(local.year * 10000 + local.month * 100 + local.day, dtype=np.int64)


def feature_names(columns: list[str] | pd.Index) -> list[str]:
    """The feature columns `build_features` returns for bars with the given columns, in order."""
    names = [f"ret_{k}" for k in RETURN_WINDOWS] + ["gap"] + [f"rv_{k}" for k in VOL_WINDOWS]
    names += ["range", "atr", "volume_z", "vwap_dist", "open_dist", "tod_sin", "tod_cos",
              "rsi", "macd_hist", "bb_pctb", "hma_slope"]
    if "vix" in columns:
        names += ["vix", "vix_chg"]
    if "spread" in columns:
        names.append("spread_bp")
    if "quote_size" in columns:
        names.append("quote_size")
    return names


def build_features(bars: pd.DataFrame, intraday: bool | None = None) -> pd.DataFrame:
    """Causal feature frame with the same index as bars (float64, no NaN); see the module notes for rules."""
    _check_bars(bars)
    if len(bars) == 0:
        return pd.DataFrame({name: np.zeros(0) for name in feature_names(bars.columns)}, index=bars.index)
    if intraday is None:
        intraday = infer_intraday(bars.index)
    n = len(bars)
    o = bars["open"].to_numpy(dtype=float)
    h = bars["high"].to_numpy(dtype=float)
    lo = bars["low"].to_numpy(dtype=float)
    c = bars["close"].to_numpy(dtype=float)
    v = np.maximum(bars["volume"].to_numpy(dtype=float), 0.0)
    v = np.nan_to_num(v, nan=0.0)

    sess = session_keys(bars.index) if intraday else np.arange(n)
    first = np.ones(n, dtype=bool)
    first[1:] = sess[1:] != sess[:-1]
    prev_c = np.r_[np.nan, c[:-1]]

    # One-bar log returns without the overnight gap (intraday) or close-to-close (daily).
    r1 = np.log(c / prev_c)
    r1[0] = math.log(c[0] / o[0])
    if intraday:
        r1[first] = np.log(c[first] / o[first])
    gap_at_first = np.where(first & ~np.isnan(prev_c), np.log(o / np.where(np.isnan(prev_c), 1.0, prev_c)), 0.0)
    session_id = np.cumsum(first) - 1
    gap_by_session = gap_at_first[first]
    gap = gap_by_session[session_id]

    out: dict[str, np.ndarray] = {}
    r = pd.Series(r1)
    for k in RETURN_WINDOWS:
        out[f"ret_{k}"] = r.rolling(k, min_periods=1).sum().to_numpy()
    out["gap"] = gap
    r2 = pd.Series(r1 * r1)
    for k in VOL_WINDOWS:
        out[f"rv_{k}"] = np.sqrt(r2.rolling(k, min_periods=1).mean().to_numpy())

    # Range and an ATR-like mean true range (in log units); a session's first bar ignores the prior close.
    out["range"] = np.log(h / lo)
    ref = prev_c.copy()
    if intraday:
        ref[first] = np.nan
    hi_ref = np.where(np.isnan(ref), h, np.maximum(h, np.nan_to_num(ref, nan=0.0)))
    lo_ref = np.where(np.isnan(ref), lo, np.minimum(lo, np.nan_to_num(ref, nan=np.inf)))
    out["atr"] = pd.Series(np.log(hi_ref / lo_ref)).rolling(ATR_WINDOW, min_periods=1).mean().to_numpy()

    lv = pd.Series(np.log1p(v))
    mean_v = lv.rolling(VOLUME_WINDOW, min_periods=1).mean()
    sd_v = lv.rolling(VOLUME_WINDOW, min_periods=2).std()
    out["volume_z"] = ((lv - mean_v) / sd_v.where(sd_v > 1e-12)).to_numpy()

    # Session VWAP and session open (reset each session).
    typical = (h + lo + c) / 3.0
    groups = pd.Series(session_id)
    cum_pv = pd.Series(typical * v).groupby(groups).cumsum().to_numpy()
    cum_v = pd.Series(v).groupby(groups).cumsum().to_numpy()
    vwap = np.where(cum_v > 0, cum_pv / np.where(cum_v > 0, cum_v, 1.0), typical)
    out["vwap_dist"] = np.log(c / vwap)
    session_open = o[first][session_id]
    out["open_dist"] = np.log(c / session_open)

    # Time of day: minutes since 09:30 on a 390-minute circle.
    local = bars.index.tz_convert("America/New_York") if bars.index.tz is not None else bars.index
    minutes = (local.hour * 60 + local.minute - SESSION_OPEN_MINUTE).to_numpy(dtype=float)
    angle = 2.0 * math.pi * minutes / SESSION_MINUTES
    out["tod_sin"] = np.sin(angle)
    out["tod_cos"] = np.cos(angle)

    # Indicators on the gap-free log price.
    p = pd.Series(np.cumsum(r1))
    gain = r.clip(lower=0.0).ewm(alpha=1.0 / RSI_WINDOW, adjust=False).mean()
    loss = (-r).clip(lower=0.0).ewm(alpha=1.0 / RSI_WINDOW, adjust=False).mean()
    total = (gain + loss).to_numpy()
    out["rsi"] = np.where(total > 0, (gain.to_numpy() - loss.to_numpy()) / np.where(total > 0, total, 1.0), 0.0)
    macd = p.ewm(span=MACD_FAST, adjust=False).mean() - p.ewm(span=MACD_SLOW, adjust=False).mean()
    out["macd_hist"] = (macd - macd.ewm(span=MACD_SIGNAL, adjust=False).mean()).to_numpy()
    ma = p.rolling(BOLLINGER_WINDOW, min_periods=1).mean()
    sd = p.rolling(BOLLINGER_WINDOW, min_periods=2).std()
    out["bb_pctb"] = ((p - ma) / (4.0 * sd.where(sd > 1e-12))).to_numpy()
    hma = _hma(p.to_numpy(), HMA_WINDOW)
    out["hma_slope"] = np.r_[0.0, np.diff(hma)]

    if "vix" in bars.columns:
        vix = bars["vix"].astype(float).where(bars["vix"] > 0).ffill()
        out["vix"] = (vix / 100.0).to_numpy()
        out["vix_chg"] = np.log(vix / vix.shift(VIX_CHANGE_BARS)).to_numpy()
    if "spread" in bars.columns:
        spread = bars["spread"].astype(float).where(bars["spread"] >= 0).ffill().to_numpy()
        out["spread_bp"] = 1e4 * spread / c
    if "quote_size" in bars.columns:
        size = bars["quote_size"].astype(float).where(bars["quote_size"] >= 0).ffill().to_numpy()
        out["quote_size"] = np.log1p(size)

    frame = pd.DataFrame(out, index=bars.index)
    return frame.replace([np.inf, -np.inf], np.nan).fillna(0.0)


@dataclass
class FeatureScaler:
    """Per-column standardisation fitted on training rows only, clipped to +-clip after scaling."""

    columns: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    clip: float = 8.0

    def fit(self, frame: pd.DataFrame) -> FeatureScaler:
        """Learn each column's mean and standard deviation (a constant column gets std 1)."""
        if len(frame) < 2:
            raise DataError(f"the feature scaler needs at least 2 training rows, got {len(frame)}")
        values = frame.to_numpy(dtype=float)
        sd = values.std(axis=0)
        self.columns = [str(col) for col in frame.columns]
        self.mean = values.mean(axis=0).tolist()
        self.std = np.where(sd > 1e-12, sd, 1.0).tolist()
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Scale the fitted columns of frame (same index) to float32."""
        return pd.DataFrame(self.transform_array(frame), index=frame.index, columns=self.columns)

    def transform_array(self, frame: pd.DataFrame) -> np.ndarray:
        """Scale the fitted columns of frame into a float32 array [rows, columns]."""
        if not self.columns:
            raise DataError("the feature scaler is not fitted: call fit on the training rows first")
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(f"the feature frame lacks the fitted column(s) {', '.join(missing)}")
        values = frame[self.columns].to_numpy(dtype=float)
        scaled = (values - np.asarray(self.mean)) / np.asarray(self.std)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {"columns": self.columns, "mean": self.mean, "std": self.std, "clip": self.clip}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FeatureScaler:
        """Rebuild from `to_dict` output."""
        return cls(
            columns=list(data["columns"]),  # type: ignore[arg-type]
            mean=[float(x) for x in data["mean"]],  # type: ignore[attr-defined]
            std=[float(x) for x in data["std"]],  # type: ignore[attr-defined]
            clip=float(data["clip"]),  # type: ignore[arg-type]
        )

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict())
