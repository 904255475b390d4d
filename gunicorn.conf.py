"""gunicorn reads this file from the folder it starts in; it only adds a start-up check."""

from portal.config import unshared_limits_warning


def when_ready(server) -> None:  # noqa: ANN001
    """Say loudly, once, when the workers would each keep their own rate limits."""
    warning = unshared_limits_warning(server.cfg.workers)
    if warning:
        server.log.warning(warning)
