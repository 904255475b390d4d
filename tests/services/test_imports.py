"""Import: dialects, headers, every rejection reason, and all-or-nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code, ImportBatch
from portal.services import imports, pools
from portal.services.errors import Conflict, MalformedFile
from tests.conftest import DATA
from tests.helpers import kept_counts, real_counts, upload


@pytest.fixture
def pool_id(app) -> int:
    return pools.create_pool("Spring").id


def reasons(result) -> dict[int, str]:
    return {r.line: r.reason for r in result.rejections}


def test_partner_export_with_bom_semicolons_crlf_and_header(pool_id):
    with open(DATA / "codes-partner-export.csv", "rb") as fh:
        result = imports.import_codes(pool_id, fh)
    assert result.imported == 200
    # Line numbers are the file's own: header on line 1 and a blank line counted.
    assert reasons(result) == {203: "duplicate_in_file", 204: "too_short", 205: "invalid_characters"}
    assert [r.value for r in result.rejections] == ["HBU6EKQEUD", "AB", "HELLO WORLD"]
    code = db.session.scalar(select(Code).where(Code.normalized == "M9EPXBC5UD"))
    assert code.expires_at.isoformat() == "2027-06-30T23:59:59+00:00"
    assert result.counts.available == 200


def test_plain_text_lower_case_hyphens_and_spaces(pool_id):
    with open(DATA / "codes-plain.txt", "rb") as fh:
        result = imports.import_codes(pool_id, fh)
    assert result.imported == 300
    assert sorted(reasons(result).values()) == ["invalid_characters", "too_long"]
    code = db.session.scalar(select(Code).where(Code.normalized == "SPRINGPF44JD3T"))
    assert code.code == "spring-pf44-jd3t"  # stored as given, trimmed; found normalized


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_header_aliases_in_any_case_and_delimiter(pool_id, delimiter):
    rows = [["Customer Ref", "Voucher_Code", "Expiry"], ["x", "AAA-111", "2030-01-02"],
            ["y", '"BBB;,\t222"', ""], ["z", "CCC333", "2030-01-02T10:00:00+02:00"]]
    text = "\r\n".join(delimiter.join(r) for r in rows) + "\r\n"
    result = imports.import_codes(pool_id, upload(text))
    assert result.imported == 2
    assert reasons(result) == {3: "invalid_characters"}
    ccc = db.session.scalar(select(Code).where(Code.normalized == "CCC333"))
    assert ccc.expires_at.isoformat() == "2030-01-02T08:00:00+00:00"


@pytest.mark.parametrize("header", ["coupon", "Coupon Code", "PROMO_CODE", "voucher", "code"])
def test_code_column_found_by_its_other_names(pool_id, header):
    result = imports.import_codes(pool_id, upload(f"id,{header}\n1,ABC123\n2,DEF456\n"))
    assert result.imported == 2
    assert result.rejected == 0


def test_without_header_the_first_column_is_the_code(pool_id):
    result = imports.import_codes(pool_id, upload("ABC123,whatever\n\n\nDEF456,else\n"))
    assert result.imported == 2
    assert db.session.scalar(select(func.count()).select_from(Code)) == 2


def test_every_rejection_reason_with_line_and_value(pool_id, app):
    other = pools.create_pool("Other").id
    imports.import_codes(other, upload("ELSEWHERE1\n"))
    imports.import_codes(pool_id, upload("ALREADY1\n"))
    text = "\n".join([
        "GOOD-0001",      # 1
        "ab",             # 2 too_short
        "X" * 65,         # 3 too_long
        "BAD CODE",       # 4 invalid_characters
        "good-0001",      # 5 duplicate_in_file (same normalized as line 1)
        "already1",       # 6 already_in_pool
        "elsewhere-1",    # 7 in_other_pool
        "",               # 8 blank, skipped
        "  GOOD-0002  ",  # 9 fine, trimmed
        "---",            # 10 too_short once hyphens are removed
    ])
    result = imports.import_codes(pool_id, upload(text))
    assert reasons(result) == {
        2: "too_short", 3: "too_long", 4: "invalid_characters", 5: "duplicate_in_file",
        6: "already_in_pool", 7: "in_other_pool", 10: "too_short",
    }
    assert result.imported == 2
    assert result.by_reason == {"already_in_pool": 1, "duplicate_in_file": 1, "in_other_pool": 1,
                                "invalid_characters": 1, "too_long": 1, "too_short": 2}
    assert dict((r.line, r.value) for r in result.rejections)[4] == "BAD CODE"


def test_boundary_lengths(pool_id):
    result = imports.import_codes(pool_id, upload("ABC\n" + "Z" * 64 + "\nAB\n" + "Y" * 65))
    assert result.imported == 2
    assert reasons(result) == {3: "too_short", 4: "too_long"}


def test_invalid_expiry_is_reported(pool_id):
    result = imports.import_codes(pool_id, upload("code,expires_at\nAAA111,tomorrow\nBBB222,\n"))
    assert result.imported == 1
    assert reasons(result) == {2: "invalid_expiry"}


def test_same_file_twice_imports_nothing_and_says_why(pool_id):
    with open(DATA / "codes-plain.txt", "rb") as fh:
        imports.import_codes(pool_id, fh)
    with open(DATA / "codes-plain.txt", "rb") as fh:
        second = imports.import_codes(pool_id, fh)
    assert second.imported == 0
    assert second.by_reason["already_in_pool"] == 300
    assert second.previously_imported_at is not None
    assert "already imported" in second.notes[0]
    assert kept_counts(pool_id) == real_counts(pool_id) == {
        "available": 300, "assigned": 0, "redeemed": 0, "canceled": 0}


def test_rejections_listed_up_to_a_thousand_but_all_kept(pool_id):
    result = imports.import_codes(pool_id, upload("\n".join(["x"] * 1500)))
    assert result.rejected == 1500
    assert len(result.rejections) == imports.LISTED_REJECTIONS
    assert len(imports.rejections(result.batch_id)) == 1500


@pytest.mark.parametrize("content, words", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    ("CODE1\nCAFÉ-1\n".encode("latin-1"), "UTF-8"),
])
def test_malformed_file_is_refused_and_changes_nothing(pool_id, content, words):
    imports.import_codes(pool_id, upload("KEEP-0001\n"))
    before = db.session.scalar(select(func.count()).select_from(ImportBatch))
    with pytest.raises(MalformedFile) as info:
        imports.import_codes(pool_id, upload(content))
    assert info.value.reason == "malformed_file" and words in info.value.message
    assert db.session.scalar(select(func.count()).select_from(Code)) == 1
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == before
    assert kept_counts(pool_id)["available"] == 1


def test_a_bad_byte_late_in_a_big_file_leaves_the_pool_as_before(pool_id):
    good = "\n".join(f"LATE-{i:06d}" for i in range(30_000)).encode()
    with pytest.raises(MalformedFile) as info:
        imports.import_codes(pool_id, upload(good + b"\nBAD\xff\xfeCODE\n"))
    assert info.value.reason == "malformed_file" and info.value.details["line"] >= 29_000
    assert db.session.scalar(select(func.count()).select_from(Code)) == 0
    assert kept_counts(pool_id) == real_counts(pool_id)
    assert kept_counts(pool_id)["available"] == 0


def test_a_field_too_large_for_csv_is_a_clear_error(pool_id):
    with pytest.raises(MalformedFile) as info:
        imports.import_codes(pool_id, upload("CODE1\n" + "Q" * 200_000 + "\n"))
    assert info.value.reason == "malformed_file" and info.value.details["line"] == 2
    assert db.session.scalar(select(func.count()).select_from(Code)) == 0


def test_empty_file_imports_nothing(pool_id):
    result = imports.import_codes(pool_id, upload(""))
    assert (result.imported, result.rejected, result.lines) == (0, 0, 0)


def test_header_without_a_code_column_is_refused(pool_id):
    with pytest.raises(MalformedFile) as info:
        imports.import_codes(pool_id, upload("email,expiry\na@b.c,2030-01-01\n"))
    assert info.value.reason == "malformed_file"


def test_archived_pool_takes_no_codes(pool_id):
    pools.set_status(pool_id, "archived")
    with pytest.raises(Conflict) as info:
        imports.import_codes(pool_id, upload("ABC123\n"))
    assert info.value.reason == "pool_archived"
