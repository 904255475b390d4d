"""A pool's replenishment settings: the fields, their checks, the schedule, saving them."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

from ...extensions import db
from ...models import Pool, Replenishment, utcnow
from .. import generation
from ..errors import InvalidInput, NotFound
from ..tx import write_transaction
from .secrets import seal

_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

FIELDS = ("url", "bearer_token", "username", "password", "every_hours", "daily_at", "drop_folder",
          "top_up_count", "top_up_cap")


def get(pool_id: int) -> Replenishment | None:
    """The pool's settings, or None when none are set up."""
    return db.session.get(Replenishment, pool_id, populate_existing=True)


def next_run(rep: Replenishment, after: datetime) -> datetime | None:
    """When the URL is fetched next: every N hours, or daily at HH:MM UTC."""
    if not rep.url:
        return None
    if rep.daily_at:
        hour, minute = map(int, rep.daily_at.split(":"))
        today = datetime.combine(after.date(), time(hour, minute), tzinfo=after.tzinfo)
        return today if today > after else today + timedelta(days=1)
    return after + timedelta(hours=rep.every_hours or 24)


def _check(values: dict) -> None:
    url = values.get("url")
    if url:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:
            raise InvalidInput("The address is not a valid URL.", field="url") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
            raise InvalidInput("The address must be an http:// or https:// URL.", field="url")
        if parts.username or parts.password:
            raise InvalidInput("Put the user name and password in their own fields (the "
                               "password is stored encrypted), not in the address.", field="url")
    hours = values.get("every_hours")
    if hours is not None and not (isinstance(hours, int) and 1 <= hours <= 720):
        raise InvalidInput("every_hours is a whole number from 1 to 720.", field="every_hours")
    daily = values.get("daily_at")
    if daily and not _DAILY.fullmatch(daily):
        raise InvalidInput("daily_at is a time of day as HH:MM (UTC), e.g. 06:30.", field="daily_at")
    if hours and daily:
        raise InvalidInput("Choose every N hours or daily at a time, not both.", field="daily_at")
    count = values.get("top_up_count")
    if count is not None and not (isinstance(count, int) and 0 <= count <= generation.MAX_COUNT):
        raise InvalidInput(f"top_up_count is from 0 to {generation.MAX_COUNT:,}.", field="top_up_count")
    cap = values.get("top_up_cap")
    if cap is not None and not (isinstance(cap, int) and cap >= 0):
        raise InvalidInput("top_up_cap is a whole number, 0 or more.", field="top_up_cap")
    if values.get("drop_folder") and not current_app.config.get("DROP_FOLDER"):
        raise InvalidInput("No drop folder is set up on this server (DROP_FOLDER).", field="drop_folder")
    for name in ("username", "bearer_token", "password"):
        if values.get(name) is not None and len(values[name]) > 1000:
            raise InvalidInput(f"{name} is too long.", field=name)


def checked(values: dict) -> dict:
    """The settings trimmed, or InvalidInput naming the wrong field; changes nothing."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown replenishment fields: {', '.join(sorted(unknown))}.")
    values = dict(values)
    for name in ("url", "username", "daily_at"):
        if isinstance(values.get(name), str):
            values[name] = values[name].strip() or None
    _check(values)
    return values


def configure(pool_id: int, **values: object) -> Replenishment:
    """Change a pool's replenishment settings. A secret left out (None) stays as it was;
    an empty string removes it. A URL with no schedule is fetched every 24 hours."""
    values = checked(values)
    with write_transaction() as session:
        if session.get(Pool, pool_id) is None:
            raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
        rep = session.get(Replenishment, pool_id, populate_existing=True)
        if rep is None:
            rep = Replenishment(pool_id=pool_id, drop_folder=False, top_up_count=0)
            session.add(rep)
        schedule_changed = False
        for name, value in values.items():
            if name in ("bearer_token", "password"):
                if value is not None:
                    setattr(rep, name + "_enc", seal(value))
                continue
            if name in ("url", "every_hours", "daily_at") and getattr(rep, name) != value:
                schedule_changed = True
            setattr(rep, name, value)
        if "daily_at" in values and values["daily_at"]:
            rep.every_hours = None
        elif "every_hours" in values and values["every_hours"]:
            rep.daily_at = None
        if schedule_changed:
            rep.etag = rep.last_modified = None
            rep.next_run_at = next_run(rep, utcnow())
        rep.updated_at = utcnow()
    return rep


def drop_path(pool_id: int) -> str | None:
    """Where the partner drops this pool's files: pool-<id>-<anything> in DROP_FOLDER."""
    folder = current_app.config.get("DROP_FOLDER")
    return str(Path(folder) / f"pool-{pool_id}-*.csv") if folder else None
