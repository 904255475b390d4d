"""The endpoints an admin registers for events: a URL, the event types it wants, and a
signing secret shown once (stored sealed, since every delivery is signed with it)."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy import update as sql_update

from ...extensions import db
from ...models import EventDelivery, EventEndpoint, utcnow
from ..errors import Conflict, InvalidInput, NotFound
from ..replenishment.settings import URL_MAX, check_url  # noqa: F401 (URL_MAX: the API's limit)
from ..secrets import seal
from ..tx import write_transaction
from ..webhooks import SECRET_PREFIX
from .delivery import due_now
from .payloads import EVENT_TYPES

DESCRIPTION_MAX = 200
MAX_ENDPOINTS = 20


@dataclass(frozen=True)
class Registered:
    """A new endpoint and its signing secret, which is shown this once."""

    endpoint: EventEndpoint
    secret: str


def _checked_events(wanted: list[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(wanted or ()))
    unknown = [name for name in chosen if name not in EVENT_TYPES]
    if unknown or not chosen:
        raise InvalidInput("Choose one or more events: " + ", ".join(EVENT_TYPES) + ".",
                           field="events")
    return [name for name in EVENT_TYPES if name in chosen]  # in the document's order


def _checked_url(url: str) -> str:
    url = (url or "").strip()
    check_url(url)  # the same rules as a partner's address: http(s), no inside address
    return url


def create(url: str, wanted: list[str], description: str = "") -> Registered:
    """Register an endpoint; its secret (a Standard Webhooks `whsec_` secret) is returned
    once and kept only sealed."""
    url = _checked_url(url)
    chosen = _checked_events(wanted)
    if len(description or "") > DESCRIPTION_MAX:
        raise InvalidInput(f"A description is at most {DESCRIPTION_MAX} characters.", field="description")
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()
    with write_transaction() as session:
        count = len(session.scalars(select(EventEndpoint.id)).all())  # a handful at most
        if count >= MAX_ENDPOINTS:
            raise Conflict(f"At most {MAX_ENDPOINTS} endpoints; delete one first.",
                           reason="too_many_webhooks")
        endpoint = EventEndpoint(url=url, events=chosen, description=(description or "").strip(),
                                 secret=seal(secret), failures=0)
        session.add(endpoint)
    return Registered(endpoint, secret)


def listing() -> list[EventEndpoint]:
    """Every endpoint, oldest first."""
    return list(db.session.scalars(select(EventEndpoint).order_by(EventEndpoint.id)))


def get(endpoint_id: int) -> EventEndpoint:
    endpoint = db.session.get(EventEndpoint, endpoint_id, populate_existing=True)
    if endpoint is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.", reason="unknown_webhook")
    return endpoint


def update(endpoint_id: int, *, wanted: list[str] | None = None, paused: bool | None = None) -> EventEndpoint:
    """Change the events an endpoint wants, or pause or resume it (resuming forgets its
    failures and makes its waiting events due now)."""
    values: dict = {}
    if wanted is not None:
        values["events"] = _checked_events(wanted)
    with write_transaction() as session:
        endpoint = session.get(EventEndpoint, endpoint_id, populate_existing=True)
        if endpoint is None:
            raise NotFound(f"There is no webhook endpoint {endpoint_id}.", reason="unknown_webhook")
        if paused is True and endpoint.paused_at is None:
            values["paused_at"] = utcnow()
        elif paused is False:
            values.update(paused_at=None, failures=0)
        if values:
            session.execute(sql_update(EventEndpoint.__table__)
                            .where(EventEndpoint.id == endpoint_id).values(**values))
        if paused is False:
            due_now(session, endpoint_id)
    return get(endpoint_id)


def resume(endpoint_id: int) -> EventEndpoint:
    """Deliver to a paused endpoint again, starting with the event it stopped at."""
    return update(endpoint_id, paused=False)


def delete(endpoint_id: int) -> None:
    """Remove the endpoint and its deliveries."""
    with write_transaction() as session:
        endpoint = session.get(EventEndpoint, endpoint_id)
        if endpoint is None:
            raise NotFound(f"There is no webhook endpoint {endpoint_id}.", reason="unknown_webhook")
        session.execute(EventDelivery.__table__.delete().where(EventDelivery.endpoint_id == endpoint_id))
        session.delete(endpoint)

