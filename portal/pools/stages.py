"""The five stages of a campaign's set-up, and how far a pool has come."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Audience

STAGES = (
    ("pool", "Pool", "pools.edit_pool"),
    ("codes", "Codes", "pools.codes"),
    ("customers", "Customers", "pools.customers"),
    ("channels", "Channels", "pools.channels_stage"),
    ("redemption", "Redemption", "pools.redemption_stage"),
)


@dataclass(frozen=True)
class Progress:
    done: set[str]

    @property
    def next(self) -> tuple[int, str]:
        """(1-based number, label) of the first stage not done yet, or the last."""
        for number, (key, label, _endpoint) in enumerate(STAGES, start=1):
            if key not in self.done:
                return number, label
        return len(STAGES), STAGES[-1][1]


def has_audience(pool_id: int) -> bool:
    """Whether customers were added to the campaign (their codes to come with the send)."""
    found = db.session.scalar(select(Audience.pool_id).where(Audience.pool_id == pool_id).limit(1))
    return found is not None


def progress(pool, counts, channel_settings=None) -> Progress:  # noqa: ANN001
    """Which stages are done: derived from the pool's own state, never stored."""
    done = {"pool"}
    if counts.total:
        done.add("codes")
    if counts.assigned or counts.redeemed or has_audience(pool.id):
        done.add("customers")  # codes given, or customers waiting for theirs with the send
    if channel_settings is None:
        from ..services import channels

        channel_settings = channels.settings(pool.id)
    if any(s.enabled for s in channel_settings.values()):
        done.add("channels")
    if counts.redeemed:
        done.add("redemption")
    return Progress(done)
