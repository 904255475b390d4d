"""Reading moments written by people and files, and from the database."""

from __future__ import annotations

from datetime import UTC, date, datetime

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
