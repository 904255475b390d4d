"""A pool's replenishment settings: the fields, their checks, the schedule, saving them."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import Replenishment, utcnow
from ..addresses import Network, host_address, parse_networks, refusal
from ..errors import InvalidInput
from ..pools import load_pool
from ..secrets import seal
from ..tx import write_transaction

FIELDS = ("url", "bearer_token", "username", "password", "every_hours", "daily_at", "drop_folder",
          "top_up_count", "top_up_cap")

# The limits of each field. The wizard's form and the API's schema import these, so
# the three surfaces accept the same settings.
URL_MAX = 2000
USERNAME_MAX = 200  # the column's size
SECRET_MAX = 1000  # a bearer token or a password, before sealing
EVERY_HOURS_MIN, EVERY_HOURS_MAX = 1, 720  # up to a month
DEFAULT_EVERY_HOURS = 24  # a URL with no schedule is fetched daily
DAILY_AT_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"  # HH:MM, UTC; ASCII digits only
TOP_UP_COUNT_MAX = 1_000_000  # codes per top-up, as one generation request may make
TOP_UP_CAP_MAX = 2**53  # the largest whole number JSON carries exactly
_DAILY = re.compile(DAILY_AT_PATTERN)


def get(pool_id: int) -> Replenishment | None:
    """The pool's settings, or None when none are set up."""
    return db.session.get(Replenishment, pool_id, populate_existing=True)


def settings_for(pool_ids: Collection[int]) -> dict[int, Replenishment]:
    """Several pools' settings in one query, by pool id; pools without any are left out."""
    if not pool_ids:
        return {}
    found = db.session.scalars(select(Replenishment).where(Replenishment.pool_id.in_(list(pool_ids)))
                               .execution_options(populate_existing=True))
    return {rep.pool_id: rep for rep in found}


def next_run(rep: Replenishment, after: datetime) -> datetime | None:
    """When the URL is fetched next: every N hours, or daily at HH:MM UTC."""
    if not rep.url:
        return None
    if rep.daily_at:
        hour, minute = map(int, rep.daily_at.split(":"))
        today = datetime.combine(after.date(), time(hour, minute), tzinfo=after.tzinfo)
        return today if today > after else today + timedelta(days=1)
    return after + timedelta(hours=rep.every_hours or DEFAULT_EVERY_HOURS)


def allowed_networks() -> tuple[Network, ...]:
    """The inside networks an admin lets partners' addresses be in (REPLENISH_ALLOWED_NETWORKS,
    checked when the app starts)."""
    return parse_networks(current_app.config.get("REPLENISH_ALLOWED_NETWORKS"))


def check_url(url: str) -> None:
    """An http(s) address with no credentials in it, and not written as an address the
    portal never fetches from, or InvalidInput(field="url"). A name is checked when it
    is fetched: what it resolves to may change."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise InvalidInput("The address is not a valid URL.", field="url", reason="invalid_url") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > URL_MAX:
        raise InvalidInput("The address must be an http:// or https:// URL.", field="url",
                           reason="invalid_url")
    if parts.username or parts.password:
        raise InvalidInput("Put the user name and password in their own fields (the "
                           "password is stored encrypted), not in the address.", field="url",
                           reason="invalid_url")
    address = host_address(parts.hostname)
    why = refusal(address, allowed_networks()) if address is not None else None
    if why:
        raise InvalidInput(f"The portal does not fetch from {address}: {why}.", field="url",
                           reason="invalid_url")


def check_daily_at(daily: str) -> None:
    """A time of day as HH:MM, or InvalidInput(field="daily_at")."""
    if not _DAILY.fullmatch(daily):
        raise InvalidInput("daily_at is a time of day as HH:MM (UTC), e.g. 06:30.", field="daily_at")


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check(values: dict) -> None:
    if values.get("url"):
        check_url(values["url"])
    hours = values.get("every_hours")
    if hours is not None and not _whole(hours, EVERY_HOURS_MIN, EVERY_HOURS_MAX):
        raise InvalidInput(f"every_hours is a whole number from {EVERY_HOURS_MIN} to {EVERY_HOURS_MAX}.",
                           field="every_hours")
    daily = values.get("daily_at")
    if daily:
        check_daily_at(daily)
    if hours and daily:
        raise InvalidInput("Choose every N hours or daily at a time, not both.", field="daily_at",
                           reason="two_schedules")
    count = values.get("top_up_count")
    if count is not None and not _whole(count, 0, TOP_UP_COUNT_MAX):
        raise InvalidInput(f"top_up_count is from 0 to {TOP_UP_COUNT_MAX:,}.", field="top_up_count")
    cap = values.get("top_up_cap")
    if cap is not None and not _whole(cap, 0, TOP_UP_CAP_MAX):
        raise InvalidInput(f"top_up_cap is a whole number from 0 to {TOP_UP_CAP_MAX:,}.",
                           field="top_up_cap")
    if values.get("drop_folder") and not current_app.config.get("DROP_FOLDER"):
        raise InvalidInput("No drop folder is set up on this server (DROP_FOLDER).", field="drop_folder",
                           reason="drop_folder_not_configured")
    for name, most in (("username", USERNAME_MAX), ("bearer_token", SECRET_MAX), ("password", SECRET_MAX)):
        if values.get(name) is not None and len(values[name]) > most:
            raise InvalidInput(f"{name} is at most {most:,} characters.", field=name)


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
    an empty string removes it. A URL with no schedule is fetched every DEFAULT_EVERY_HOURS."""
    values = checked(values)
    with write_transaction() as session:
        load_pool(session, pool_id)
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
