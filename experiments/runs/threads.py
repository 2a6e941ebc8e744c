"""How many threads one experiment's numeric libraries use (torch, the BLAS under numpy/scipy, XGBoost).

Small models on short windows gain nothing from a second thread, and under load torch's idle worker threads
spin-wait at every small operation; so each experiment runs on one thread unless told otherwise. The limit is
set through the libraries' environment variables (read when they start) and, where torch is already loaded,
through torch itself.
"""
from __future__ import annotations

import os
import sys

THREADS_ENV = "GAUSSIAN_THREADS"
"""Threads per experiment (0: each library's own default); the optimizer passes it to its child processes."""

LIBRARY_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """The environment that makes a new process use `threads` threads per library (empty for 0: defaults)."""
    if threads < 0:
        raise ValueError(f"threads must be 0 (library defaults) or more, got {threads}")
    if threads == 0:
        return {THREADS_ENV: "0"}
    return {THREADS_ENV: str(threads), **{k: str(threads) for k in LIBRARY_VARS}}


def limit_threads(threads: int) -> None:
    """Limit this process: environment for libraries not yet started, torch's own setting if it is loaded."""
    env = thread_env(threads)
    os.environ.update(env)
    if threads == 0:
        return
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # BLAS/OpenMP pools already loaded (numpy's) follow too


def threads_from_env(default: int = 1) -> int:
    """The thread count GAUSSIAN_THREADS asks for (`default` when unset)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    try:
        n = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{THREADS_ENV}={raw!r} is not a whole number of threads") from None
    if n < 0:
        raise ValueError(f"{THREADS_ENV}={raw!r} must be 0 (library defaults) or more")
    return n
