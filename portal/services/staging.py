"""A per-transaction staging table through which new codes enter the `code` table.

Imports and generation stream candidate codes into it, then one SQL statement sorts
out duplicates within the batch and codes that exist already (in this pool or
another), and one more moves the good ones into `code`. Set operations in the
database keep memory bounded and run at close to the database's own loading speed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from .tx import lock_code_space

BATCH = 10_000

_CLASSIFY = """
SELECT s.line, s.code, s.normalized, s.expires_at,
  CASE
    WHEN s.reason IS NOT NULL THEN s.reason
    WHEN row_number() OVER (PARTITION BY s.normalized ORDER BY s.line) > 1
      THEN 'duplicate_in_file'
    WHEN c.pool_id = :pool_id THEN 'already_in_pool'
    WHEN c.pool_id IS NOT NULL THEN 'in_other_pool'
  END AS reason
FROM import_staging s LEFT JOIN code c ON c.normalized = s.normalized
"""

Row = tuple[int, str, str | None, datetime | None, str | None]
"""(line, code as given, normalized or None, expires_at or None, rejection reason or None)"""


class Staging:
    """The staging table of one transaction; use `with Staging(session) as staging:`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        self._raw = session.connection().connection.driver_connection

    def __enter__(self) -> Staging:
        lock_code_space(self.session)
        self._drop()
        if self.postgresql:
            self._execute(
                "CREATE TEMP TABLE import_staging (line bigint, code text, normalized text, "
                "expires_at timestamptz, reason text) ON COMMIT DROP"
            )
        else:
            self._execute(
                "CREATE TEMP TABLE import_staging (line INTEGER, code TEXT, normalized TEXT, "
                "expires_at TEXT, reason TEXT)"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self._drop()

    def _drop(self) -> None:
        self._execute("DROP TABLE IF EXISTS import_classified")
        self._execute("DROP TABLE IF EXISTS import_staging")

    def _execute(self, sql: str, params: dict | None = None):  # noqa: ANN202
        return self.session.execute(text(sql), params or {})

    def add(self, rows: Iterable[Row]) -> int:
        """Append candidate rows through the driver's fastest path; returns how many."""
        counter = _Counter(rows)
        if self.postgresql:
            with self._raw.cursor() as cursor, cursor.copy(
                "COPY import_staging (line, code, normalized, expires_at, reason) FROM STDIN"
            ) as copy:
                chunk: list[str] = []
                for line in _copy_lines(counter):
                    chunk.append(line)
                    if len(chunk) >= BATCH:
                        copy.write("".join(chunk))
                        chunk.clear()
                if chunk:
                    copy.write("".join(chunk))
        else:
            cursor = self._raw.cursor()
            cursor.executemany("INSERT INTO import_staging VALUES (?, ?, ?, ?, ?)",
                               _sqlite_rows(counter))
            cursor.close()
        return counter.count

    def classify(self, pool_id: int) -> None:
        """Give every staged row its final reason: NULL for a code that can go in."""
        suffix = " ON COMMIT DROP" if self.postgresql else ""
        self._execute(f"CREATE TEMP TABLE import_classified{suffix} AS {_CLASSIFY}", {"pool_id": pool_id})

    def insert_codes(self, pool_id: int, batch_id: int, limit: int | None = None) -> int:
        """Move accepted rows into `code` as available codes, in file order."""
        sql = (
            "INSERT INTO code (pool_id, batch_id, code, normalized, status, expires_at) "
            "SELECT :pool_id, :batch_id, code, normalized, 'available', expires_at "
            "FROM import_classified WHERE reason IS NULL ORDER BY normalized"
        )
        params = {"pool_id": pool_id, "batch_id": batch_id}
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return self._execute(sql, params).rowcount

    def rejection_counts(self) -> dict[str, int]:
        rows = self._execute(
            "SELECT reason, count(*) FROM import_classified WHERE reason IS NOT NULL "
            "GROUP BY reason ORDER BY reason"
        )
        return {reason: int(n) for reason, n in rows}

    def save_rejections(self, batch_id: int) -> None:
        self._execute(
            "INSERT INTO import_rejection (batch_id, line, value, reason) "
            "SELECT :batch_id, line, substr(code, 1, 200), reason "
            "FROM import_classified WHERE reason IS NOT NULL",
            {"batch_id": batch_id},
        )

    def reset(self) -> None:
        """Empty the table for another round (generation tops up what collided)."""
        self._execute("DROP TABLE IF EXISTS import_classified")
        self._execute("DELETE FROM import_staging")


class _Counter:
    """Counts the rows that pass through it."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Row]:
        for row in self.rows:
            self.count += 1
            yield row


def _sqlite_rows(rows: Iterable[Row]) -> Iterator[tuple]:
    """Rows as SQLite stores them: times as the naive UTC text SQLAlchemy reads back."""
    for row in rows:
        if row[3] is None:
            yield row
        else:
            yield row[0], row[1], row[2], row[3].strftime("%Y-%m-%d %H:%M:%S.%f"), row[4]


# PostgreSQL text cannot hold NUL: a rejected value shows it as U+FFFD instead.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                               "\x00": "\ufffd"})


def _copy_lines(rows: Iterable[Row]) -> Iterator[str]:
    """Rows in COPY's text format. Accepted codes need no escaping (they are checked to
    be letters, digits, "-", "_" and "."); rejected values are escaped."""
    for line, code, normalized, expires_at, reason in rows:
        if reason is None:
            when = "\\N" if expires_at is None else expires_at.isoformat()
            yield f"{line}\t{code}\t{normalized}\t{when}\t\\N\n"
        else:
            yield f"{line}\t{code.translate(_COPY_ESCAPES)}\t\\N\t\\N\t{reason}\n"
