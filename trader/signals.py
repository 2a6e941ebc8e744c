"""The eight entry signals, each a per-bar verdict (pass / fail / veto), a direction and a strength.

Every array is causal: row t uses bars, features, predictions, regime probabilities and chain snapshots known at
t. A signal whose input is missing (no predictor, no regime model, no chains) fails everywhere, and says so in
`SIGNAL_INPUTS`. Thresholds are module constants so the analysis can quote them.

| signal | direction from | passes when | vetoes when |
|---|---|---|---|
| predictor_agreement | sign of P(up) - 0.5, all horizons agreeing | mean |2 P(up) - 1| >= the predictor's own 80th percentile on held-out train bars (0.10 without one) | epistemic std > 90% of total at the first horizon |
| hmm_stance | P(bull) - P(bear) of the trend HMM | the leading directional state has P > 0.5 | - |
| momentum | sign of the 15-bar log return | |z| >= 0.5 against 60-bar volatility | - |
| volatility_window | none (a filter) | neither extreme | P(high vol) > 0.8 (fails when P(low vol) > 0.8) |
| technical | mean vote of MACD histogram, HMA slope, Bollinger %B, RSI | |vote| >= 0.5 | RSI beyond 90 / 10 (exhaustion) |
| options_flow | low put/call volume ratio bullish, high bearish | |z| of log ratio vs trailing 10 sessions >= 0.5 | - |
| regime_quality | none (a filter) | product of the three axes' top probabilities >= 0.5 | P(low liquidity) > 0.8 |
| advanced | ATM term slope (contango bullish) minus put skew, both as trailing z | |score| >= 0.5 | - |
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from trader.signal_names import SIGNAL_NAMES  # noqa: F401  (re-exported: the names live in a light module)

SIGNAL_INPUTS = {
    "predictor_agreement": "predictor", "hmm_stance": "regime", "momentum": "bars",
    "volatility_window": "regime (else realized volatility)", "technical": "features",
    "options_flow": "chains", "regime_quality": "regime", "advanced": "chains",
}
PASS, FAIL, VETO = 1, 0, -1
MOMENTUM_BARS, MOMENTUM_VOL_BARS, MOMENTUM_Z = 15, 60, 0.5
PREDICTOR_MIN_STRENGTH, PREDICTOR_MAX_EPISTEMIC_SHARE = 0.10, 0.90
PREDICTOR_STRENGTH_QUANTILE = 0.80
"""A fitted predictor's pass threshold: this quantile of its own agreement strength on the held-out end of the
train split. A fixed 0.10 passed nothing from a well-calibrated model on a weak edge (its up-probabilities stay
near 0.5) and almost everything from an overconfident one; a quantile of its own output scales with both."""
HMM_MIN_PROB = 0.5
VOL_VETO_PROB, VOL_FAIL_PROB = 0.8, 0.8
TECH_MIN_VOTE, RSI_EXHAUSTION = 0.5, 0.8  # rsi feature is centred: 0.8 = RSI 90
FLOW_Z, FLOW_SESSIONS = 0.5, 10
QUALITY_MIN, LIQUIDITY_VETO_PROB = 0.5, 0.8
ADVANCED_MIN = 0.5


def _trailing_z(values: np.ndarray, window: int) -> np.ndarray:
    """z-score of each value against the mean and std of the values before it (causal)."""
    s = pd.Series(values)
    prev = s.shift(1)
    mean = prev.rolling(window, min_periods=max(5, window // 10)).mean()
    std = prev.rolling(window, min_periods=max(5, window // 10)).std()
    z = (s - mean) / std.where(std > 1e-12)
    return z.fillna(0.0).to_numpy()


def _signal(status: np.ndarray, direction: np.ndarray, strength: np.ndarray) -> dict[str, np.ndarray]:
    return {"status": status.astype(np.int8), "dir": direction.astype(np.int8),
            "strength": np.clip(np.nan_to_num(strength), 0.0, 1.0)}


def _absent(n: int) -> dict[str, np.ndarray]:
    return _signal(np.zeros(n), np.zeros(n), np.zeros(n))


def agreement_strength(pred: dict[str, np.ndarray], horizons: tuple[int, ...]) -> np.ndarray:
    """Mean |2 P(up) - 1| over the horizons: how far from a coin flip the predictor leans, per bar."""
    p = np.stack([pred[f"pred_p_up_{h}"] for h in horizons], axis=1)
    return np.mean(np.abs(2 * p - 1), axis=1)


def predictor_agreement(pred: dict[str, np.ndarray] | None, horizons: tuple[int, ...], n: int,
                        min_strength: float = PREDICTOR_MIN_STRENGTH) -> dict:
    """All horizons' direction probabilities on one side, strongly enough; veto when the model does not know."""
    if not pred or not horizons:
        return _absent(n)
    p = np.stack([pred[f"pred_p_up_{h}"] for h in horizons], axis=1)
    sides = np.sign(p - 0.5)
    agree = np.all(sides == sides[:, :1], axis=1) & (sides[:, 0] != 0)
    strength = agreement_strength(pred, horizons)
    status = np.where(agree & (strength >= min_strength), PASS, FAIL)
    h0 = horizons[0]
    epi, tot = pred.get(f"pred_epistemic_std_{h0}"), pred.get(f"pred_total_std_{h0}")
    if epi is not None and tot is not None:
        status = np.where(epi > PREDICTOR_MAX_EPISTEMIC_SHARE * np.maximum(tot, 1e-12), VETO, status)
    return _signal(status, np.where(agree, sides[:, 0], 0), strength)


def hmm_stance(trend: np.ndarray | None, n: int) -> dict:
    """The trend HMM's filtered stance: bull (+1) or bear (-1) when that state leads with P > 0.5."""
    if trend is None:
        return _absent(n)
    bear, bull = trend[:, 0], trend[:, 2]
    direction = np.where(bull > bear, 1, -1)
    lead = np.maximum(bull, bear)
    status = np.where((lead > HMM_MIN_PROB) & (lead >= trend[:, 1]), PASS, FAIL)
    return _signal(status, direction, lead)


def momentum(closes: np.ndarray) -> dict:
    """The 15-bar move against recent volatility."""
    logc = np.log(closes)
    r1 = np.r_[0.0, np.diff(logc)]
    move = logc - np.r_[np.full(MOMENTUM_BARS, logc[0]), logc[:-MOMENTUM_BARS]]
    vol = pd.Series(r1).rolling(MOMENTUM_VOL_BARS, min_periods=10).std().to_numpy() * np.sqrt(MOMENTUM_BARS)
    z = np.where(vol > 0, move / np.where(vol > 0, vol, 1.0), 0.0)
    z = np.nan_to_num(z)
    status = np.where(np.abs(z) >= MOMENTUM_Z, PASS, FAIL)
    return _signal(status, np.sign(z), np.tanh(np.abs(z) / 2))


def volatility_window(vol: np.ndarray | None, closes: np.ndarray) -> dict:
    """A filter: veto in high volatility, fail when it is too low for options to pay, pass otherwise."""
    n = len(closes)
    if vol is None:
        r1 = np.r_[0.0, np.diff(np.log(closes))]
        rv = pd.Series(np.abs(r1)).rolling(30, min_periods=5).mean()
        rank = rv.rolling(390 * 5, min_periods=60).rank(pct=True).fillna(0.5).to_numpy()
        p_low, p_high = np.clip((0.2 - rank) * 5, 0, 1), np.clip((rank - 0.8) * 5, 0, 1)
    else:
        p_low, p_high = vol[:, 0], vol[:, 2]
    status = np.where(p_high > VOL_VETO_PROB, VETO, np.where(p_low > VOL_FAIL_PROB, FAIL, PASS))
    return _signal(status, np.zeros(n), 1.0 - p_high)


def technical(features: pd.DataFrame) -> dict:
    """MACD histogram, HMA slope, Bollinger %B and RSI vote; RSI exhaustion vetoes."""
    n = len(features)
    cols = [c for c in ("macd_hist", "hma_slope", "bb_pctb", "rsi") if c in features.columns]
    if not cols:
        return _absent(n)
    votes = np.sign(features[cols].to_numpy(dtype=float))
    vote = votes.mean(axis=1)
    status = np.where(np.abs(vote) >= TECH_MIN_VOTE, PASS, FAIL)
    if "rsi" in features.columns:
        status = np.where(np.abs(features["rsi"].to_numpy(dtype=float)) > RSI_EXHAUSTION, VETO, status)
    return _signal(status, np.where(np.abs(vote) >= TECH_MIN_VOTE, np.sign(vote), 0), np.abs(vote))


def options_flow(chain: dict[str, np.ndarray], n: int) -> dict:
    """Put/call volume ratio against its recent sessions: unusually few puts bullish, many puts bearish."""
    pcr = chain.get("pcr_volume")
    if pcr is None or not np.isfinite(pcr).any():
        return _absent(n)
    log_pcr = np.log(np.where(np.isfinite(pcr) & (pcr > 0), pcr, np.nan))
    z = _session_z(log_pcr)
    status = np.where(np.abs(z) >= FLOW_Z, PASS, FAIL)
    return _signal(status, -np.sign(z), np.tanh(np.abs(z) / 2))


def _session_z(per_bar: np.ndarray) -> np.ndarray:
    """z-score of a per-snapshot value (constant between snapshots) against the previous FLOW_SESSIONS values."""
    s = pd.Series(per_bar)
    change = s.ne(s.shift(1)) & s.notna()
    snaps = s[change]
    prev = snaps.shift(1)
    mean = prev.rolling(FLOW_SESSIONS, min_periods=3).mean()
    std = prev.rolling(FLOW_SESSIONS, min_periods=3).std()
    z_snap = ((snaps - mean) / std.where(std > 1e-12)).fillna(0.0)
    z = pd.Series(np.nan, index=s.index)
    z[change] = z_snap
    return z.ffill().fillna(0.0).to_numpy()


def regime_quality(trend: np.ndarray | None, vol: np.ndarray | None, liq: np.ndarray | None, n: int) -> dict:
    """A filter: the regime is clear (confident on all three axes) and liquidity is not poor."""
    if trend is None or vol is None or liq is None:
        return _absent(n)
    quality = trend.max(axis=1) * vol.max(axis=1) * liq.max(axis=1)
    status = np.where(liq[:, 2] > LIQUIDITY_VETO_PROB, VETO, np.where(quality >= QUALITY_MIN, PASS, FAIL))
    return _signal(status, np.zeros(n), quality)


def advanced(chain: dict[str, np.ndarray], n: int) -> dict:
    """VIX-like term structure and skew: contango and a flat skew lean bullish, inversion and steep skew bearish."""
    slope, skew = chain.get("term_slope"), chain.get("skew")
    if slope is None or skew is None or not np.isfinite(slope).any():
        return _absent(n)
    score = (_session_z(slope) - _session_z(skew)) / 2
    status = np.where(np.abs(score) >= ADVANCED_MIN, PASS, FAIL)
    return _signal(status, np.sign(score), np.tanh(np.abs(score) / 2))


def compute_signals(
    closes: np.ndarray,
    features: pd.DataFrame,
    pred: dict[str, np.ndarray] | None = None,
    horizons: tuple[int, ...] = (),
    regime: dict[str, np.ndarray] | None = None,
    chain: dict[str, np.ndarray] | None = None,
    predictor_min_strength: float = PREDICTOR_MIN_STRENGTH,
) -> dict[str, np.ndarray]:
    """All eight signals as flat per-bar arrays `sig_<name>_status|dir|strength` for a BarSeries."""
    n = len(closes)
    regime = regime or {}
    chain = chain or {}
    trend, vol, liq = regime.get("trend"), regime.get("volatility"), regime.get("liquidity")
    book = {
        "predictor_agreement": predictor_agreement(pred, horizons, n, predictor_min_strength),
        "hmm_stance": hmm_stance(trend, n),
        "momentum": momentum(closes),
        "volatility_window": volatility_window(vol, closes),
        "technical": technical(features),
        "options_flow": options_flow(chain, n),
        "regime_quality": regime_quality(trend, vol, liq, n),
        "advanced": advanced(chain, n),
    }
    return {f"sig_{name}_{k}": v for name, parts in book.items() for k, v in parts.items()}
