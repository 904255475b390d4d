"""The five stages of a campaign's set-up, and how far a pool has come.

The one definition of each stage's "done": the dashboard, the pool's page and the
wizard's stepper all read it from `progress_for`, never count ticks themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import case, false, select

from ..extensions import db
from ..models import Audience, ChannelSetting, Code, Pool, utcnow
from ..services.assignment import givable
from ..services.pools import Counts

STAGES = (
    ("pool", "Pool", "pools.edit_pool"),
    ("codes", "Codes", "pools.codes"),
    ("customers", "Customers", "pools.customers"),
    ("channels", "Channels", "pools.channels_stage"),
    ("redemption", "Redemption", "pools.redemption_stage"),
)


@dataclass(frozen=True)
class Progress:
    done: frozenset[str]

    @property
    def complete(self) -> bool:
        return len(self.done) == len(STAGES)

    @property
    def next(self) -> tuple[int, str]:
        """(1-based number, label) of the first stage not done yet, or the last."""
        for number, (key, label, _endpoint) in enumerate(STAGES, start=1):
            if key not in self.done:
                return number, label
        return len(STAGES), STAGES[-1][1]

    @property
    def summary(self) -> str:
        """How the pages say it: the stage to work on next, or that the set-up is complete."""
        if self.complete:
            return "complete"
        number, label = self.next
        return f"stage {number} of {len(STAGES)}: {label}"


@dataclass(frozen=True)
class _Facts:
    """What the counters do not tell about a pool's set-up."""

    channel: bool = False  # a distribution channel is switched on
    waiting_served: bool = False  # customers wait for the send, and a code is left to give


def _facts(pool_ids: list[int]) -> dict[int, _Facts]:
    """The facts of every pool, in one query whatever the number of pools."""
    if not pool_ids:
        return {}
    channel = select(ChannelSetting.pool_id).where(
        ChannelSetting.pool_id == Pool.id, ChannelSetting.enabled).exists()
    audience = select(Audience.pool_id).where(Audience.pool_id == Pool.id).exists()
    # The same codes the send would give them (not merely counted as available: a code
    # past its own expiry is, but nobody can be given it).
    code_left = select(Code.id).where(Code.pool_id == Pool.id, givable(utcnow())).exists()
    rows = db.session.execute(
        select(Pool.id, channel, case((audience, code_left), else_=false()))
        .where(Pool.id.in_(pool_ids)))
    return {pool_id: _Facts(bool(has_channel), bool(served)) for pool_id, has_channel, served in rows}


def progress_for(pools: Sequence[Pool], counts: Mapping[int, Counts]) -> dict[int, Progress]:
    """Which stages of each pool's set-up are done, derived from its state, never stored.

    1. Pool: it is saved.
    2. Codes: it has codes (imported or generated; any status).
    3. Customers: customers are in the campaign and hold codes or will get them with the
       send: some customer holds (or redeemed) one of its codes, or customers were added
       to be served with the send and the pool has a code the send could give them
       (available and not past its own expiry). A list where every line failed, say one
       uploaded to a pool without codes, adds its customers but leaves this stage open
       until there are codes for them.
    4. Channels: a channel (email, SMS, voucher page or export) is switched on.
    5. Redemption: a code was redeemed, or the marketer saved the stage's redemption rules.
    """
    facts = _facts([pool.id for pool in pools])
    out = {}
    for pool in pools:
        count, fact = counts.get(pool.id, Counts()), facts.get(pool.id, _Facts())
        done = {"pool"}
        if count.total:
            done.add("codes")
        if count.assigned or count.redeemed or fact.waiting_served:
            done.add("customers")
        if fact.channel:
            done.add("channels")
        if count.redeemed or pool.redemption_reviewed_at is not None:
            done.add("redemption")
        out[pool.id] = Progress(frozenset(done))
    return out


def progress(pool: Pool, counts: Counts) -> Progress:
    """One pool's progress (see progress_for)."""
    return progress_for([pool], {pool.id: counts})[pool.id]
