"""Keeping a send within what its provider accepts: an optional number of messages per
second on each channel, counted across every worker by the `limits` library (in Redis
with REDIS_URL, the store Flask-Limiter uses for the portal's own rate limits)."""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Mapping

from ...models import Transport

SETTING = {Transport.EMAIL: "SMTP_MAX_PER_SECOND", Transport.SMS: "SMS_MAX_PER_SECOND",
           Transport.WEBHOOK: "WEBHOOK_MAX_PER_SECOND"}
# Waits are cut into steps this long, so that a stopping worker is not held up.
STEP = 0.5


@functools.cache
def _limiter(storage_uri: str):  # noqa: ANN202
    """One limiter per store, shared by every send in this process (in memory, that is
    what makes the limit hold across a run's connections and the process's sends)."""
    from limits.storage import storage_from_string
    from limits.strategies import MovingWindowRateLimiter

    return MovingWindowRateLimiter(storage_from_string(storage_uri))


def _item(rate: float):  # noqa: ANN202
    """A whole number of messages per second, or one message every 1/rate seconds."""
    from limits import RateLimitItemPerSecond

    if rate >= 1:
        return RateLimitItemPerSecond(int(rate), 1)
    return RateLimitItemPerSecond(1, math.ceil(1 / rate))


class Pace:
    """A channel's messages-per-second limit, or no limit when none is set."""

    def __init__(self, transport: str, config: Mapping) -> None:
        rate = float(config.get(SETTING[Transport(transport)]) or 0)
        self.key = ("portal-send", str(Transport(transport).value))
        self.item = _item(rate) if rate > 0 else None
        self.limiter = _limiter(config.get("RATELIMIT_STORAGE_URI") or "memory://") if self.item else None
        self._lock = threading.Lock()

    def wait(self, should_stop: Callable[[], bool]) -> bool:
        """Wait for a slot for one message: False when `should_stop` said so first."""
        if self.limiter is None:
            return True
        while True:
            with self._lock:  # this run's connections take their turns
                if self.limiter.hit(self.item, *self.key):
                    return True
                reset = self.limiter.get_window_stats(self.item, *self.key).reset_time
            if should_stop():
                return False
            time.sleep(min(STEP, max(0.005, reset - time.time())))
