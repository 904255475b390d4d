"""gunicorn reads this file from the folder it starts in: start-up checks, and a clean
folder for the Prometheus counts that the workers share."""

import os
from pathlib import Path

from portal.config import unshared_limits_warning


def on_starting(server) -> None:  # noqa: ANN001
    """Start each run's shared Prometheus counts from zero: prometheus_client's
    multiprocess mode wants PROMETHEUS_MULTIPROC_DIR emptied of a previous run's files
    (a restart is a counter reset, which Prometheus expects)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def when_ready(server) -> None:  # noqa: ANN001
    """Say loudly, once, when the workers would each keep their own rate limits."""
    warning = unshared_limits_warning(server.cfg.workers)
    if warning:
        server.log.warning(warning)
