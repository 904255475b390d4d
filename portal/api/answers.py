"""Model objects as the API shows them, for more than one route module (no routes here)."""

from __future__ import annotations

from ..models import Code, Redemption
from ..services.codes import effective_expiry
from ..services.links import voucher_url
from . import redemption_schemas, schemas


def voucher(code: Code) -> schemas.Voucher:
    pool = code.pool
    return schemas.Voucher(
        code=code.code, pool_id=pool.id, pool_name=pool.name, benefit=pool.benefit or "",
        status=code.status, customer_id=code.customer.external_id if code.customer else None,
        assigned_at=code.assigned_at, redeemed_at=code.redeemed_at,
        expires_at=effective_expiry(code.expires_at, pool.valid_until),
        voucher_url=voucher_url(code.id) if code.customer_id else None,
    )


def redemption(done: Redemption) -> redemption_schemas.Redemption:
    code = done.code
    return redemption_schemas.Redemption(
        id=done.id, code=code.code, pool_id=code.pool_id,
        customer_id=code.customer.external_id if code.customer else None,
        store=done.store.code if done.store else None, order_ref=done.order_ref,
        redeemed_at=done.redeemed_at,
    )
