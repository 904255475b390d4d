"""What the campaign report counts beyond the codes' own columns: voucher pages opened,
and the indexes its questions (and the dashboard's) need."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigId
from .campaigns import Delivery
from .codes import Redemption


class VoucherView(db.Model):
    """A customer opened a voucher's page (/v/<token>) on this day (UTC): one row per code
    per day, however often it was opened, and nothing about who opened it (no cookie)."""

    code_id: Mapped[int] = mapped_column(BigId, ForeignKey("code.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pool.id"))

    __table_args__ = (Index("ix_voucher_view_pool_code", "pool_id", "code_id"),)


# "Redemptions in the last 7 days" on the dashboard and the report's days read a range of
# redemption times; without this they would read every redemption ever made.
Index("ix_redemption_redeemed_at", Redemption.redeemed_at)
# The dashboard's "failed sends": few rows, so a partial index keeps it small and cheap.
Index("ix_delivery_failed_pool", Delivery.pool_id,
      postgresql_where=text("state = 'failed'"), sqlite_where=text("state = 'failed'"))
