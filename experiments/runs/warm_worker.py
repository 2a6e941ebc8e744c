"""The warm start on a Dask worker: a worker plugin that starts the worker's fork server when the worker starts.

Every worker process that joins the scheduler (including one the nanny restarts after a crash) gets the plugin,
so its fork server (experiments.runs.warm) is importing the heavy libraries before the first experiment arrives,
once per worker, not once per task. A daemonic worker (Dask's default) may not have one: its experiments start
cold, and the coordinator says how to turn that off. The fork server exits with its worker (its last child gone),
and each experiment forked from it watches the worker, not the server, so a killed worker leaves nothing behind.
"""
from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from experiments.runs import warm

log = logging.getLogger("gaussian.worker")


class WarmStart(WorkerPlugin):
    """Start the worker's fork server at worker start-up (where the worker may have children)."""

    name = "gaussian-warm-start"
    idempotent = True

    def setup(self, worker: Any) -> None:
        """Called once in each worker, at registration or when it joins."""
        try:
            if not warm.prestart():
                log.warning("worker %s is a daemonic process: experiments start cold (set "
                            "DASK_DISTRIBUTED__WORKER__DAEMON=False where it is started)", worker.address)
        except (OSError, ValueError) as exc:  # the first experiment tries again, or runs cold
            log.warning("worker %s: cannot start the warm fork server: %s", worker.address, exc)
