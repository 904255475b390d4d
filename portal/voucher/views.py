"""A customer's voucher, and all of a customer's vouchers, by signed link."""

from __future__ import annotations

from flask import abort, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Code, Customer
from ..services import assignment, barcodes, report
from ..services.links import CUSTOMER, VOUCHER, make_token, read_token, voucher_url
from ..services.redemption import verdict_for
from .blueprint import bp


def _code(code_id: int) -> Code | None:
    return db.session.scalar(
        select(Code).options(joinedload(Code.pool), joinedload(Code.redeemed_store))
        .where(Code.id == code_id)
    )


@bp.get("/<token>")
def show(token: str):
    """One voucher: benefit, code, barcode, dates, terms and status, and a link to all the
    customer's vouchers. A wrong token is 404.

    A canceled voucher answers 410 and no longer shows its code. An opening counts in the
    pool's report once per code per day.
    """
    code_id = read_token(VOUCHER, token)
    code = _code(code_id) if code_id is not None else None
    if code is None or code.customer_id is None:
        abort(404)
    picture = barcodes.picture(code.code, code.pool.barcode_format)
    status = 410 if code.status == "canceled" else 200
    if status == 200:
        report.record_view(code.id, code.pool_id)  # the report's "voucher page opened"
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    wallet_link = url_for("voucher.wallet", token=make_token(CUSTOMER, code.customer_id))
    return render_template("voucher/show.html", code=code, verdict=verdict_for(code),
                           picture=picture, wallet_link=wallet_link), status, headers


@bp.get("/c/<token>")
def wallet(token: str):
    """All of a customer's vouchers on one page."""
    customer_pk = read_token(CUSTOMER, token)
    customer = db.session.get(Customer, customer_pk) if customer_pk is not None else None
    if customer is None:
        abort(404)
    held = [code for code in assignment.holdings(customer.id) if code.status != "canceled"]
    vouchers = [(code, verdict_for(code), voucher_url(code.id)) for code in held]
    return render_template("voucher/wallet.html", customer=customer, vouchers=vouchers), 200, {
        "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
