"""Row ids in URLs: `<id:pool_id>` for a 32-bit id, `<bigid:code_id>` for a 64-bit one.
A number no row of that kind can have (0, or past the column's range) is a plain 404,
the same on SQLite and PostgreSQL, before any query is sent."""

from __future__ import annotations

from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from .vocabulary import BIG_ID_MAX, ID_MAX


class RowId(IntegerConverter):
    """A pool's, user's, store's or API key's id."""

    largest = ID_MAX

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= self.largest:
            raise NotFound()
        return number


class BigRowId(RowId):
    """The id of a code, a redemption, a job, an import: the tables that keep growing."""

    largest = BIG_ID_MAX


CONVERTERS: dict[str, type[RowId]] = {"id": RowId, "bigid": BigRowId}
