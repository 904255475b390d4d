"""CSV that is safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator

# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...except a plain number or phone number (+48 608 437 485, -12): nothing to run, and a
# mailing tool reading the export needs it unchanged.
_PLAIN_NUMBER = re.compile(r"[+-][0-9][0-9 ().-]*")


def safe_cell(value: object) -> str:
    """The value as text, with a leading apostrophe if a spreadsheet would run it."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
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
