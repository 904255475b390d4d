"""Reading moments written by people and files, and from the database, and writing them
for people in their time zone."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from ..models import Store

# The years a moment the portal stores may fall in, read as written (in its own zone):
# the OpenAPI document can say that much of a date-time (YEAR_PATTERN), so the API, the
# pages, the commands and imports all take the same moments, and none overflows when it
# is turned to UTC.
FIRST_YEAR, LAST_YEAR = 1970, 8999
YEAR_PATTERN = r"^(19[7-9][0-9]|[2-8][0-9]{3})-"  # FIRST_YEAR to LAST_YEAR, then the month


def in_range(moment: datetime) -> bool:
    """Whether the moment's year, as written, is FIRST_YEAR to LAST_YEAR."""
    return FIRST_YEAR <= moment.year <= LAST_YEAR


def as_utc(moment: datetime) -> datetime:
    """A moment read back without a zone (an aggregate over a column, on SQLite) is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_moment(raw: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time, in UTC when no zone is given.

    A date alone means the start of that day, or its last second with end_of_day
    (a voucher that "expires 2027-06-30" is good all that day). Raises ValueError.
    """
    value = raw.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(f"{raw!r} is out of range")
        if end_of_day:
            return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    if not in_range(moment):
        raise ValueError(f"{raw!r} is out of range")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# Time zones. A store shows its tills' times in its own IANA zone; a signed-in person's
# pages in the zone on their profile; everything else (the customer's page) in the
# portal's, PORTAL_TIMEZONE.
DEFAULT_ZONE = "UTC"
ZONE_MAX_LENGTH = 64  # Store.timezone's column


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows (the system's database, else tzdata's)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def is_zone(name: str | None) -> bool:
    """Whether the name is an IANA zone written exactly (Europe/Warsaw, UTC)."""
    return bool(name) and name in zone_names()


def portal_zone() -> str:
    """The zone of the portal's own pages: the PORTAL_TIMEZONE setting."""
    return current_app.config.get("PORTAL_TIMEZONE") or DEFAULT_ZONE


def store_zone(store: Store | None) -> str:
    """The zone a store's tills show times in: its own, else the portal's."""
    return (store.timezone if store is not None and store.timezone else None) or portal_zone()


def zone_label(local: datetime) -> str:
    """How a person reads a zone beside a time: its abbreviation (CET, EDT, UTC), or the
    offset from UTC where the zone has no letters for it (UTC+03)."""
    name = local.tzname() or ""
    return name if name.isalpha() else f"UTC{name}"


def person_zone(person: object | None) -> str:
    """The zone a person's pages show times in: the one set on their profile, else the
    portal's."""
    own = getattr(person, "timezone", None)
    return own if is_zone(own) else portal_zone()


def for_person(moment: datetime | None, zone: str | None = None,
               fmt: str = "%d %b %Y %H:%M", person: object | None = None) -> str:
    """A moment written for a person in a zone, which it names: "01 Jul 2026 14:00 CEST".
    The zone given (a till's store's), else the person's own (person_zone), else the
    portal's; an unknown zone name falls back to the portal's."""
    if moment is None:
        return "—"
    zone = zone if is_zone(zone) else person_zone(person)
    local = as_utc(moment).astimezone(zoneinfo.ZoneInfo(zone))
    return f"{local.strftime(fmt)} {zone_label(local)}"


def to_local(moment: datetime | None, zone: str) -> datetime | None:
    """A stored moment as a person's date-time picker shows it: their zone, no zone attached."""
    if moment is None:
        return None
    return as_utc(moment).astimezone(zoneinfo.ZoneInfo(zone)).replace(tzinfo=None)


def from_local(moment: datetime | None, zone: str) -> datetime | None:
    """What a person picked in their zone (no zone attached), as the UTC moment it is."""
    if moment is None:
        return None
    return moment.replace(tzinfo=zoneinfo.ZoneInfo(zone)).astimezone(UTC)
