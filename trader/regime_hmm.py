"""One axis of the regime model: a 3-state Gaussian HMM fitted with hmmlearn, states put in a fixed order,
and filtered forward only (normalized alpha recursion: the probabilities at bar t use bars up to t).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from trader.errors import DataError

N_STATES = 3
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class AxisHMM:
    """Fitted parameters of one axis, states ordered so that 0/1/2 always mean the same thing."""

    axis: str
    features: list[str]
    covariance_type: str  # "diag" (covars: (3, d) variances) or "full" (covars: (3, d, d))
    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    covars: np.ndarray
    log_likelihood: float = float("nan")
    converged: bool = False
    iterations: int = 0

    def __post_init__(self) -> None:
        self._prepare()

    def _prepare(self) -> None:
        """Cache what the emission density needs (log-determinants, inverse Cholesky factors)."""
        if self.covariance_type == "diag":
            self._log_det = np.sum(np.log(self.covars), axis=1)
        else:
            chol = np.linalg.cholesky(self.covars)
            self._inv_chol = np.linalg.inv(chol)
            self._log_det = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
        self._log_trans = np.log(np.maximum(self.transmat, 1e-300))

    def log_emission(self, x: np.ndarray) -> np.ndarray:
        """Log density of each row of x (n, d) under each state's Gaussian: (n, 3)."""
        x = np.atleast_2d(x)
        d = x.shape[1]
        out = np.empty((x.shape[0], N_STATES))
        for s in range(N_STATES):
            diff = x - self.means[s]
            if self.covariance_type == "diag":
                maha = np.sum(diff * diff / self.covars[s], axis=1)
            else:
                z = diff @ self._inv_chol[s].T
                maha = np.sum(z * z, axis=1)
            out[:, s] = -0.5 * (d * _LOG_2PI + self._log_det[s] + maha)
        return out

    def step(self, prev: np.ndarray | None, log_b: np.ndarray) -> np.ndarray:
        """One forward step: P(state_t | x_1..t) from P(state_{t-1} | x_1..t-1) (None at the first bar)."""
        prior = self.startprob if prev is None else prev @ self.transmat
        w = prior * np.exp(log_b - np.max(log_b))
        total = w.sum()
        if not total > 0 or not math.isfinite(total):
            # every state the prior allows is numerically impossible: fall back to the likelihood alone
            w = np.exp(log_b - np.max(log_b))
            total = w.sum()
        return w / total

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Filtered state probabilities (n, 3) of a feature matrix by the forward recursion from its first row."""
        log_b = self.log_emission(x)
        lik = np.exp(log_b - log_b.max(axis=1, keepdims=True))  # per-row scaling cancels in the normalization
        out = np.empty_like(log_b)
        trans = self.transmat
        alpha: np.ndarray | None = None
        for t in range(len(lik)):
            w = (self.startprob if alpha is None else alpha @ trans) * lik[t]
            total = w.sum()
            if not total > 0 or not math.isfinite(total):
                w = lik[t].copy()
                total = w.sum()
            alpha = w / total
            out[t] = alpha
        return out

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        return {
            "axis": self.axis, "features": list(self.features), "covariance_type": self.covariance_type,
            "startprob": self.startprob.tolist(), "transmat": self.transmat.tolist(), "means": self.means.tolist(),
            "covars": self.covars.tolist(), "log_likelihood": self.log_likelihood, "converged": self.converged,
            "iterations": self.iterations,
        }

    @classmethod
    def from_dict(cls, d: dict) -> AxisHMM:
        """Inverse of to_dict (shapes are checked)."""
        k = len(d["features"])
        obj = cls(
            axis=d["axis"], features=list(d["features"]), covariance_type=d["covariance_type"],
            startprob=np.asarray(d["startprob"], dtype=float), transmat=np.asarray(d["transmat"], dtype=float),
            means=np.asarray(d["means"], dtype=float), covars=np.asarray(d["covars"], dtype=float),
            log_likelihood=float(d.get("log_likelihood", float("nan"))), converged=bool(d.get("converged", False)),
            iterations=int(d.get("iterations", 0)),
        )
        want_cov = (N_STATES, k) if obj.covariance_type == "diag" else (N_STATES, k, k)
        if (obj.startprob.shape != (N_STATES,) or obj.transmat.shape != (N_STATES, N_STATES)
                or obj.means.shape != (N_STATES, k) or obj.covars.shape != want_cov):
            raise DataError(f"regime model axis '{obj.axis}' has parameters of the wrong shape")
        return obj

    def permuted(self, order: np.ndarray) -> AxisHMM:
        """The same model with state `order[j]` renamed to j."""
        order = np.asarray(order)
        return AxisHMM(
            axis=self.axis, features=self.features, covariance_type=self.covariance_type,
            startprob=self.startprob[order], transmat=self.transmat[np.ix_(order, order)],
            means=self.means[order], covars=self.covars[order], log_likelihood=self.log_likelihood,
            converged=self.converged, iterations=self.iterations,
        )


def initial_params(x: np.ndarray, score: np.ndarray, covariance_type: str,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """EM starting point: the rows split into terciles of an ordering score, means jittered by the seed."""
    edges = np.quantile(score, [1 / 3, 2 / 3])
    group = np.searchsorted(edges, score, side="right")
    d = x.shape[1]
    means = np.empty((N_STATES, d))
    full = np.empty((N_STATES, d, d))
    for s in range(N_STATES):
        rows = x[group == s] if np.sum(group == s) > d + 1 else x
        means[s] = rows.mean(axis=0)
        full[s] = np.atleast_2d(np.cov(rows, rowvar=False)) + 1e-3 * np.eye(d)
    means = means + 0.05 * rng.standard_normal(means.shape)
    stay = 0.98
    transmat = np.full((N_STATES, N_STATES), (1.0 - stay) / (N_STATES - 1))
    np.fill_diagonal(transmat, stay)
    covars = np.diagonal(full, axis1=1, axis2=2).copy() if covariance_type == "diag" else full
    return {"startprob": np.full(N_STATES, 1.0 / N_STATES), "transmat": transmat, "means": means, "covars": covars}


def _em(x: np.ndarray, init: dict[str, np.ndarray], *, seed: int, n_iter: int, covariance_type: str):
    """One hmmlearn EM run from the given starting parameters."""
    from hmmlearn.hmm import GaussianHMM

    hmm = GaussianHMM(n_components=N_STATES, covariance_type=covariance_type, n_iter=n_iter,
                      random_state=int(seed), tol=1e-3, min_covar=1e-3, init_params="", params="stmc")
    hmm.startprob_ = init["startprob"]
    hmm.transmat_ = init["transmat"]
    hmm.means_ = init["means"]
    hmm.covars_ = init["covars"]
    hmm.fit(x)
    return hmm


def random_params(x: np.ndarray, covariance_type: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """EM starting point: three random rows as means, the pooled covariance for every state."""
    d = x.shape[1]
    means = x[rng.choice(len(x), N_STATES, replace=False)].copy()
    full = np.repeat((np.atleast_2d(np.cov(x, rowvar=False)) + 1e-3 * np.eye(d))[None], N_STATES, axis=0)
    stay = 0.98
    transmat = np.full((N_STATES, N_STATES), (1.0 - stay) / (N_STATES - 1))
    np.fill_diagonal(transmat, stay)
    covars = np.diagonal(full, axis1=1, axis2=2).copy() if covariance_type == "diag" else full
    return {"startprob": np.full(N_STATES, 1.0 / N_STATES), "transmat": transmat, "means": means, "covars": covars}


def fit_axis(axis: str, features: list[str], x: np.ndarray, score: np.ndarray, *, seed: int, n_iter: int,
             covariance_type: str, restarts: int = 4) -> AxisHMM:
    """Fit a 3-state GaussianHMM (hmmlearn EM) to standardized features x (n, d); the best of several starts.

    The first start splits the rows into terciles of `score` (a per-row ordering score, e.g. the realized-vol
    feature); the others start from random rows drawn with the seed. The start with the highest final
    log-likelihood wins. The fitted states are not yet ordered (the caller permutes them).
    """
    if len(x) < 10 * N_STATES:
        raise DataError(f"the regime model needs at least {10 * N_STATES} training bars, got {len(x)}")
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    rng = np.random.default_rng(seed)
    best = None
    best_ll = -np.inf
    for k in range(max(1, restarts)):
        init = initial_params(x, score, covariance_type, rng) if k == 0 else random_params(x, covariance_type, rng)
        hmm = _em(x, init, seed=seed, n_iter=n_iter, covariance_type=covariance_type)
        ll = float(hmm.monitor_.history[-1]) if len(hmm.monitor_.history) else -np.inf
        if best is None or ll > best_ll:
            best, best_ll = hmm, ll
    hmm = best
    covars = np.asarray(hmm.covars_)  # always (3, d, d) from hmmlearn's property
    if covariance_type == "diag":
        covars = np.diagonal(covars, axis1=1, axis2=2).copy()
    transmat = np.asarray(hmm.transmat_, dtype=float)
    rows = transmat.sum(axis=1)
    # a state EM never visited leaves a zero row: make it uniform so the recursion stays defined
    transmat[rows <= 0] = 1.0 / N_STATES
    transmat = transmat / transmat.sum(axis=1, keepdims=True)
    start = np.asarray(hmm.startprob_, dtype=float)
    start = start / start.sum() if start.sum() > 0 else np.full(N_STATES, 1.0 / N_STATES)
    mon = hmm.monitor_
    ll = float(mon.history[-1]) if len(mon.history) else float("nan")
    return AxisHMM(axis=axis, features=list(features), covariance_type=covariance_type, startprob=start,
                   transmat=transmat, means=np.asarray(hmm.means_, dtype=float), covars=covars,
                   log_likelihood=ll, converged=bool(mon.converged), iterations=int(mon.iter))
