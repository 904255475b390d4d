"""Reading moments written by people and files, and from the database."""

from __future__ import annotations

from datetime import UTC, date, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


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
        if end_of_day:
            return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past the last UTC moment
        raise ValueError(f"{raw!r} is out of range") from exc
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"{raw!r} is out of range")
    return moment
