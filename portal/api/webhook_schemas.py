"""The shapes of /webhooks (the endpoints that receive events) and of the events
themselves, as the document's `webhooks` section describes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, create_model

from ..services.integrations.endpoints import DESCRIPTION_MAX
from ..services.integrations.payloads import EVENT_TYPES
from ..services.replenishment.settings import URL_MAX
from .schemas import Strict, Text

EventType = Literal[tuple(EVENT_TYPES)]
Events = Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES),
                                          description="The event types the endpoint receives.")]


class WebhookCreate(Strict):
    """A receiver for events: an http(s) URL (not an inside address unless this server
    allows its network in REPLENISH_ALLOWED_NETWORKS) and the events it wants."""

    url: Text(min_length=1, max_length=URL_MAX)
    events: Events
    description: Text(max_length=DESCRIPTION_MAX) = ""


class WebhookPatch(Strict):
    """Change the events, or pause (`true`) or resume (`false`) deliveries; resuming
    sends the waiting events at once, oldest first."""

    events: Events | None = None
    paused: bool | None = None


class Webhook(BaseModel):
    id: int
    url: str
    events: list[EventType]
    description: str
    created_at: datetime
    paused: bool
    paused_at: datetime | None
    failures: int = Field(description="Failed attempts in a row; reset by a delivered event.")
    last_error: str | None


class WebhookCreated(Webhook):
    secret: str = Field(description="The Standard Webhooks signing secret (`whsec_…`). Shown "
                                    "only in this answer: keep it.")


class WebhookList(BaseModel):
    webhooks: list[Webhook]


class WebhookDeleted(BaseModel):
    id: int
    deleted: Literal[True]


def _envelope(event_type: str, data: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Event"
    return create_model(
        name, __doc__=data.__doc__,
        id=(int, Field(description="The event's id, the same in every attempt and for every endpoint.")),
        type=(Literal[event_type], ...),
        timestamp=(datetime, Field(description="When the change happened.")),
        data=(data, ...))


# The document's `webhooks`: the body each event type is POSTed with.
EVENT_BODIES: dict[str, type[BaseModel]] = {name: _envelope(name, data) for name, data in EVENT_TYPES.items()}
