"""One-click unsubscribe (RFC 8058) and the SMS provider's inbound messages (STOP)."""

from __future__ import annotations

import hmac

from flask import abort, current_app, render_template, request

from ..api.errors import ApiError
from ..extensions import db
from ..models import ConsentSource, Customer, Transport
from ..services import consent
from ..services.customers import e164
from ..services.errors import InvalidInput
from ..services.links import UNSUBSCRIBE, read_token
from ..voucher.assets import brand_look
from .blueprint import bp

# The unsubscribe page is one of the customer's pages: it wears the shop's brand too.
bp.context_processor(brand_look)

PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _customer(token: str) -> Customer:
    customer_pk = read_token(UNSUBSCRIBE, token)
    customer = db.session.get(Customer, customer_pk) if customer_pk is not None else None
    if customer is None:
        abort(404)
    return customer


@bp.get("/u/<token>")
def unsubscribe_page(token: str):
    """The link in an email's footer: a page with a button. A GET alone never
    unsubscribes, because mail scanners open every link."""
    customer = _customer(token)
    return render_template("optout/unsubscribe.html", customer=customer, done=False), 200, PRIVATE


@bp.post("/u/<token>")
def unsubscribe(token: str):
    """Withdraw the customer's email consent: the page's button, or the mailbox
    provider's one-click POST (no cookies, no CSRF token). Asking again is harmless."""
    customer = _customer(token)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    consent.withdraw([customer.id], Transport.EMAIL, ConsentSource.UNSUBSCRIBE,
                     "one-click" if one_click else "unsubscribe page")
    return render_template("optout/unsubscribe.html", customer=customer, done=True), 200, PRIVATE


def _field(data: dict, path: str) -> str:
    """A value of the provider's message by its name (SMS_INBOUND_FIELDS), `a.b` for nested."""
    value: object = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


@bp.post("/hooks/sms/inbound")
def sms_inbound():
    """A customer's answer to an SMS, as the provider forwards it: STOP (and its usual
    synonyms) withdraws SMS consent for the sender's number; other words are ignored."""
    expected = current_app.config.get("SMS_INBOUND_TOKEN") or ""
    if not expected:
        abort(404)
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "Send the SMS_INBOUND_TOKEN as a bearer token.",
                       headers={"WWW-Authenticate": 'Bearer realm="sms-inbound"'})
    names = current_app.config.get("SMS_INBOUND_FIELDS") or {}
    data = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object or a form.",
                       fields=[{"field": "(body)", "message": "not a JSON object or a form"}])
    sender = _field(data, names.get("from", "from")).strip()
    text = _field(data, names.get("text", "text"))
    if not sender:
        raise ApiError(400, "invalid_request", "The message has no sender.",
                       fields=[{"field": names.get("from", "from"), "message": "missing"}])
    try:
        # Some providers drop the + of an international number.
        phone = e164(f"+{sender}" if sender.isdigit() and not sender.startswith("0") else sender,
                     current_app.config.get("DEFAULT_PHONE_REGION") or None)
    except InvalidInput as exc:
        raise ApiError(400, "invalid_phone", exc.message,
                       fields=[{"field": names.get("from", "from"), "message": exc.message}]) from exc
    if not consent.is_stop(text):
        return {"stop": False, "withdrawn": 0}, 200
    withdrawn = consent.withdraw(consent.customers_with_phone(phone), Transport.SMS,
                                 ConsentSource.SMS_STOP, f"STOP from {phone}")
    return {"stop": True, "withdrawn": withdrawn}, 200
