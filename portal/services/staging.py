"""Temporary tables through which new codes enter the `code` table.

Imports and generation put candidate codes into `import_staging` in file order: plain
stretches of a file as whole blocks of text that one SQL statement splits, checks
and normalizes (codes.sql_check), other lines one row each from Python. The codes go
into `code` in code order with `ON CONFLICT (normalized) DO NOTHING`: the unique index
that every new code is checked against anyway is the duplicate check, so it costs
what the file costs, whatever the workspace holds. Only when fewer went in than were
offered does a second statement find which lines were left out and why (a line
repeating an earlier one, a code already in this pool, one in another pool), looking
each of them up by that same index.

The tables belong to one connection and outlive its transactions, so a load
(services/loading.py) can write in steps that commit one by one; the caller begins
and commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from sqlalchemy import Connection, text

from . import codes

BATCH = 10_000

_ALLOWED_OR_LF = codes.ALLOWED_BYTES + b"\n"
_TABLES = ("import_kept", "import_conflicts", "import_sorted", "import_staging")

Row = tuple[int, str, str | None, datetime | None, str | None]
"""(line, code as given, normalized or None, expires_at or None, rejection reason or None)"""

# A block's lines, trimmed as str.strip trims ASCII text, blank ones left out, each
# with its reason (NULL when it may go in) and normalized form: the same verdicts as
# codes.check, in SQL. The SQLite form reads a JSON array of the lines, PostgreSQL
# splits the text itself.
_TRIMMED = {"sqlite": "trim(value, :ws)", "postgresql": "btrim(value, :ws)"}
_LINES = {
    "sqlite": "SELECT :first + key AS line, {trimmed} AS code FROM json_each(:block)",
    "postgresql": "SELECT :first + n - 1 AS line, {trimmed} AS code "
                  "FROM unnest(string_to_array(:block, E'\\n')) WITH ORDINALITY AS u(value, n)",
}
# (A rejected line's normalized form is never read.)
_BLOCK = """
INSERT INTO import_staging (line, code, normalized, reason)
SELECT line, code, {normalized}, {reason} FROM ({lines}) split WHERE code <> ''
"""

# Which offered lines did not go in, and why. A line whose code row is this batch's
# went in itself unless an earlier line of the file has the same code; any other row
# was there before. The code table is read by its unique index, one lookup a line.
_CONFLICTS = """
CREATE TEMP TABLE import_conflicts AS
SELECT line, code AS value,
  CASE WHEN earlier > 1 THEN 'duplicate_in_file'
       WHEN pool_id = :pool_id THEN 'already_in_pool'
       ELSE 'in_other_pool' END AS reason
FROM (SELECT s.line, s.code, c.pool_id, c.batch_id,
             row_number() OVER (PARTITION BY s.normalized ORDER BY s.line) AS earlier
      FROM import_staging s JOIN code c ON c.normalized = s.normalized
      WHERE s.reason IS NULL) offered
WHERE earlier > 1 OR batch_id IS NULL OR batch_id <> :batch_id
"""
_REJECTED = ("SELECT line, code AS value, reason FROM import_staging WHERE reason IS NOT NULL "
             "UNION ALL SELECT line, value, reason FROM import_conflicts")


class Staging:
    """The staging tables of one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self.postgresql = self.dialect == "postgresql"
        # Two forms: one for any plain block, one for a block of nothing but allowed
        # characters and line ends (most are), which needs no trimming and no search
        # for characters that are not allowed.
        self._block_sql = {}
        for clean in (False, True):
            normalized, reason = codes.sql_check("code", self.dialect, only_allowed=clean)
            lines = _LINES[self.dialect].format(trimmed="value" if clean else _TRIMMED[self.dialect])
            self._block_sql[clean] = text(_BLOCK.format(normalized=normalized, reason=reason,
                                                        lines=lines))

    def create(self) -> None:
        self.drop()
        if self.postgresql:
            self._execute("CREATE TEMP TABLE import_staging (line bigint, code text, normalized text, "
                          "expires_at timestamptz, reason text)")
        else:
            # The rowid numbers the rows in the order they came: the steps' ranges.
            self._execute("CREATE TEMP TABLE import_staging (line INTEGER, code TEXT, normalized TEXT, "
                          "expires_at TEXT, reason TEXT)")
        self._execute("CREATE TEMP TABLE import_conflicts (line bigint, value text, reason text)")

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

    def add_block(self, first_line: int, block: str) -> int:
        """Append a block of plain ASCII lines ("\\n"-separated, the first numbered
        `first_line`), checked in SQL; returns how many were not blank."""
        block = block.replace("\r\n", "\n")
        clean = not block.encode("ascii").translate(None, _ALLOWED_OR_LF)
        if not self.postgresql:
            block = json.dumps(block.split("\n"))
        params = {"first": first_line, "block": block}
        if not clean:
            params["ws"] = codes.ASCII_WHITESPACE
        return self.connection.execute(self._block_sql[clean], params).rowcount

    def sort(self) -> int:
        """Put the codes that may go in in code order, the first line of a code first;
        returns how many there are to write (SQLite: numbered by rowid, for the steps).

        New codes enter the unique index in its own order: each step then touches a
        few neighbouring pages, where codes in file order touched pages all over the
        index, each written again at every step's commit (a million random codes took
        six times as long). PostgreSQL, in one step, sorts as it inserts."""
        if self.postgresql:
            return 1 if self._execute("SELECT 1 FROM import_staging LIMIT 1").first() else 0
        self._execute("DROP TABLE IF EXISTS import_sorted")
        self._execute("CREATE TEMP TABLE import_sorted (n INTEGER PRIMARY KEY, code TEXT, "
                      "normalized TEXT, expires_at TEXT)")
        return self._execute(
            "INSERT INTO import_sorted (code, normalized, expires_at) SELECT code, normalized, "
            "expires_at FROM import_staging WHERE reason IS NULL ORDER BY normalized, line").rowcount

    def offered(self) -> int:
        """How many staged codes may go in (their line had no reason to refuse them)."""
        return int(self._execute("SELECT count(*) FROM import_staging WHERE reason IS NULL").scalar())

    def insert_codes(self, pool_id: int, batch_id: int, first: int, last: int) -> int:
        """Move the sorted codes first..last (PostgreSQL takes them all in one step)
        into `code` as available codes, leaving out codes already there; returns how
        many went in. Of several lines with one code, the first goes in."""
        params = {"pool_id": pool_id, "batch_id": batch_id, "first": first, "last": last}
        if self.postgresql:
            self._execute("SET LOCAL work_mem = '256MB'")  # the sort, in memory
            source = "import_staging WHERE reason IS NULL ORDER BY normalized, line"
        else:
            source = "import_sorted WHERE n BETWEEN :first AND :last ORDER BY n"
        return self._execute(
            "INSERT INTO code (pool_id, batch_id, code, normalized, status, expires_at) "
            "SELECT :pool_id, :batch_id, code, normalized, 'available', expires_at "
            f"FROM {source} ON CONFLICT (normalized) DO NOTHING",
            params,
        ).rowcount

    def find_conflicts(self, pool_id: int, batch_id: int) -> int:
        """Record the offered lines that did not go in, with their reason; how many."""
        self._execute("DROP TABLE IF EXISTS import_conflicts")
        if self.postgresql:
            # Without statistics on the temporary table the planner may hash the whole
            # code table; a lookup a line by the unique index is what this needs.
            self._execute("SET LOCAL enable_hashjoin = off")
            self._execute("SET LOCAL enable_mergejoin = off")
            self._execute("SET LOCAL work_mem = '64MB'")
        self._execute(_CONFLICTS, {"pool_id": pool_id, "batch_id": batch_id})
        return int(self._execute("SELECT count(*) FROM import_conflicts").scalar())

    def rejection_counts(self) -> dict[str, int]:
        rows = self._execute(f"SELECT reason, count(*) FROM ({_REJECTED}) r GROUP BY reason ORDER BY reason")
        return {reason: int(n) for reason, n in rows}

    def keep_rejections(self, per_reason: int) -> int:
        """Number the first `per_reason` rejected lines of each reason, in file order."""
        key = "bigint PRIMARY KEY" if self.postgresql else "INTEGER PRIMARY KEY"
        self._execute(f"CREATE TEMP TABLE import_kept (n {key}, line bigint, value text, reason text)")
        return self._execute(
            "INSERT INTO import_kept SELECT row_number() OVER (ORDER BY line), line, value, reason "
            "FROM (SELECT line, substr(value, 1, 200) AS value, reason, "
            f"row_number() OVER (PARTITION BY reason ORDER BY line) AS k FROM ({_REJECTED}) r) ranked "
            "WHERE k <= :most",
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
        self._execute("DELETE FROM import_staging")
        self._execute("DELETE FROM import_conflicts")
        self._execute("DROP TABLE IF EXISTS import_sorted")


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
