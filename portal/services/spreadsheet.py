"""CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets (the
# OWASP list, as defusedcsv applies it).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_START)
# ...except a number as a spreadsheet reads one (-12, -1.5, +3e5, -1,5), which evaluates
# to itself: nothing runs, and a tool reading the export gets it unchanged. A phone number
# in E.164 (+48608437485) is such a number, so it stays as it is; written with spaces or
# dashes it is arithmetic (-123-45 is -168 to a spreadsheet) and is neutralised.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:[.,][0-9]*)?|[.,][0-9]+)(?:[eE][+-]?[0-9]+)?")


def safe_cell(value: object) -> str:
    """The value as text, with a leading apostrophe if a spreadsheet would evaluate it."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def written_as_is(text: str) -> bool:
    """Whether csv_lines writes this cell exactly as it is (no apostrophe, no quotes)."""
    return safe_cell(text) == text and not any(ch in text for ch in ',"\r\n')


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV text line by line (for a streamed download), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()


def csv_chunks(header: list[str], rows: Iterable[Iterable[object]], lines: int = 1000) -> Iterator[str]:
    """The same text as csv_lines, handed out some lines at a time: a big download then
    costs the server a write per chunk, not one per line."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    waiting = 1
    for row in rows:
        # safe_cell's answer, without a call for the many cells that are text not
        # starting with a formula character (an export has millions of them).
        writer.writerow([cell if cell.__class__ is str and cell[:1] not in _FORMULA_FIRST else safe_cell(cell)
                         for cell in row])
        waiting += 1
        if waiting >= lines:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            waiting = 0
    if waiting:
        yield buffer.getvalue()


# --- the same text, written by PostgreSQL ---------------------------------------------------------
# A large export lets PostgreSQL write each line (a million lines in a few seconds, where
# Python takes ten or more). These build the SQL from the rules above, and a test holds
# both ways to the same bytes.

def _sql_text(value: str) -> str:
    """A PostgreSQL string literal of any text."""
    for raw, escaped in (("\\", "\\\\"), ("'", "\\'"), ("\t", "\\t"), ("\r", "\\r"), ("\n", "\\n")):
        value = value.replace(raw, escaped)
    return "E'" + value + "'"


_STARTS_SQL = ", ".join(_sql_text(start) for start in FORMULA_START)
_NUMBER_SQL = _sql_text("^(?:" + _NUMBER.pattern + ")$")
_QUOTED_SQL = _sql_text('[,"\r\n]')  # what makes csv.writer quote a cell (QUOTE_MINIMAL)
_CRLF_SQL = _sql_text("\r\n")


def safe_cell_sql(expr: str) -> str:
    """safe_cell() of a text expression, NULL written as an empty cell."""
    return (f"CASE WHEN left({expr}, 1) IN ({_STARTS_SQL}) AND {expr} !~ {_NUMBER_SQL}"
            f" THEN '''' || {expr} ELSE coalesce({expr}, '') END")


def csv_cell_sql(expr: str) -> str:
    """A text expression as csv.writer writes one of several cells after safe_cell(): quoted,
    its quotes doubled, only when it holds a comma, a double quote or a line break. `expr`
    is evaluated three times: make it a column (of a LATERAL subquery, say)."""
    return (f"""CASE WHEN {expr} ~ {_QUOTED_SQL} THEN '"' || replace({expr}, '"', '""') || '"'"""
            f" ELSE {expr} END")


def plain_cell_sql(expr: str) -> str:
    """A cell of text that holds no comma, quote, line break or formula start (a timestamp
    from isoformat_sql, a status word), which both ways write as it is."""
    return f"coalesce({expr}, '')"


def csv_line_sql(cells: list[str]) -> str:
    """One whole CSV line, CRLF included, of cells made by csv_cell_sql or plain_cell_sql."""
    return " || ',' || ".join(cells) + f" || {_CRLF_SQL}"


def isoformat_sql(expr: str) -> str:
    """A timestamptz as Python's isoformat() writes it in UTC (microseconds only when there
    are any), or NULL."""
    utc = f"({expr} AT TIME ZONE 'UTC')"
    return (f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS') || CASE WHEN mod(extract(microseconds FROM {utc})"""
            f"::bigint, 1000000) <> 0 THEN to_char({utc}, '.US') ELSE '' END || '+00:00'")
