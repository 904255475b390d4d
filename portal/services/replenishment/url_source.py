"""The partner's URL as a source: asked whether it changed (ETag / Last-Modified),
downloaded within the upload limit, and imported once."""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import update

from ...models import Replenishment, ReplenishmentRun
from ..errors import DomainError
from ..secrets import unseal
from ..tx import write_transaction
from ..urls import without_credentials
from .fetch import guarded_get
from .record import import_file, record
from .settings import allowed_networks

FETCH_TIMEOUT = 30
# What a web server sends for a page: never a partner's file of codes.
WEB_PAGES = ("text/html", "application/xhtml+xml")
_table = Replenishment.__table__


@dataclass
class Fetched:
    path: Path | None
    etag: str | None
    last_modified: str | None


def _credentials(rep: Replenishment) -> dict[str, str]:
    """The Authorization header for the partner: the bearer token, else user and password."""
    token, password = unseal(rep.bearer_token_enc), unseal(rep.password_enc)
    if token:
        return {"Authorization": f"Bearer {token}"}
    if rep.username:
        pair = f"{rep.username}:{password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def _download(rep: Replenishment) -> Fetched:
    """Download the URL to a temporary file, asking whether it changed; path None when
    the server says it did not. Raises DomainError for any failure."""
    headers = _credentials(rep)
    if rep.etag:
        headers["If-None-Match"] = rep.etag
    if rep.last_modified:
        headers["If-Modified-Since"] = rep.last_modified
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    timeout = current_app.config.get("REPLENISH_TIMEOUT", FETCH_TIMEOUT)
    with guarded_get(rep.url, headers, timeout, allowed=allowed_networks()) as response:
        shown = response.shown
        if response.status == 304:
            return Fetched(None, rep.etag, rep.last_modified)
        if response.status != 200:
            raise DomainError(f"{shown} answered HTTP {response.status}.", reason="fetch_failed")
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind in WEB_PAGES:
            # A sign-in or error page, or a page that was never meant for the portal:
            # its lines would come back as the rejection report.
            raise DomainError(f"{shown} answered with a web page ({kind}), not a file of codes.",
                              reason="fetch_failed")
        handle, name = tempfile.mkstemp(prefix="replenish-", suffix=".csv")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in response.chunks(1024 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise DomainError(f"{shown} is larger than {limit:,} bytes.", reason="fetch_failed")
                    out.write(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Fetched(Path(name), response.headers.get("ETag"), response.headers.get("Last-Modified"))


def from_url(rep: Replenishment) -> ReplenishmentRun:
    """Fetch the pool's URL and import what changed; the run says how it went."""
    detail = without_credentials(rep.url) or ""
    try:
        fetched = _download(rep)
    except DomainError as exc:
        return record(rep.pool_id, "url", "failed", detail, error=exc.message)
    if fetched.path is None:
        return record(rep.pool_id, "url", "unchanged", detail)
    try:
        run = import_file(rep.pool_id, fetched.path, "url", detail)
    finally:
        fetched.path.unlink(missing_ok=True)
    if run.outcome != "failed":
        with write_transaction() as session:
            session.execute(update(_table).where(_table.c.pool_id == rep.pool_id).values(
                etag=fetched.etag, last_modified=fetched.last_modified))
    return run
