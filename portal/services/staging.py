"""Temporary tables through which new codes enter the `code` table.

Imports and generation stream candidate codes into `import_staging`, then one SQL
statement sorts out duplicates within the batch and codes that exist already (in this
pool or another), and the accepted ones are numbered in `import_accepted`, from where
a load (services/loading.py) writes them into `code` in steps. Set operations in the
database keep memory bounded and run at close to the database's own loading speed.

The tables belong to one connection and outlive its transactions, so the steps can
commit one by one; the caller begins and commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import Connection, text

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
_TABLES = ("import_kept", "import_accepted", "import_classified", "import_staging")

Row = tuple[int, str, str | None, datetime | None, str | None]
"""(line, code as given, normalized or None, expires_at or None, rejection reason or None)"""


class Staging:
    """The staging tables of one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"

    def create(self) -> None:
        self.drop()
        if self.postgresql:
            self._execute("CREATE TEMP TABLE import_staging (line bigint, code text, normalized text, "
                          "expires_at timestamptz, reason text)")
        else:
            self._execute("CREATE TEMP TABLE import_staging (line INTEGER, code TEXT, normalized TEXT, "
                          "expires_at TEXT, reason TEXT)")

    def drop(self) -> None:
        for table in _TABLES:
            self._execute(f"DROP TABLE IF EXISTS {table}")

    def _execute(self, sql: str, params: dict | None = None):  # noqa: ANN202
        return self.connection.execute(text(sql), params or {})

    def add(self, rows: Iterable[Row]) -> int:
        """Append candidate rows through the driver's fastest path; returns how many."""
        counter = _Counter(rows)
        raw = self.connection.connection.driver_connection
        if self.postgresql:
            with raw.cursor() as cursor, cursor.copy(
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
            cursor = raw.cursor()
            cursor.executemany("INSERT INTO import_staging VALUES (?, ?, ?, ?, ?)",
                               _sqlite_rows(counter))
            cursor.close()
        return counter.count

    def classify(self, pool_id: int) -> None:
        """Give every staged row its final reason: NULL for a code that can go in."""
        self._execute(f"CREATE TEMP TABLE import_classified AS {_CLASSIFY}", {"pool_id": pool_id})

    def accept(self, limit: int | None = None) -> int:
        """Number the accepted rows (at most `limit`) in code order; returns how many."""
        self._execute("CREATE TEMP TABLE import_accepted (n bigint PRIMARY KEY, code text, "
                      "normalized text, expires_at " + ("timestamptz)" if self.postgresql else "TEXT)"))
        sql = ("INSERT INTO import_accepted SELECT row_number() OVER (ORDER BY normalized), code, "
               "normalized, expires_at FROM import_classified WHERE reason IS NULL")
        params = {}
        if limit is not None:
            sql += " ORDER BY normalized LIMIT :limit"
            params["limit"] = limit
        return self._execute(sql, params).rowcount

    def insert_codes(self, pool_id: int, batch_id: int, first: int, last: int) -> int:
        """Move accepted rows first..last into `code` as available codes."""
        return self._execute(
            "INSERT INTO code (pool_id, batch_id, code, normalized, status, expires_at) "
            "SELECT :pool_id, :batch_id, code, normalized, 'available', expires_at "
            "FROM import_accepted WHERE n BETWEEN :first AND :last ORDER BY n",
            {"pool_id": pool_id, "batch_id": batch_id, "first": first, "last": last},
        ).rowcount

    def rejection_counts(self) -> dict[str, int]:
        rows = self._execute(
            "SELECT reason, count(*) FROM import_classified WHERE reason IS NOT NULL "
            "GROUP BY reason ORDER BY reason"
        )
        return {reason: int(n) for reason, n in rows}

    def keep_rejections(self, per_reason: int) -> int:
        """Number the first `per_reason` rejected lines of each reason, in file order."""
        self._execute("CREATE TEMP TABLE import_kept (n bigint PRIMARY KEY, line bigint, "
                      "value text, reason text)")
        return self._execute(
            "INSERT INTO import_kept SELECT row_number() OVER (ORDER BY line), line, value, reason "
            "FROM (SELECT line, substr(code, 1, 200) AS value, reason, "
            "row_number() OVER (PARTITION BY reason ORDER BY line) AS k "
            "FROM import_classified WHERE reason IS NOT NULL) ranked WHERE k <= :most",
            {"most": per_reason},
        ).rowcount

    def insert_rejections(self, batch_id: int, first: int, last: int) -> int:
        return self._execute(
            "INSERT INTO import_rejection (batch_id, line, value, reason) "
            "SELECT :batch_id, line, value, reason FROM import_kept "
            "WHERE n BETWEEN :first AND :last ORDER BY n",
            {"batch_id": batch_id, "first": first, "last": last},
        ).rowcount

    def reset(self) -> None:
        """Empty the tables for another round (generation tops up what collided)."""
        for table in ("import_accepted", "import_classified"):
            self._execute(f"DROP TABLE IF EXISTS {table}")
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
