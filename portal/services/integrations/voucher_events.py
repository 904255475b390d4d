"""The events of a code's changes, each written by the service that makes the change, in
its transaction (one call per change: the payload is built here, and only when an
endpoint wants it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import Code, Customer, Store
from . import payloads
from .outbox import emit, endpoints_wanting


def _customer(session: Session, code: Code) -> str | None:
    if code.customer_id is None:
        return None
    return session.scalar(select(Customer.external_id).where(Customer.id == code.customer_id))


def wanted(session: Session, event_type: str) -> bool:
    """Whether any endpoint wants events of this type: a bulk change builds none otherwise."""
    return bool(endpoints_wanting(session, event_type))


def assigned(session: Session, *, code: str, pool_id: int, customer_id: str, assigned_at: datetime,
             expires_at: datetime | None) -> None:
    emit(session, "voucher.assigned", lambda: payloads.VoucherAssigned(
        code=code, pool_id=pool_id, customer_id=customer_id, assigned_at=assigned_at,
        expires_at=expires_at))


def redeemed(session: Session, code: Code, redemption_id: int, values: dict) -> None:
    def build() -> payloads.VoucherRedeemed:
        store_id = values["store_id"]
        store = session.scalar(select(Store.code).where(Store.id == store_id)) if store_id else None
        return payloads.VoucherRedeemed(
            code=code.code, pool_id=code.pool_id, customer_id=_customer(session, code),
            redemption_id=redemption_id, store=store, order_ref=values["order_ref"],
            redeemed_at=values["redeemed_at"])

    emit(session, "voucher.redeemed", build)


def rolled_back(session: Session, code: Code, redemption_id: int, reason: str, at: datetime) -> None:
    emit(session, "voucher.redemption_rolled_back", lambda: payloads.VoucherRedemptionRolledBack(
        code=code.code, pool_id=code.pool_id, customer_id=_customer(session, code),
        redemption_id=redemption_id, reason=reason, rolled_back_at=at))


def canceled(session: Session, code: Code, reason: str, at: datetime) -> None:
    emit(session, "voucher.canceled", lambda: payloads.VoucherCanceled(
        code=code.code, pool_id=code.pool_id, customer_id=_customer(session, code), reason=reason,
        canceled_at=at))
