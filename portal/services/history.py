"""The append-only history of codes, read per code and per customer."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Code, CodeEvent, ImportBatch
from .actor import Actor
from .errors import NotFound

_events = CodeEvent.__table__


def record(session: Session, *, code_id: int, pool_id: int, customer_id: int | None, kind: str,
           before: str | None, after: str, at: datetime, actor: Actor, details: dict | None = None) -> None:
    """Append one change of a code's state to its history, in the caller's transaction."""
    record_many(session, [{"code_id": code_id, "pool_id": pool_id, "customer_id": customer_id,
                           "kind": kind, "before": before, "after": after, "details": details}],
                at=at, actor=actor)


def record_many(session: Session, changes: list[dict], *, at: datetime, actor: Actor) -> None:
    """Append changes ({code_id, pool_id, customer_id, kind, before, after, details?}) made
    at one time by one actor, in one statement. The one place history rows are written
    one by one; a whole list's assignments are written from its temporary table
    (`assignment.lists`)."""
    if not changes:
        return
    session.execute(insert(_events), [
        {"code_id": c["code_id"], "pool_id": c["pool_id"], "customer_id": c["customer_id"],
         "kind": c["kind"], "from_status": c["before"], "to_status": c["after"], "at": at,
         "user_id": actor.user_id, "api_key_id": actor.api_key_id, "store_id": actor.store_id,
         "details": c.get("details") or {}} for c in changes])


def insert_sql(source: str) -> str:
    """record() as part of a statement that makes the change itself (one round trip): the
    INSERT of an event for each row of `source`, a CTE of the changed codes with id,
    pool_id and customer_id; the rest comes from params()."""
    return ("INSERT INTO code_event (code_id, pool_id, customer_id, kind, from_status, to_status, at,"
            " user_id, api_key_id, store_id, details)"
            " SELECT id, pool_id, customer_id, :h_kind, :h_before, :h_after, :h_at, :h_user_id,"
            f" :h_api_key_id, :h_store_id, CAST(:h_details AS json) FROM {source}")


def params(*, kind: str, before: str | None, after: str, at: datetime, actor: Actor,
           details: dict | None = None) -> dict:
    """The parameters of insert_sql(), as record() takes them."""
    return {"h_kind": kind, "h_before": before, "h_after": after, "h_at": at, "h_user_id": actor.user_id,
            "h_api_key_id": actor.api_key_id, "h_store_id": actor.store_id,
            "h_details": json.dumps(details or {})}


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    code: str
    from_status: str | None
    to_status: str
    user_id: int | None = None
    api_key_id: int | None = None
    store_id: int | None = None
    details: dict = field(default_factory=dict)


def _entries(events: list[tuple[CodeEvent, str]]) -> list[Entry]:
    return [
        Entry(e.at, e.kind, code, e.from_status, e.to_status, e.user_id, e.api_key_id,
              e.store_id, e.details or {})
        for e, code in events
    ]


def for_code(code_id: int) -> list[Entry]:
    """Everything that happened to one code, oldest first, from its import on."""
    code = db.session.get(Code, code_id)
    if code is None:
        raise NotFound("There is no such code.", reason="unknown_code")
    entries = []
    if code.batch_id is not None:
        batch = db.session.get(ImportBatch, code.batch_id)
        kind = "generated" if batch.kind == "generate" else "imported"
        entries.append(Entry(batch.created_at, kind, code.code, None, "available", batch.user_id,
                             batch.api_key_id, None, {"batch_id": batch.id,
                                                      "source": batch.source}))
    events = db.session.execute(
        select(CodeEvent, Code.code).join(Code, Code.id == CodeEvent.code_id)
        .where(CodeEvent.code_id == code_id).order_by(CodeEvent.id)
    ).all()
    return entries + _entries(events)


def for_customer(customer_pk: int) -> list[Entry]:
    """Everything that happened to a customer's codes, oldest first."""
    events = db.session.execute(
        select(CodeEvent, Code.code).join(Code, Code.id == CodeEvent.code_id)
        .where(CodeEvent.customer_id == customer_pk).order_by(CodeEvent.id)
    ).all()
    return _entries(events)
