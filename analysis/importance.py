"""Permutation importance of groups of input columns (a feature family is one group).

For each group, the group's columns are shuffled together across the given rows (the rows move as a block,
so the columns of one family keep their joint distribution and lose only their alignment with the target),
the model is scored again, and the importance is the score lost: ``base score - mean permuted score`` over
`repeats` shuffles (positive = the family helped; about 0 = the model does not use it; negative = it hurt).
Scores are "higher is better" (e.g. minus a Brier score, an AUC).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np


def permutation_importance(score: Callable[[np.ndarray], float], X: np.ndarray,
                           groups: Mapping[str, Sequence[int]], rows: np.ndarray | None = None,
                           repeats: int = 3, seed: int = 0) -> dict[str, object]:
    """Base score and, per group, the mean and spread of the score lost when its columns are shuffled."""
    X = np.asarray(X, dtype=float)
    rows = np.arange(len(X)) if rows is None else np.asarray(rows, dtype=np.int64)
    base = float(score(X))
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {"base_score": round(base, 6), "repeats": int(repeats), "groups": {}}
    for name, cols in groups.items():
        cols = list(cols)
        if not cols or len(rows) < 2:
            continue
        losses = []
        for _ in range(max(1, repeats)):
            shuffled = X.copy()
            perm = rows[rng.permutation(len(rows))]
            shuffled[np.ix_(rows, cols)] = X[np.ix_(perm, cols)]
            losses.append(base - float(score(shuffled)))
        out["groups"][name] = {"importance": round(float(np.mean(losses)), 6),  # type: ignore[index]
                               "std": round(float(np.std(losses)), 6), "columns": len(cols)}
    return out


def ranked(result: Mapping[str, object]) -> list[tuple[str, float]]:
    """The groups of a `permutation_importance` result, most important first."""
    groups: Mapping[str, Mapping[str, float]] = result.get("groups") or {}  # type: ignore[assignment]
    return sorted(((k, float(v["importance"])) for k, v in groups.items()), key=lambda kv: -kv[1])
