"""Inputs that once slipped through: each case here was found by review and must stay fixed."""

from __future__ import annotations

import threading

import pytest

from portal.services import assignment, imports, pools, redemption
from portal.services.barcodes import picture
from portal.services.channels import check_template, render
from portal.services.errors import Conflict, InvalidInput
from portal.services.formats import is_ean13
from portal.services.spreadsheet import safe_cell
from tests.helpers import customer, pool_with_codes, upload


def test_an_idempotency_key_only_repeats_the_same_redemption(app):
    pool_id = pool_with_codes(n=3)
    a = assignment.assign_code(pool_id, customer("A")).code
    b = assignment.assign_code(pool_id, customer("B")).code
    first = redemption.redeem(a, idempotency_key="k1")
    with pytest.raises(Conflict) as info:
        redemption.redeem(b, idempotency_key="k1")
    assert info.value.reason == "idempotency_key_reused"
    assert redemption.validate(b).valid  # B was not touched
    redemption.rollback(first.id, "returned")
    with pytest.raises(Conflict) as info:
        redemption.redeem(a, idempotency_key="k1")
    assert info.value.reason == "idempotency_key_rolled_back"
    assert redemption.redeem(a, idempotency_key="k2").code.status == "redeemed"


def test_reversed_customer_lists_at_once_do_not_deadlock(app):
    pool_id = pool_with_codes(n=100)
    rows = [(i, customer(f"D{i:03d}")) for i in range(40)]
    results: list = [None, None]
    barrier = threading.Barrier(2)

    def run(index: int, items: list) -> None:
        from portal.extensions import db

        with app.app_context():
            barrier.wait()
            try:
                results[index] = assignment.assign_many(pool_id, items)
            except Exception as exc:  # noqa: BLE001
                results[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(0, rows)),
               threading.Thread(target=run, args=(1, list(reversed(rows))))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted((r.assigned, r.already_assigned) for r in results) == [(0, 40), (40, 0)]


def test_out_of_range_dates_are_rejected_not_crashing(app):
    pool_id = pools.create_pool("Dates").id
    result = imports.import_codes(pool_id, upload(
        "code,expires_at\nAAA111,9999-12-31T23:00:00-05:00\nBBB222,2030-01-01\n"))
    assert result.imported == 1 and result.by_reason == {"invalid_expiry": 1}
    from datetime import UTC, datetime
    with pytest.raises(InvalidInput) as info:
        pools.update_pool(pool_id, valid_until=datetime(9999, 12, 31, tzinfo=UTC))
    assert (info.value.reason, info.value.details["field"]) == ("invalid_request", "valid_until")


def test_headerless_files_with_more_columns_say_what_was_read(app):
    pool_id = pools.create_pool("Columns").id
    result = imports.import_codes(pool_id, upload("QQQ111,2020-01-01\nRRR222,2020-01-01\n"))
    assert result.imported == 2
    assert "no header" in result.notes[0]


def test_nul_characters_in_a_large_file_are_rejected_lines(app):
    pool_id = pools.create_pool("Nul").id
    body = "\n".join(f"NUL-{i:06d}" for i in range(8000)) + "\nBAD\x00CODE\n"
    result = imports.import_codes(pool_id, upload(body))
    assert result.imported == 8000 and result.by_reason == {"invalid_characters": 1}


def test_ean13_only_for_valid_13_digit_codes():
    assert is_ean13("4006381333931") and not is_ean13("4006381333932")
    assert not is_ean13("123456789012")
    assert picture("123456789012", "ean13").kind == "code128"  # an older code, drawn as Code 128


@pytest.mark.parametrize(("cell", "written"), [
    # Arithmetic that once passed as a "plain number": a spreadsheet computes it.
    ("-1-1-1", "'-1-1-1"),
    ("-123-45", "'-123-45"),
    ("+48 608 437 485", "'+48 608 437 485"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("=1+1", "'=1+1"),
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
    ("+SUM(A1)", "'+SUM(A1)"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("-", "'-"),
    ("+", "'+"),
    ("-0x1F", "'-0x1F"),
    # Numbers as a spreadsheet reads them evaluate to themselves, so they stay readable;
    # a phone number in E.164 is one.
    ("-5", "-5"),
    ("-1.5", "-1.5"),
    ("-1,5", "-1,5"),
    ("+3e5", "+3e5"),
    ("-.5", "-.5"),
    ("+48608437485", "+48608437485"),
    ("1e5", "1e5"),
    ("1-2", "1-2"),
    ("ana@example.com", "ana@example.com"),
    ("", ""),
    (None, ""),
])
def test_exports_neutralise_what_a_spreadsheet_would_evaluate(cell, written):
    assert safe_cell(cell) == written


def test_messages_only_fill_the_known_placeholders():
    values = {"code": "C1", "first_name": "Ana"}
    assert render("Hi {{first_name}}, {{ code }}", values) == "Hi Ana, C1"
    for broken in ("{{ 'x' * 10**9 }}", "{{ config }}", "Hi {{ code"):
        with pytest.raises(InvalidInput) as info:
            check_template(broken, "body")
        assert (info.value.reason, info.value.details["field"]) == ("invalid_request", "body")


def test_pages_refuse_hostile_parameters(as_role, app):
    marketer = as_role("marketer")
    pool_id = pool_with_codes(n=2)
    other = pool_with_codes("Other", n=0)
    batch = imports.import_codes(other, upload("x\n")).batch_id
    assert marketer.get(f"/pools/{pool_id}/imports/{batch}/rejections.csv").status_code == 404
    assert marketer.get(f"/pools/{pool_id}", query_string={"after": 10**20}).status_code == 200
    preview = marketer.get(f"/pools/{pool_id}/codes/preview", query_string={"length": 20_000_000_000})
    assert preview.status_code == 200 and "Length must be" in preview.text
    assert marketer.get(f"/pools/{pool_id}", query_string={"q": "a\x00b"}).status_code == 400
    assert marketer.post("/pools/new", data={"name": "x\x00y", "barcode_format": "qr",
                                             "per_customer_limit": 1}).status_code == 400


@pytest.mark.parametrize("target", ["/%09/evil.example", "/\\evil.example", "//evil.example",
                                    "https://evil.example/", "/%0d%0a/x"])
def test_sign_in_never_redirects_off_site(client, users, target):
    response = client.post("/login?next=" + target,
                           data={"email": users["admin"], "password": "correct horse battery"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/pools/"


def test_api_refuses_nul_and_reused_keys(client, app):
    from portal.services import accounts

    key = accounts.create_api_key("k", "integration").secret
    headers = {"Authorization": f"Bearer {key}"}
    nul = client.post("/api/v1/pools", data='{"name": "a\\u0000b"}', headers={
        **headers, "Content-Type": "application/json"})
    assert nul.status_code == 400 and nul.json["error"] == "invalid_request"
    pool_id = pool_with_codes(n=3, require_assignment=False)
    first = client.post("/api/v1/redemptions", json={"code": "SPRI-00001"},
                        headers={**headers, "Idempotency-Key": "same"})
    assert first.status_code == 201
    other = client.post("/api/v1/redemptions", json={"code": "SPRI-00002"},
                        headers={**headers, "Idempotency-Key": "same"})
    assert other.status_code == 409 and other.json["error"] == "idempotency_key_reused"
    assert pools.counts(pool_id).redeemed == 1
