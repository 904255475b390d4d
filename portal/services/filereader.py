"""Reading uploaded CSV and text files as a stream of rows, whatever their dialect.

UTF-8 with or without BOM, LF or CRLF, comma, semicolon or tab, quoted fields and an
optional header. Rows come with the file's own line numbers, as a text editor shows
them (header and blank lines counted). Memory stays bounded whatever the file's size.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from .errors import MalformedFile

DELIMITERS = (",", ";", "\t")
_SNIFF_BYTES = 64 * 1024
# Plain blocks: about this many characters each, of lines no longer than _PLAIN_LINE.
BLOCK_CHARS = 1 << 20
_PLAIN_LINE = 1000
# What a plain block holds none of: a delimiter, a quote, a backslash (which COPY would
# read as an escape) or NUL.
_NOT_PLAIN = (",", ";", "\t", '"', "\\", "\x00")


def header_key(name: str) -> str:
    """`Coupon_Code`, ` coupon-code ` and `COUPON CODE` all become `coupon code`."""
    return re.sub(r"[\s_\-]+", " ", name.strip().lower()).strip()


class _HashingReader(io.RawIOBase):
    """Passes a binary stream through while keeping its sha256 and size."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def first_bad_line(self) -> int | None:
        """The number of the first line that is not UTF-8, read again from the start;
        None when the stream cannot go back (the caller then says roughly where)."""
        try:
            self._stream.seek(0)
        except (AttributeError, OSError, ValueError):
            return None
        for number, raw in enumerate(self._stream, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                return number
        return None

    def readinto(self, buffer) -> int:  # noqa: ANN001
        data = self._stream.read(len(buffer))
        if not data:
            return 0
        self.sha256.update(data)
        self.size += len(data)
        buffer[: len(data)] = data
        return len(data)


@dataclass
class TableFile:
    """An opened upload: iterate `rows()` once; `columns` maps wanted names to indexes."""

    columns: dict[str, int]
    has_header: bool
    delimiter: str
    _hasher: _HashingReader
    _lines: Iterator[str]
    _first_line_number: int
    header: list[str] = field(default_factory=list)
    columns_seen: int = 1
    # For plain_blocks: the text after the header, and the line read before it.
    _text: io.TextIOBase | None = None
    _pending: str = ""

    @property
    def sha256(self) -> str:
        return self._hasher.sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._hasher.size

    def plain_blocks(self) -> Iterator[tuple[int, str]]:
        """(number of its first line, text) for each block of the file, while the file
        is plain: one column of ASCII text, no quotes, lines ending in LF or CRLF. The
        blocks end at a line's end; a block's lines are separated by "\\n" (a CR before
        it stays, as whitespace to trim). At the first block that is not plain the rest
        of the file is left to rows(), which reads it line by line as CSV."""
        if self._text is None or len(self.header or [None]) != 1 or self.columns_seen != 1:
            return
        text, line, carry = self._text, self._first_line_number, self._pending
        self._pending = ""
        while True:
            try:
                piece = text.read(BLOCK_CHARS)
            except UnicodeDecodeError as exc:
                near = line + carry.count("\n") + exc.object[: exc.start].count(b"\n")
                raise _not_utf8(self._hasher.first_bad_line() or near) from exc
            data = carry + piece
            cut = data.rfind("\n") + 1 if piece else len(data)
            if piece and cut == 0 and len(data) <= _PLAIN_LINE:
                carry = data
                continue
            block, carry = data[:cut], data[cut:]
            if not block or not _plain(block):
                # Whole lines only: the line that carry began is finished from the text.
                self._resume(line, block + carry + (text.readline() if carry else ""))
                return
            yield line, block
            line += block.count("\n")
            if not piece:
                self._lines = iter(())
                return

    def _resume(self, line: int, rest: str) -> None:
        self._first_line_number = line
        self._lines = itertools.chain(io.StringIO(rest, newline=""), self._text)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, cells) for every non-blank data row."""
        reader = csv.reader(self._lines, delimiter=self.delimiter)
        base = self._first_line_number
        start = base
        try:
            for cells in reader:
                line, start = start, base + reader.line_num
                if not cells or (not cells[0].strip() and not "".join(cells).strip()):
                    continue
                yield line, cells
        except UnicodeDecodeError as exc:
            raise _not_utf8(start) from exc
        except csv.Error as exc:
            raise MalformedFile(f"Line {start} cannot be read: {exc}.", line=start) from exc


def open_table(stream: BinaryIO, wanted: dict[str, set[str]], required: str) -> TableFile:
    """Open a CSV or text upload, finding its delimiter and, if present, its header.

    `wanted` maps a column's name to the header spellings it is known by; `required`
    is the column that must exist (without a header it is the first one).
    """
    hasher = _HashingReader(stream)
    buffered = io.BufferedReader(hasher, buffer_size=1024 * 1024)
    head = buffered.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise MalformedFile("This looks like a binary file, not CSV or text.")
    text = io.TextIOWrapper(buffered, encoding="utf-8-sig", errors="strict", newline="")
    line_number = 0
    first = ""
    try:
        for line in text:
            line_number += 1
            if line.strip():
                first = line
                break
    except UnicodeDecodeError as exc:
        raise MalformedFile(
            f"The file is not valid UTF-8 text (near line {line_number + 1}). "
            "Save it as UTF-8 and upload it again.",
            line=line_number + 1,
        ) from exc
    if not first:
        return TableFile({required: 0}, False, ",", hasher, iter(()), line_number + 1)

    delimiter = max(DELIMITERS, key=lambda d: _count_outside_quotes(first, d))
    if _count_outside_quotes(first, delimiter) == 0:
        delimiter = ","
    try:
        cells = next(csv.reader([first], delimiter=delimiter), [])
    except csv.Error as exc:
        raise MalformedFile(f"Line {line_number} cannot be read: {exc}.") from exc
    keys = [header_key(cell) for cell in cells]
    columns: dict[str, int] = {}
    for name, spellings in wanted.items():
        for index, key in enumerate(keys):
            if key in spellings:
                columns[name] = index
                break
    if required in columns:
        return TableFile(columns, True, delimiter, hasher, text, line_number + 1, header=cells,
                         _text=text)
    if any(key in spellings for key in keys for spellings in wanted.values()):
        raise MalformedFile(
            f"The header on line {line_number} has no “{required}” column.", line=line_number
        )
    lines = _prepend(first, text)
    return TableFile({required: 0}, False, delimiter, hasher, lines, line_number,
                     header=[], columns_seen=len(cells), _text=text, _pending=first)


def _not_utf8(line: int) -> MalformedFile:
    return MalformedFile(f"The file is not valid UTF-8 text (near line {line}). "
                         "Save it as UTF-8 and upload it again.", line=line)


def _plain(block: str) -> bool:
    """Whether a block is lines of one field each that need no CSV parsing."""
    if not block.isascii() or any(char in block for char in _NOT_PLAIN):
        return False
    if block.count("\r") != block.count("\r\n"):  # a lone CR ends a line for CSV
        return False
    return max(map(len, block.split("\n"))) <= _PLAIN_LINE


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count
