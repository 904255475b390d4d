"""CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets (the
# OWASP list, as defusedcsv applies it).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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
        writer.writerow([safe_cell(cell) for cell in row])
        waiting += 1
        if waiting >= lines:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            waiting = 0
    if waiting:
        yield buffer.getvalue()
