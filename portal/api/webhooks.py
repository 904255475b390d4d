"""The endpoints that receive the portal's events (`integration` scope): register one
(its secret is answered once), list, read, change, pause or resume, and delete."""

from __future__ import annotations

from ..models import EventEndpoint
from ..services.integrations import endpoints
from . import webhook_schemas as shapes
from .spec import operation, refused

NOT_FOUND = {404: refused("No such webhook endpoint.", "unknown_webhook")}


def _webhook(endpoint: EventEndpoint) -> dict:
    return {"id": endpoint.id, "url": endpoint.url, "events": endpoint.events,
            "description": endpoint.description, "created_at": endpoint.created_at,
            "paused": endpoint.paused_at is not None, "paused_at": endpoint.paused_at,
            "failures": endpoint.failures, "last_error": endpoint.last_error}


@operation("POST", "/webhooks", summary="Register an endpoint for events", body=shapes.WebhookCreate,
           responses={201: shapes.WebhookCreated},
           errors={409: refused(f"This server keeps at most {endpoints.MAX_ENDPOINTS} endpoints.",
                                 "too_many_webhooks"),
                   422: refused("Not an http(s) URL, or an address the portal does not send to.",
                                "invalid_url")})
def create_webhook(body: shapes.WebhookCreate):
    """Register an endpoint; the answer carries its signing secret, this once."""
    done = endpoints.create(body.url, list(body.events), body.description)
    return shapes.WebhookCreated(**_webhook(done.endpoint), secret=done.secret), 201


@operation("GET", "/webhooks", summary="List the endpoints for events", responses={200: shapes.WebhookList})
def list_webhooks():
    """Every endpoint, paused ones with their last error."""
    return shapes.WebhookList(webhooks=[shapes.Webhook(**_webhook(e)) for e in endpoints.listing()]), 200


@operation("GET", "/webhooks/<id:webhook_id>", summary="Read an endpoint for events",
           responses={200: shapes.Webhook}, errors=NOT_FOUND)
def get_webhook(webhook_id: int):
    """One endpoint."""
    return shapes.Webhook(**_webhook(endpoints.get(webhook_id))), 200


@operation("PATCH", "/webhooks/<id:webhook_id>", summary="Change, pause or resume an endpoint",
           body=shapes.WebhookPatch, responses={200: shapes.Webhook}, errors=NOT_FOUND)
def patch_webhook(webhook_id: int, body: shapes.WebhookPatch):
    """Change the events an endpoint wants, or pause or resume it."""
    values = body.model_dump(exclude_none=True)
    endpoint = endpoints.update(webhook_id, wanted=values.get("events"), paused=values.get("paused"))
    return shapes.Webhook(**_webhook(endpoint)), 200


@operation("DELETE", "/webhooks/<id:webhook_id>", summary="Delete an endpoint for events",
           responses={200: shapes.WebhookDeleted}, errors=NOT_FOUND)
def delete_webhook(webhook_id: int):
    """Remove the endpoint and its waiting deliveries."""
    endpoints.delete(webhook_id)
    return shapes.WebhookDeleted(id=webhook_id, deleted=True), 200
