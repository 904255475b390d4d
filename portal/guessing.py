"""How many unknown codes a caller may ask about: one allowance per caller (a signed-in
user, an API key) and one per client address, shared by every surface that tells whether
a code exists — the till's check and redeem, stage 5's check, the API's validate and
redeem — so that guessing through one of them is guessing through all of them.

Below the allowance, known codes answer as usual and cost nothing: a till that mistyped a
few times keeps working. Once a caller or an address has used it up, every lookup on those
surfaces waits until the window passes, known codes too: answering known codes then (and
refusing only the others) would tell a guesser which of their guesses exist.

Each lookup takes one answer from the allowance before the code is looked up and gives it
back unless the answer was "unknown code". Taking first, with the storage's atomic
increment, means concurrent guesses cannot all pass one check before any of them counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, request
from limits import RateLimitItem, parse_many
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from .extensions import limiter
from .services.errors import DomainError
from .services.redemption_batch import RATE_LIMITED

UNKNOWN = "unknown_code"
# One namespace for every surface (not one scope per endpoint, as route limits have).
NAMESPACE = "unknown-code"
ADDRESS_LIMIT = "RATE_LIMIT_UNKNOWN_CODE"


@dataclass(frozen=True)
class Caller:
    """Who is asking: the bucket their unknown codes go to, and the setting that sizes it."""

    bucket: str
    setting: str


def user(user_id: int) -> Caller:
    """A signed-in user: a cashier at the till, or anyone checking a code in stage 5."""
    return Caller(f"user:{user_id}", "RATE_LIMIT_TILL_UNKNOWN")


def api_key(identity: str) -> Caller:
    """An API key, by the identity the key's other limits use."""
    return Caller(identity, "RATE_LIMIT_UNKNOWN_CODE")


@dataclass
class Answer:
    """What the guarded lookup answered: set `reason` to the verdict's reason."""

    reason: str | None = None


Bucket = tuple[RateLimitItem, str]


@contextmanager
def lookup(caller: Caller) -> Iterator[Answer]:
    """Guard one code lookup: 429 (with Retry-After) when the caller or its address has no
    unknown answers left; otherwise the answer counts only if it was "unknown code" (a
    refusal raised with that reason counts too)."""
    answer = Answer()
    if not current_app.config["RATELIMIT_ENABLED"]:
        yield answer
        return
    counter = FixedWindowRateLimiter(limiter.storage)
    buckets = _buckets(caller)
    taken: list[Bucket] = []
    for bucket in buckets:
        taken.append(bucket)
        if not counter.hit(bucket[0], NAMESPACE, bucket[1]):
            _give_back(counter, taken)
            raise _refusal(counter, buckets)
    try:
        yield answer
    except DomainError as exc:
        answer.reason = exc.reason
        raise
    finally:
        if answer.reason != UNKNOWN:
            _give_back(counter, taken)


@contextmanager
def lookup_in_batch(caller: Caller) -> Iterator[Answer]:
    """lookup() for one item of a batch: once the allowance is used up, the item is
    refused (`rate_limited`, not looked up) and the batch still answers the others."""
    try:
        with lookup(caller) as answer:
            yield answer
    except TooManyRequests as exc:
        raise DomainError(f"Not looked up: {exc.description}. Try again later.",
                          reason=RATE_LIMITED) from exc


def _buckets(caller: Caller) -> list[Bucket]:
    config = current_app.config
    address = "address:" + (request.remote_addr or "unknown")
    return ([(item, caller.bucket) for item in parse_many(config[caller.setting])]
            + [(item, address) for item in parse_many(config[ADDRESS_LIMIT])])


def _give_back(counter: FixedWindowRateLimiter, taken: list[Bucket]) -> None:
    # A give-back that lands after its window ended leaves the next window one answer
    # richer; that is the whole cost of taking before looking.
    for item, who in taken:
        counter.storage.incr(item.key_for(NAMESPACE, who), item.get_expiry(), amount=-1)


def _refusal(counter: FixedWindowRateLimiter, buckets: list[Bucket]) -> TooManyRequests:
    full = [(item, who) for item, who in buckets if not counter.test(item, NAMESPACE, who)]
    now = time.time()
    wait = max((counter.get_window_stats(item, NAMESPACE, who).reset_time - now
                for item, who in full), default=1)
    item = full[0][0] if full else buckets[0][0]
    window = item.GRANULARITY.name
    if item.multiples != 1:
        window = f"{item.multiples} {window}s"
    return TooManyRequests(f"{item.amount} unknown codes per {window}",
                           retry_after=max(1, math.ceil(wait)))
