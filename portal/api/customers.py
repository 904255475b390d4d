"""A customer as integrations see them: contact details and consent with its history."""

from __future__ import annotations

from flask import g

from ..models import ConsentSource, Customer
from ..services import consent, customers
from . import schemas
from .spec import operation, refused

UNKNOWN = {404: refused("No such customer.", "unknown_customer")}


def _customer(customer: Customer) -> schemas.CustomerOut:
    return schemas.CustomerOut(
        customer_id=customer.external_id, email=customer.email, phone=customer.phone,
        first_name=customer.first_name, last_name=customer.last_name,
        consent=[schemas.ConsentState(channel=s.channel, consent=s.consent, withdrawn_at=s.withdrawn_at)
                 for s in consent.states(customer)],
        consent_history=[schemas.ConsentChange(channel=c.channel, consent=c.consent, before=c.before,
                                               source=c.source, detail=c.detail, at=c.at)
                         for c in consent.history(customer.id)])


@operation("GET", "/customers/<customer_id>", summary="A customer, with their consent and its history",
           responses={200: schemas.CustomerOut}, errors=UNKNOWN)
def get_customer(customer_id: str):
    return _customer(customers.find(customer_id)), 200


@operation("POST", "/customers/<customer_id>/consent", summary="Record a customer's consent choice",
           body=schemas.ConsentIn, responses={200: schemas.CustomerOut}, errors=UNKNOWN)
def set_consent(customer_id: str, body: schemas.ConsentIn):
    """An explicit choice, recorded with source `api`: `true` also subscribes again a
    customer who had unsubscribed, so send it only when they agreed again."""
    customer = customers.find(customer_id)
    change = consent.give if body.consent else consent.withdraw
    change([customer.id], body.channel, ConsentSource.API, f"API key {g.actor.api_key_id}")
    return _customer(customers.find(customer_id)), 200
