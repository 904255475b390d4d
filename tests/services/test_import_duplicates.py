"""Duplicates found by the code table's unique index, with their reasons and line
numbers exact, whether a file is read as plain blocks (checked in SQL) or line by line
(checked in Python); and the two readings give the same verdicts."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Code
from portal.services import filereader, imports, loading, pools
from portal.services.codes import check
from portal.services.errors import MalformedFile
from tests.helpers import kept_counts, real_counts, upload

# A quoted first line sends the whole file through the CSV reader, line by line.
FIRST = {"plain": "", "csv": '"QUOTED-1"\n'}


@pytest.fixture(params=sorted(FIRST))
def route(request) -> str:
    return request.param


@pytest.fixture
def pool_id(app) -> int:
    return pools.create_pool("Spring").id


def _import(pool_id: int, route: str, lines: list[str]) -> tuple[imports.ImportResult, int]:
    """Import the lines by the route; (result, how many lines the route put before them)."""
    result = imports.import_codes(pool_id, upload(FIRST[route] + "\n".join(lines) + "\n"))
    return result, FIRST[route].count("\n")


def _reasons(result: imports.ImportResult, offset: int) -> dict[int, tuple[str, str]]:
    return {r.line - offset: (r.reason, r.value) for r in imports.rejections(result.batch_id)}


def test_in_file_and_workspace_duplicates_each_with_their_line(pool_id, route):
    other = pools.create_pool("Other").id
    imports.import_codes(other, upload("ELSE-0001\n"))
    imports.import_codes(pool_id, upload("MINE-0001\n"))
    result, offset = _import(pool_id, route, [
        "NEW-0001",    # 1 goes in, spelled as here
        "new0001",     # 2 the same code as line 1
        "MINE-0001",   # 3 already in this pool
        "ELSE0001",    # 4 in another pool
        "mine0001",    # 5 line 3 again: a repeat within the file comes first
        "NEW-0002",    # 6 goes in
        "ELSE-0001",   # 7 line 4 again
        "ab",          # 8 too short
    ])
    assert _reasons(result, offset) == {
        2: ("duplicate_in_file", "new0001"), 3: ("already_in_pool", "MINE-0001"),
        4: ("in_other_pool", "ELSE0001"), 5: ("duplicate_in_file", "mine0001"),
        7: ("duplicate_in_file", "ELSE-0001"), 8: ("too_short", "ab"),
    }
    assert result.by_reason == {"already_in_pool": 1, "duplicate_in_file": 3, "in_other_pool": 1,
                                "too_short": 1}
    assert result.imported == 2 + offset and result.lines == 8 + offset
    assert db.session.scalar(select(Code.code).where(Code.normalized == "NEW0001")) == "NEW-0001"
    assert kept_counts(pool_id) == real_counts(pool_id)
    assert kept_counts(pool_id)["available"] == 3 + offset
    assert kept_counts(other)["available"] == 1


def test_duplicates_across_blocks_and_steps_keep_their_lines(pool_id, route, monkeypatch):
    # Tiny blocks and steps, so that repeats fall in other blocks and other steps.
    monkeypatch.setattr(filereader, "BLOCK_CHARS", 64)
    monkeypatch.setattr(loading, "FIRST_STEP", 7)
    monkeypatch.setattr(loading, "SMALLEST_STEP", 7)
    monkeypatch.setattr(loading, "LARGEST_STEP", 7)
    monkeypatch.setattr(loading, "PAUSE_SECONDS", 0)
    imports.import_codes(pool_id, upload("STEP-00100\nSTEP-00150\n"))
    lines = [f"STEP-{i:05d}" for i in range(1, 401)]
    for line in range(37, 401, 37):
        lines[line - 1] = lines[line - 30]  # line n repeats line n - 29
    result, offset = _import(pool_id, route, lines)
    expected = {line: ("duplicate_in_file", lines[line - 1]) for line in range(37, 401, 37)}
    expected[100], expected[150] = ("already_in_pool", "STEP-00100"), ("already_in_pool", "STEP-00150")
    assert _reasons(result, offset) == expected
    assert result.imported == 400 - len(expected) + offset
    assert kept_counts(pool_id) == real_counts(pool_id)


def test_plain_blocks_and_the_csv_reader_agree_with_the_code_rules(pool_id, route):
    lines = [
        "  AB-C  ", "a-b", "--x", "ABC.", "AB_C", "x" * 64, "y" * 65, "ab c", "ab\x0bcd",
        "\x0cABD\x0c", "A-B-E-", "--ab", "abf\r", "\x1fABG", "AB+C", "ABH*", "ab?i", "[ABJ]",
        "AB%K", "ab'l", "x", "  ", "ABM",
    ]
    result, offset = _import(pool_id, route, lines)
    expected = {}
    for number, line in enumerate(lines, start=1):
        code = line.strip()
        if code and check(code)[1]:
            expected[number] = (check(code)[1], code)
    assert _reasons(result, offset) == expected
    stored = set(db.session.scalars(select(Code.normalized).where(Code.pool_id == pool_id)))
    valid = {check(line.strip())[0] for line in lines if line.strip() and not check(line.strip())[1]}
    assert stored - {"QUOTED1"} == valid


def test_a_file_turning_to_csv_part_way_keeps_its_line_numbers(pool_id, monkeypatch):
    monkeypatch.setattr(filereader, "BLOCK_CHARS", 50)
    lines = [f"TURN-{i:05d}" for i in range(1, 301)]
    lines[99] = ""                    # a blank line is numbered but not read
    lines[249] = '"TURN,Q"'           # from here on the CSV reader reads the file
    lines[280] = lines[2]             # line 281 repeats line 3
    result = imports.import_codes(pool_id, upload("\r\n".join(lines) + "\r\n"))
    assert {r.line: (r.reason, r.value) for r in result.rejections} == {
        250: ("invalid_characters", "TURN,Q"), 281: ("duplicate_in_file", "TURN-00003")}
    assert result.lines == 299 and result.imported == 297


def test_a_bad_byte_in_a_plain_file_names_its_line(pool_id):
    good = "".join(f"LATE-{i:06d}\n" for i in range(30_000)).encode()
    with pytest.raises(MalformedFile) as info:
        imports.import_codes(pool_id, upload(good + b"BAD\xff\xfeCODE\nMORE-0001\n"))
    assert info.value.details["line"] == 30_001
    assert kept_counts(pool_id)["available"] == real_counts(pool_id)["available"] == 0


def test_the_same_file_again_finds_every_line_already_there(pool_id, route):
    lines = [f"AGAIN-{i:04d}" for i in range(500)]
    first, _ = _import(pool_id, route, lines)
    second, offset = _import(pool_id, route, lines)
    assert second.imported == 0
    assert second.by_reason == {"already_in_pool": 500 + offset}
    assert min(_reasons(second, offset)) == 1 - offset
    assert kept_counts(pool_id)["available"] == first.imported == 500 + offset
