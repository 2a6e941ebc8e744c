"""The Probabilistic and Deflated Sharpe Ratios (Bailey & Lopez de Prado) on per-period Sharpe ratios, in plain
Python: the promotion gate and the leaderboard need them without loading numpy, pandas or scipy."""
from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from statistics import NormalDist

PERIODS_PER_YEAR = 252
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def probabilistic_sharpe(sr: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0,
                         sr_benchmark: float = 0.0) -> float | None:
    """PSR: probability that the true per-period Sharpe exceeds `sr_benchmark` (kurtosis is raw, 3 = normal).

    PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurtosis - 1) / 4 SR^2)); None when n < 2 or the
    variance term is not positive.
    """
    if n_obs < 2 or not all(math.isfinite(v) for v in (sr, skew, kurtosis, sr_benchmark)):
        return None
    var_term = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if var_term <= 0:
        return None
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var_term)
    return float(_NORMAL.cdf(z))


def expected_max_sharpe(n_trials: int, var: float) -> float:
    """Expected maximum of `n_trials` independent zero-skill Sharpe estimates with variance `var` (0 for one trial).

    E[max SR] = sqrt(var) ((1 - g) Phi^-1(1 - 1/N) + g Phi^-1(1 - 1/(N e))), g the Euler-Mascheroni constant.
    """
    if n_trials <= 1 or not var > 0:
        return 0.0
    n = float(n_trials)
    z = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n) + EULER_GAMMA * _NORMAL.inv_cdf(1 - 1 / (n * math.e))
    return math.sqrt(var) * z


def default_trials_variance(n_obs: int) -> float:
    """Default variance of per-period Sharpe estimates across trials: the null sampling variance 1 / (n - 1).

    Used when the other trials' Sharpe ratios are not known: under zero skill and normal returns each trial's
    Sharpe estimate scatters around 0 with variance about 1 / (n_obs - 1).
    """
    return 1.0 / max(1, n_obs - 1)


def deflated_sharpe(sr: float, n_obs: int, skew: float, kurtosis: float, n_trials: int,
                    trials_var: float | None = None) -> float | None:
    """DSR: the PSR of a per-period Sharpe against the expected maximum Sharpe of `n_trials` zero-skill trials.

    `trials_var` is the variance of the trials' per-period Sharpe ratios; None uses `default_trials_variance`.
    """
    var = trials_var if trials_var is not None and trials_var > 0 else default_trials_variance(n_obs)
    return probabilistic_sharpe(sr, n_obs, skew, kurtosis, expected_max_sharpe(n_trials, var))


def trials_variance(sharpe_trials: Iterable[float] | None,
                    periods_per_year: int = PERIODS_PER_YEAR) -> float | None:
    """Variance of per-period Sharpe ratios from annualized trial Sharpes; None with fewer than 2 usable values."""
    if sharpe_trials is None:
        return None
    x = [float(v) / math.sqrt(periods_per_year) for v in sharpe_trials
         if v is not None and math.isfinite(float(v))]
    if len(x) < 2:
        return None
    v = statistics.variance(x)
    return v if v > 0 else None
