"""A campaign's report: its funnel, redemptions per day and by store, the time from
sending to redemption, and the voucher page views it counts (once per code per day).

Every number is counted in the database (grouped there, never row by row in Python),
from the pool's counters where they say it, so the report stays quick on a big pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import Code, CodeStatus, Delivery, DeliveryState, Store, Transport, VoucherView, utcnow
from . import pools, redemption
from .tx import is_postgresql, write_transaction

# The days the report's chart and CSV cover (stage 5 shows the last 14).
REPORT_DAYS = 30
NO_STORE = "No store (online or API)"
TRANSPORT_WORDS = {Transport.EMAIL.value: "email", Transport.SMS.value: "SMS",
                   Transport.WEBHOOK.value: "webhook"}


@dataclass(frozen=True)
class Step:
    """One step of the funnel: how many reached it, and what share of its base that is
    (codes given out are a share of all codes; every later step, of the codes given out,
    so the redeemed share is the redemption rate the dashboard shows)."""

    key: str
    label: str
    count: int
    share: float | None  # 0..1; None for the first step, or when the base is 0
    base: str = ""  # what the share is of, in words
    detail: tuple[tuple[str, int], ...] = ()  # sent: (channel, customers) for each channel used


@dataclass(frozen=True)
class Report:
    pool_id: int
    steps: tuple[Step, ...]
    per_day: tuple[tuple[date, int], ...]
    by_store: tuple[tuple[str, int], ...]
    median_to_redeem: timedelta | None  # from a customer's first message to redemption
    timed_redemptions: int  # how many redemptions the median is taken over
    days: int = REPORT_DAYS

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)

    @property
    def redeemed_in_days(self) -> int:
        return sum(n for _, n in self.per_day)


def _share(count: int, before: int) -> float | None:
    return count / before if before else None


def campaign_report(pool_id: int, days: int = REPORT_DAYS) -> Report:
    """The pool's whole report, in a fixed number of queries."""
    pools.get_pool(pool_id)  # NotFound for an unknown pool
    counts = pools.counts(pool_id)
    given = counts.assigned + counts.redeemed
    by_channel = sent_by_channel(pool_id)
    sent = sent_customers(pool_id)
    opened = opened_codes(pool_id)
    steps = (
        Step("codes", "Imported or generated", counts.total, None),
        Step("given", "Given out", given, _share(given, counts.total), "of all codes"),
        Step("sent", "Sent", sent, _share(sent, given), "of codes given out", tuple(by_channel.items())),
        Step("opened", "Voucher page opened", opened, _share(opened, given), "of codes given out"),
        Step("redeemed", "Redeemed", counts.redeemed, _share(counts.redeemed, given), "of codes given out"),
    )
    median, timed = median_to_redeem(pool_id)
    return Report(pool_id, steps, per_day(pool_id, days), by_store(pool_id), median, timed, days)


def per_day(pool_id: int, days: int) -> tuple[tuple[date, int], ...]:
    """Redemptions per day over the last `days` days, oldest first (the one count the
    wizard's stage 5 shows too)."""
    return tuple((date.fromisoformat(day), n) for day, n in redemption.per_day(pool_id, days))


def sent_by_channel(pool_id: int) -> dict[str, int]:
    """Customers sent the campaign's message, by transport (only those used)."""
    rows = db.session.execute(
        select(Delivery.channel, func.count())
        .where(Delivery.pool_id == pool_id, Delivery.state == DeliveryState.SENT.value)
        .group_by(Delivery.channel))
    found = dict(rows.all())
    return {TRANSPORT_WORDS.get(name, name): int(found[name]) for name in Transport if found.get(name)}


def sent_customers(pool_id: int) -> int:
    """Customers sent the message on at least one channel."""
    return int(db.session.scalar(
        select(func.count(Delivery.customer_id.distinct()))
        .where(Delivery.pool_id == pool_id, Delivery.state == DeliveryState.SENT.value)) or 0)


def opened_codes(pool_id: int) -> int:
    """Codes whose voucher page was opened at least once."""
    return int(db.session.scalar(
        select(func.count(VoucherView.code_id.distinct())).where(VoucherView.pool_id == pool_id)) or 0)


def by_store(pool_id: int) -> tuple[tuple[str, int], ...]:
    """Redeemed codes by the store that took them, most first; online and API
    redemptions without a store under one name."""
    rows = db.session.execute(
        select(Store.name, func.count()).select_from(Code)
        .outerjoin(Store, Store.id == Code.redeemed_store_id)
        .where(Code.pool_id == pool_id, Code.status == CodeStatus.REDEEMED.value)
        .group_by(Store.id, Store.name).order_by(func.count().desc(), Store.name))
    return tuple((name or NO_STORE, int(n)) for name, n in rows)


def _seconds_between(later: ColumnElement, earlier: ColumnElement) -> ColumnElement:
    if is_postgresql():
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * literal(86400.0)


def median_to_redeem(pool_id: int) -> tuple[timedelta | None, int]:
    """(median, count) of the time from the first message a customer was sent to the
    redemption of their code, over the pool's redeemed codes that were sent."""
    first_sent = (select(Delivery.customer_id, func.min(Delivery.sent_at).label("sent_at"))
                  .where(Delivery.pool_id == pool_id, Delivery.state == DeliveryState.SENT.value,
                         Delivery.sent_at.is_not(None))
                  .group_by(Delivery.customer_id).subquery())
    seconds = _seconds_between(Code.redeemed_at, first_sent.c.sent_at).label("seconds")
    timed = (select(seconds).select_from(Code)
             .join(first_sent, first_sent.c.customer_id == Code.customer_id)
             .where(Code.pool_id == pool_id, Code.status == CodeStatus.REDEEMED.value,
                    Code.redeemed_at >= first_sent.c.sent_at).subquery())
    count = int(db.session.scalar(select(func.count()).select_from(timed)) or 0)
    if not count:
        return None, 0
    # The middle one (or the two middle ones): the same query on SQLite and PostgreSQL.
    middle = db.session.scalars(select(timed.c.seconds).order_by(timed.c.seconds)
                                .offset((count - 1) // 2).limit(2 - count % 2)).all()
    return timedelta(seconds=round(sum(float(s) for s in middle) / len(middle))), count


def record_view(code_id: int, pool_id: int, day: date | None = None) -> bool:
    """Count a voucher page view: once per code per day, whoever opens it and however
    often (no cookie). Returns whether this was the day's first."""
    day = day or utcnow().date()
    seen = db.session.scalar(select(literal(1)).where(VoucherView.code_id == code_id,
                                                      VoucherView.day == day))
    if seen:
        return False  # the common case, a page opened again, writes nothing
    with write_transaction() as session:
        dialect = postgresql if is_postgresql() else sqlite
        # Two first views at once: the primary key keeps one, the other is ignored.
        added = session.execute(dialect.insert(VoucherView.__table__)
                                .values(code_id=code_id, day=day, pool_id=pool_id)
                                .on_conflict_do_nothing()).rowcount
    return bool(added)


def csv_rows(report: Report) -> list[list]:
    """The report as spreadsheet rows: section, item, value, share (funnel steps)."""
    rows: list[list] = []
    for step in report.steps:
        share = f"{step.share:.1%} {step.base}" if step.share is not None else ""
        rows.append(["funnel", step.label, step.count, share])
        rows.extend(["sent by channel", channel, n, ""] for channel, n in step.detail)
    rows.extend(["redemptions per day", day.isoformat(), n, ""] for day, n in report.per_day)
    rows.extend(["redemptions by store", name, n, ""] for name, n in report.by_store)
    median = report.median_to_redeem
    rows.append(["time to redeem", "median seconds from sending to redemption",
                 int(median.total_seconds()) if median is not None else "", ""])
    rows.append(["time to redeem", "redemptions timed", report.timed_redemptions, ""])
    return rows


CSV_HEADER = ["section", "item", "value", "share"]
