"""The pool page's code browser and the code export, read through the test client: paging,
filters and searches find what the codes say, and the export's bytes follow its rules."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Code
from portal.pools.code_list import PAGE
from portal.services import assignment, imports, pools, redemption
from portal.services.spreadsheet import csv_chunks, csv_lines
from tests.helpers import customer, pool_with_codes, upload

BROWSER = {"HX-Target": "code-browser"}


@pytest.fixture
def marketer(as_role):
    return as_role("marketer")


def shown(page) -> list[str]:  # noqa: ANN001
    """The codes a browser page lists, in order."""
    return re.findall(r"<code[^>]*>([^<]+)</code>", page.text)


def next_after(page) -> int | None:  # noqa: ANN001
    found = re.search(r"after=(\d+)", page.text)
    return int(found.group(1)) if found else None


def walk(client, pool_id: int, **query) -> list[str]:  # noqa: ANN001, ANN003
    """Every code the browser lists, following its "Next" links to the end."""
    seen, after = [], 0
    while True:
        page = client.get(f"/pools/{pool_id}", query_string={**query, "after": after}, headers=BROWSER)
        assert page.status_code == 200
        seen += shown(page)
        after = next_after(page)
        if after is None:
            return seen


def in_id_order(pool_id: int, status: str | None = None) -> list[str]:
    stmt = select(Code.code).where(Code.pool_id == pool_id).order_by(Code.id)
    if status:
        stmt = stmt.where(Code.status == status)
    return list(db.session.scalars(stmt))


@pytest.fixture
def mixed_pool(app) -> int:
    """130 codes in every status, the statuses interleaved along the ids."""
    pool_id = pool_with_codes("Mixed", 130)
    for n in range(40):
        given = assignment.assign_code(pool_id, customer(f"M{n}"))
        if n % 3 == 0:
            redemption.redeem(given.code)
        elif n % 3 == 1:
            redemption.cancel(given.code, "test")
    return pool_id


def test_paging_lists_every_code_once_in_id_order(marketer, mixed_pool):
    assert walk(marketer, mixed_pool) == in_id_order(mixed_pool)
    for status in ("available", "assigned", "redeemed", "canceled"):
        assert walk(marketer, mixed_pool, status=status) == in_id_order(mixed_pool, status)


def test_a_page_holds_fifty_and_says_where_to_go_on(marketer, mixed_pool):
    first = marketer.get(f"/pools/{mixed_pool}")
    assert len(shown(first)) == PAGE and "Next 50 codes" in first.text
    last = marketer.get(f"/pools/{mixed_pool}", query_string={"after": next_after(first) + 50})
    assert len(shown(last)) == 130 - 2 * PAGE and "Next 50 codes" not in last.text


def test_search_by_email_in_any_case_finds_the_customers_codes(marketer, app):
    pool_id = pool_with_codes("Spring", 20)
    other = pool_with_codes("Autumn", 5)
    # The local part keeps its case when stored; the domain is lowered.
    given = assignment.assign_code(pool_id, customer("C1", email="Maria.Lopez@Example.COM"))
    elsewhere = assignment.assign_code(other, customer("C1"))
    for typed in ("Maria.Lopez@example.com", "maria.lopez@example.com", "MARIA.LOPEZ@EXAMPLE.COM"):
        page = marketer.get(f"/pools/{pool_id}", query_string={"q": typed}, headers=BROWSER)
        assert shown(page) == [given.code], typed
        assert elsewhere.code not in page.text  # only this pool's codes


def test_search_by_customer_id_and_by_code_typed_loosely(marketer, app):
    pool_id = pools.create_pool("Loose", per_customer_limit=3).id
    imports.import_codes(pool_id, upload("\n".join(f"LOOS-{i:03d}" for i in range(10))))
    first = assignment.assign_code(pool_id, customer("K-9"))
    by_code = marketer.get(f"/pools/{pool_id}", query_string={"q": " loos 00" + first.code[-1]},
                           headers=BROWSER)
    assert shown(by_code) == [first.code]
    by_customer = marketer.get(f"/pools/{pool_id}", query_string={"q": "K-9"}, headers=BROWSER)
    assert shown(by_customer) == [first.code]
    assert "No code matches." in marketer.get(f"/pools/{pool_id}", query_string={"q": "nobody"}).text
    # The search keeps to the status chosen.
    redeemed = marketer.get(f"/pools/{pool_id}", query_string={"q": "K-9", "status": "redeemed"})
    assert shown(redeemed) == []


def test_a_code_that_is_also_a_customer_id_is_listed_once(marketer, app):
    pool_id = pool_with_codes("Twice", 3)
    code = in_id_order(pool_id)[1]
    given = assignment.assign_code(pool_id, customer(code))  # the customer's id is a code's text
    page = marketer.get(f"/pools/{pool_id}", query_string={"q": code}, headers=BROWSER)
    assert sorted(shown(page)) == sorted({code, given.code})


def test_code_export_rows_columns_and_spreadsheet_safety(marketer, app):
    pool_id = pool_with_codes("Export", 5)
    imports.import_codes(pool_id, upload("-SUM\n"))  # a code a spreadsheet would read as a formula
    given = assignment.assign_code(pool_id, customer("=HYPERLINK(1)"))
    redemption.redeem(given.code)
    export = marketer.get(f"/pools/{pool_id}/codes.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.headers["Content-Disposition"] == f"attachment; filename=pool-{pool_id}-codes.csv"
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["code", "status", "customer_id", "assigned_at", "redeemed_at", "expires_at"]
    codes = db.session.scalars(select(Code).where(Code.pool_id == pool_id).order_by(Code.id)).all()
    assert [row[0] for row in rows[1:]] == [("'" if c.code.startswith("-") else "") + c.code for c in codes]
    held = next(row for row in rows if row[0] == given.code)
    code = db.session.get(Code, given.code_id)
    assert held == [given.code, "redeemed", "'=HYPERLINK(1)", code.assigned_at.isoformat(),
                    code.redeemed_at.isoformat(), ""]
    assert export.text.endswith("\r\n") and export.text.count("\r\n") == 1 + len(codes)


def test_chunked_csv_is_the_same_text_as_line_by_line():
    rows = [[i, f"=cell{i}", "-12", "+48 608", None, "a,b\"c"] for i in range(2_345)]
    header = ["n", "formula", "number", "phone", "none", "quoted"]
    whole = "".join(csv_lines(header, rows))
    for size in (1, 7, 1000, 5000):
        chunks = list(csv_chunks(header, rows, lines=size))
        assert "".join(chunks) == whole
        assert (len(chunks) == 1) == (size > len(rows))
    assert "".join(csv_chunks(header, [])) == "".join(csv_lines(header, []))


def test_the_export_postgresql_writes_is_the_text_python_writes(marketer, app, dialect):
    if dialect != "postgresql":
        pytest.skip("PostgreSQL writes the lines itself only there")
    from datetime import UTC, datetime

    from portal.pools import code_list

    holders = ["=1+2", "-12", "+48608437485", "+48 608", "-1,5", ".5", "@home", "\tTab", "a,b",
               'say "hi"', "line\nbreak", "cr\rhere", "plain", " lead", "ünï", "12e5", "-", "'quoted'"]
    pool_id = pools.create_pool("Tricky", per_customer_limit=1).id
    imports.import_codes(pool_id, upload("\n".join(f"-TR-{i:03d}" for i in range(len(holders) + 3))))
    for n, holder in enumerate(holders):
        given = assignment.assign_code(pool_id, customer(holder))
        code = db.session.get(Code, given.code_id)
        # Whole seconds and microseconds both: isoformat writes them differently.
        code.assigned_at = datetime(2026, 3, 1, 12, 0, n, 0 if n % 2 else 123450, tzinfo=UTC)
        code.expires_at = datetime(2027, 1, 1, tzinfo=UTC) if n % 3 == 0 else None
        db.session.commit()
        if n % 4 == 0:
            redemption.redeem(given.code)
    by_python = "".join(csv_chunks(code_list.EXPORT_HEADER, code_list.export_rows(pool_id)))
    db.session.rollback()
    by_database = "".join(code_list.export_text(pool_id))
    db.session.rollback()
    assert by_database == by_python
    assert marketer.get(f"/pools/{pool_id}/codes.csv").text == by_python
    rows = list(csv.reader(io.StringIO(by_python)))
    assert {row[2] for row in rows[1:]} >= {"'=1+2", "-12", "+48608437485", "'+48 608", "a,b",
                                            'say "hi"', "line\nbreak"}


def test_the_stage_4_export_postgresql_writes_is_the_text_python_writes(marketer, app, dialect):
    if dialect != "postgresql":
        pytest.skip("PostgreSQL writes the lines itself only there")
    from datetime import UTC, datetime

    from portal.services import channels

    pool_id = pools.create_pool("Links", valid_until=datetime(2027, 6, 1, 8, 30, tzinfo=UTC)).id
    imports.import_codes(pool_id, upload("\n".join(f"LINK-{i:03d}" for i in range(12))))
    people = [("=cmd", "Anna, Jr.", "a@example.com", "+48608437485"),
              ("-5", '"Bo"', None, "+48 608 437 485"), ("C3", "line\nbreak", "c@example.com", None),
              ("@c4", None, None, None), ("C5", "Zoë", None, None)]
    for n, (external, first, email, phone) in enumerate(people):
        data = customer(external, first_name=first, email=email, phone=phone)
        given = assignment.assign_code(pool_id, data)
        if n % 2:  # its own expiry before the pool's end, with and without microseconds
            db.session.get(Code, given.code_id).expires_at = datetime(2027, 1, 2, 3, 4, 5, 6 * n, tzinfo=UTC)
            db.session.commit()
        if n == 3:
            redemption.redeem(given.code)
    by_python = "".join(csv_chunks(channels.EXPORT_HEADER, channels.export_rows(pool_id)))
    db.session.rollback()
    by_database = "".join(channels.export_text(pool_id))
    db.session.rollback()
    assert by_database == by_python
    rows = list(csv.reader(io.StringIO(by_python)))
    assert len(rows) == 1 + len(people) and rows[0][-1] == "wallet_url"
    assert marketer.get(f"/pools/{pool_id}/export.csv").text == by_python
