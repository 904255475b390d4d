"""The partner's URL as a source: asked whether it changed (ETag / Last-Modified),
downloaded within the upload limit, and imported once."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import update

from ...models import Replenishment, ReplenishmentRun
from ..errors import DomainError
from ..tx import write_transaction
from ..urls import without_credentials
from .fetch import guarded_get
from .record import import_file, record
from .secrets import unseal

FETCH_TIMEOUT = 30
_table = Replenishment.__table__


@dataclass
class Fetched:
    path: Path | None
    etag: str | None
    last_modified: str | None


def _download(rep: Replenishment) -> Fetched:
    """Download the URL to a temporary file, asking whether it changed; path None when
    the server says it did not. Raises DomainError for any failure."""
    import requests  # here, not at the top: the app starts without it

    headers = {}
    if rep.etag:
        headers["If-None-Match"] = rep.etag
    if rep.last_modified:
        headers["If-Modified-Since"] = rep.last_modified
    token, password = unseal(rep.bearer_token_enc), unseal(rep.password_enc)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    auth = (rep.username, password or "") if rep.username and not token else None
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    timeout = current_app.config.get("REPLENISH_TIMEOUT", FETCH_TIMEOUT)
    shown = without_credentials(rep.url)
    response = guarded_get(rep.url, headers, auth, timeout)
    with response:
        if response.status_code == 304:
            return Fetched(None, rep.etag, rep.last_modified)
        if response.status_code != 200:
            raise DomainError(f"{shown} answered HTTP {response.status_code}.", reason="fetch_failed")
        handle, name = tempfile.mkstemp(prefix="replenish-", suffix=".csv")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in response.iter_content(1024 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise DomainError(f"{shown} is larger than {limit:,} bytes.", reason="fetch_failed")
                    out.write(chunk)
        except requests.RequestException as exc:
            Path(name).unlink(missing_ok=True)
            raise DomainError(f"The download from {shown} broke off: {type(exc).__name__}.",
                              reason="fetch_failed") from exc
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
