"""A customer as integrations see them: contact details, consent with its history, and
their vouchers. Each operation has two forms: the id in the path
(`/customers/{customer_id}/…`), and the id in the query (`/customer/…?customer_id=…`),
which reads any id the API accepts — one with `/`, or `.` and `..`, cannot travel in a
path, because the path is decoded and normalised before it is routed."""

from __future__ import annotations

from flask import g, request

from ..models import ConsentSource, Customer
from ..services import assignment, consent, customers
from ..services.links import customer_url
from ..services.text import TEXT_PATTERN
from . import answers, schemas
from .errors import ApiError
from .spec import operation, refused

UNKNOWN = {404: refused("No such customer.", "unknown_customer")}
ID_MAX = 200
CUSTOMER_ID = {
    "name": "customer_id", "in": "query", "required": True,
    "description": "The customer's id, any the API accepts (percent-encoded as a query value).",
    "schema": {"type": "string", "minLength": 1, "maxLength": ID_MAX, "pattern": TEXT_PATTERN},
}


def _queried() -> str:
    """The `customer_id` query parameter, or a 400 naming it."""
    customer_id = request.args.get("customer_id", "")
    if not 0 < len(customer_id) <= ID_MAX:
        raise ApiError(400, "invalid_request",
                       f"Name the customer in `?customer_id=` (1–{ID_MAX} characters).",
                       fields=[{"field": "customer_id", "message": f"1–{ID_MAX} characters"}])
    return customer_id


def _customer(customer: Customer) -> schemas.CustomerOut:
    return schemas.CustomerOut(
        customer_id=customer.external_id, email=customer.email, phone=customer.phone,
        first_name=customer.first_name, last_name=customer.last_name,
        consent=[schemas.ConsentState(channel=s.channel, consent=s.consent, withdrawn_at=s.withdrawn_at)
                 for s in consent.states(customer)],
        consent_history=[schemas.ConsentChange(channel=c.channel, consent=c.consent, before=c.before,
                                               source=c.source, detail=c.detail, at=c.at)
                         for c in consent.history(customer.id)])


def _vouchers(customer_id: str) -> schemas.CustomerVouchers:
    customer = customers.find(customer_id)
    held = assignment.holdings(customer.id)
    return schemas.CustomerVouchers(customer_id=customer.external_id, wallet_url=customer_url(customer.id),
                                    vouchers=[answers.voucher(code) for code in held])


def _set_consent(customer_id: str, body: schemas.ConsentIn) -> schemas.CustomerOut:
    """An explicit choice, recorded with source `api`: `true` also subscribes again a
    customer who had unsubscribed, so send it only when they agreed again."""
    customer = customers.find(customer_id)
    change = consent.give if body.consent else consent.withdraw
    change([customer.id], body.channel, ConsentSource.API, f"API key {g.actor.api_key_id}")
    return _customer(customers.find(customer_id))


@operation("GET", "/customers/<customer_id>", summary="A customer, with their consent and its history",
           responses={200: schemas.CustomerOut}, errors=UNKNOWN)
def get_customer(customer_id: str):
    """The customer, their consent per channel and its last changes."""
    return _customer(customers.find(customer_id)), 200


@operation("GET", "/customer", summary="A customer named in the query, with their consent and its history",
           responses={200: schemas.CustomerOut}, errors=UNKNOWN, parameters=[CUSTOMER_ID])
def get_customer_by_query():
    """The customer named by `?customer_id=`, any id the API accepts."""
    return _customer(customers.find(_queried())), 200


@operation("POST", "/customers/<customer_id>/consent", summary="Record a customer's consent choice",
           body=schemas.ConsentIn, responses={200: schemas.CustomerOut}, errors=UNKNOWN)
def set_consent(customer_id: str, body: schemas.ConsentIn):
    """Record an explicit consent choice (see _set_consent)."""
    return _set_consent(customer_id, body), 200


@operation("POST", "/customer/consent", summary="Record the consent choice of a customer named in the query",
           body=schemas.ConsentIn, responses={200: schemas.CustomerOut}, errors=UNKNOWN,
           parameters=[CUSTOMER_ID])
def set_consent_by_query(body: schemas.ConsentIn):
    """Record an explicit consent choice (see _set_consent)."""
    return _set_consent(_queried(), body), 200


@operation("GET", "/customers/<customer_id>/vouchers", summary="A customer's vouchers",
           scope="pos", responses={200: schemas.CustomerVouchers}, errors=UNKNOWN)
def customer_vouchers(customer_id: str):
    """The customer's vouchers with their links, and the page of all of them."""
    return _vouchers(customer_id), 200


@operation("GET", "/customer/vouchers", summary="The vouchers of a customer named in the query",
           scope="pos", responses={200: schemas.CustomerVouchers}, errors=UNKNOWN, parameters=[CUSTOMER_ID])
def customer_vouchers_by_query():
    """The vouchers of the customer named by `?customer_id=`."""
    return _vouchers(_queried()), 200
