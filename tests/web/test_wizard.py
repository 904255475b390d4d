"""The marketer's dashboard, five-stage wizard and pool page, through the test client."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Code
from portal.services import assignment, imports, pools, redemption
from portal.services.links import voucher_url
from tests.conftest import DATA
from tests.helpers import customer, upload


@pytest.fixture
def marketer(as_role):
    return as_role("marketer")


@pytest.fixture
def pool_id(app) -> int:
    return pools.create_pool("Spring", benefit="10% off shoes").id


def visible_text(html: str) -> str:
    """What a person reads on the page: its text without the markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.split("<main", 1)[-1]))


def test_create_a_pool_then_land_on_codes(marketer):
    page = marketer.get("/pools/new")
    assert page.status_code == 200 and 'aria-current="step"' in page.text
    response = marketer.post("/pools/new", data={
        "name": "Spring", "benefit": "10% off", "barcode_format": "qr", "per_customer_limit": 1,
        "low_stock_threshold": 10, "require_assignment": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/codes")
    assert pools.list_pools()[0].low_stock_threshold == 10


def test_pool_errors_sit_beside_their_fields(marketer, pool_id):
    empty = marketer.post("/pools/new", data={"name": "", "per_customer_limit": 1,
                                              "barcode_format": "qr"})
    assert empty.status_code == 422
    assert 'id="name-error"' in empty.text and 'aria-invalid="true"' in empty.text
    assert "error-summary" in empty.text
    backwards = marketer.post("/pools/new", data={
        "name": "Later", "barcode_format": "qr", "per_customer_limit": 1,
        "valid_from": "2030-01-02T00:00", "valid_until": "2030-01-01T00:00"})
    assert backwards.status_code == 422
    said = visible_text(backwards.text)
    assert "The end must be after the start." in said and "valid_until" not in said
    nobody = marketer.post("/pools/new", data={"name": "None each", "barcode_format": "qr",
                                               "per_customer_limit": 0})
    assert nobody.status_code == 422 and "This field is required" not in nobody.text
    assert "Each customer may hold from 1 to 1,000,000 codes." in visible_text(nobody.text)
    taken = marketer.post("/pools/new", data={"name": "Spring", "barcode_format": "qr",
                                              "per_customer_limit": 1})
    assert taken.status_code == 422 and "already exists" in taken.text


def test_import_shows_summary_rejected_lines_and_csv(htmx, marketer, pool_id):
    with open(DATA / "codes-partner-export.csv", "rb") as fh:
        answer = htmx.post(f"/pools/{pool_id}/codes/import", data={"file": (fh, "partner.csv")})
    assert answer.status_code == 200
    assert "<strong>200</strong> codes imported" in answer.text
    assert "twice in the file</li>" in answer.text  # a summary by reason, in words
    assert "<details" in answer.text and "Lines left out: all 3" in answer.text
    assert 'hx-swap-oob="true"' in answer.text  # the counts update in the same response
    link = answer.text.split('href="')[-1].split('"')[0]
    report = marketer.get(link)
    rows = list(csv.reader(io.StringIO(report.text)))
    assert rows[0] == ["line", "value", "reason"] and len(rows) == 4


def test_exported_cells_cannot_run_as_formulas(htmx, marketer, pool_id):
    answer = htmx.post(f"/pools/{pool_id}/codes/import",
                       data={"file": (io.BytesIO(b"=HYPERLINK(1)\n+SUM(A1)\nGOOD-0001\n"), "x.csv")})
    link = answer.text.split('href="')[-1].split('"')[0]
    text = marketer.get(link).text
    assert "'=HYPERLINK(1)" in text and "'+SUM(A1)" in text


def test_malformed_upload_says_so_and_changes_nothing(htmx, marketer, pool_id):
    answer = htmx.post(f"/pools/{pool_id}/codes/import",
                       data={"file": (io.BytesIO(b"\x00\x01\x02"), "x.bin")})
    assert answer.status_code == 422 and "binary" in answer.text
    assert pools.counts(pool_id).total == 0
    no_file = marketer.post(f"/pools/{pool_id}/codes/import", data={})
    assert no_file.status_code == 422 and "Choose a file" in no_file.text


def test_generate_preview_and_generate(htmx, marketer, pool_id):
    preview = htmx.get(f"/pools/{pool_id}/codes/preview",
                       query_string={"charset": "numeric", "pattern": "GIFT-####", "count": 5})
    assert "GIFT-" in preview.text and "Room for 10,000" in preview.text
    vast = htmx.get(f"/pools/{pool_id}/codes/preview", query_string={"charset": "alphanumeric", "length": 10})
    assert "Room for more than" in vast.text and "trillion more codes" in vast.text
    bad = htmx.get(f"/pools/{pool_id}/codes/preview", query_string={"pattern": "NOHASH"})
    assert "at least one #" in bad.text
    made = htmx.post(f"/pools/{pool_id}/codes/generate", data={
        "count": 100, "charset": "numeric", "pattern": "GIFT-####", "length": 10})
    assert made.status_code == 201 and "<strong>100</strong> codes generated" in made.text
    too_many = marketer.post(f"/pools/{pool_id}/codes/generate", data={
        "count": 9000, "charset": "numeric", "pattern": "GIFT-####", "length": 10})
    assert too_many.status_code == 422 and "more than half" in too_many.text
    assert pools.counts(pool_id).available == 100


def test_customers_stage_assigns_a_list_and_one_customer(htmx, marketer, pool_id):
    says_missing = marketer.get(f"/pools/{pool_id}/customers")
    assert "has no codes yet" in says_missing.text and f"/pools/{pool_id}/codes" in says_missing.text
    imports.import_codes(pool_id, upload("\n".join(f"SPRI-{i:04d}" for i in range(150))))
    with open(DATA / "customers.csv", "rb") as fh:
        answer = htmx.post(f"/pools/{pool_id}/customers/upload", data={"file": (fh, "customers.csv")})
    assert answer.status_code == 200
    assert "<strong>120</strong> assigned" in answer.text and "<strong>1</strong> already" in answer.text
    assert 'id="pool-counts"' in answer.text and 'hx-swap-oob="true"' in answer.text
    one = htmx.post(f"/pools/{pool_id}/customers/add",
                    data={"customer_id": "NEW1", "first_name": "Ana", "email_consent": "y"})
    assert one.status_code == 201 and "Assigned" in one.text
    wrong = marketer.post(f"/pools/{pool_id}/customers/add", data={"customer_id": "X",
                                                                   "email": "nope"})
    assert wrong.status_code == 422 and "is not an email address" in wrong.text


def test_channels_messages_preview_and_export(htmx, marketer, pool_id):
    imports.import_codes(pool_id, upload("SPRI-0001\n=EVIL-1\n"))
    assignment.assign_code(pool_id, customer("C1", first_name="Maria", email="m@example.com"))
    page = marketer.get(f"/pools/{pool_id}/channels")
    assert "Preview for a sample customer" in page.text and "SAMPLE-CODE-1234" in page.text
    # The preview's link is a real voucher of the campaign, on the portal's public address.
    given = db.session.scalar(select(Code.id).where(Code.code == "SPRI-0001"))
    assert f'href="{voucher_url(given)}"' in page.text and voucher_url(given).startswith("http://portal.test/v/")
    assert "example.com/v/sample" not in page.text
    # The message box has room for the whole default email (7 lines), and grows with it.
    box = re.search(r'<textarea[^>]*id="email-body"[^>]*>', page.text).group(0)
    rows = int(re.search(r'rows="(\d+)"', box).group(1))
    assert rows >= 8 and 'class="grows"' in box
    assert "Use this channel" not in page.text and "in use" not in page.text
    preview = htmx.post(f"/pools/{pool_id}/channels/sms/preview",
                        data={"sms-body": "Hi {{ first_name }}, code {{ code }} ☕"})
    assert "Hi Maria, code SAMPLE-CODE-1234" in preview.text and "Unicode" in preview.text
    saved = marketer.post(f"/pools/{pool_id}/channels/email", data={
        "email-enabled": "y", "email-subject": "For you, {{ first_name }}",
        "email-body": "Use {{ code }}", "email-footer": "Unsubscribe any time."})
    assert saved.status_code == 302
    after = marketer.get(f"/pools/{pool_id}/channels").text
    assert "For you, Maria" in after
    assert "Email saved: the campaign uses it." in after and 'class="pill pill-ok">in use' in after
    broken = marketer.post(f"/pools/{pool_id}/channels/email",
                           data={"email-enabled": "y", "email-body": "Use {{ code"})
    assert broken.status_code == 422 and "broken placeholder" in broken.text
    export = marketer.get(f"/pools/{pool_id}/export.csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][:6] == ["customer_id", "first_name", "email", "phone", "code", "voucher_url"]
    assert rows[1][0] == "C1" and rows[1][4] == "SPRI-0001"
    assert rows[1][5].startswith("http://portal.test/v/")


def test_redemption_stage_window_check_and_chart(htmx, marketer, pool_id):
    imports.import_codes(pool_id, upload("SPRI-0001\nSPRI-0002\n"))
    code = assignment.assign_code(pool_id, customer("C1")).code
    redemption.redeem(code)
    page = marketer.get(f"/pools/{pool_id}/redemption")
    assert page.status_code == 200 and "Redemptions per day" in page.text and "<svg" in page.text
    assert 'href="/till/"' in page.text
    checked = htmx.post(f"/pools/{pool_id}/redemption/check", data={"code": code.lower()})
    assert "ALREADY REDEEMED" in checked.text and "<html" not in checked.text
    unknown = marketer.post(f"/pools/{pool_id}/redemption/check", data={"code": "NOPE"})
    assert "UNKNOWN CODE" in unknown.text and "<html" in unknown.text
    saved = marketer.post(f"/pools/{pool_id}/redemption", data={
        "valid_from": "2026-01-01T00:00", "valid_until": "2030-01-01T00:00", "per_customer_limit": 2})
    assert saved.status_code == 302 and pools.get_pool(pool_id).per_customer_limit == 2


def test_dashboard_shows_stage_low_stock_and_refreshes(htmx, marketer, pool_id):
    pools.update_pool(pool_id, low_stock_threshold=5)
    imports.import_codes(pool_id, upload("SPRI-0001\nSPRI-0002\n"))
    page = marketer.get("/pools/")
    assert "Low stock" in page.text and "stage 3 of 5: Customers" in page.text
    assert 'hx-trigger="every 10s, visibilitychange from:document"' in page.text
    partial = htmx.get(f"/pools/counts?ids={pool_id}")
    assert "<html" not in partial.text
    assert f'id="pool-{pool_id}-available" hx-swap-oob="true">2<' in partial.text


def test_empty_dashboard_says_what_to_do(marketer):
    assert "Create your first pool" in marketer.get("/pools/").text


def test_pool_page_browse_history_cancel_status_and_export(htmx, marketer, pool_id):
    imports.import_codes(pool_id, upload("\n".join(f"SPRI-{i:04d}" for i in range(120))))
    given = assignment.assign_code(pool_id, customer("C77"))
    page = marketer.get(f"/pools/{pool_id}")
    assert "Funnel" in page.text and "SPRI-0000" in page.text and "Next 50 codes" in page.text
    second = marketer.get(f"/pools/{pool_id}", query_string={"after": 50})
    assert "SPRI-0050" in second.text and "SPRI-0000" not in second.text
    by_customer = htmx.get(f"/pools/{pool_id}", query_string={"q": "C77"},
                           headers={"HX-Target": "code-browser"})
    assert given.code in by_customer.text and "<html" not in by_customer.text
    by_code = marketer.get(f"/pools/{pool_id}", query_string={"q": given.code.lower()})
    assert given.code in by_code.text
    only_assigned = marketer.get(f"/pools/{pool_id}", query_string={"status": "assigned"})
    assert "SPRI-0001" not in only_assigned.text or given.code == "SPRI-0001"
    detail = marketer.get(f"/pools/{pool_id}/codes/{given.code_id}")
    assert "assigned" in detail.text and "imported" in detail.text
    assert marketer.post(f"/pools/{pool_id}/codes/{given.code_id}", data={"reason": ""}).status_code == 422
    canceled = marketer.post(f"/pools/{pool_id}/codes/{given.code_id}", data={"reason": "fraud"},
                             follow_redirects=True)
    assert "canceled: fraud" in canceled.text
    marketer.post(f"/pools/{pool_id}/status", data={"status": "paused"})
    assert pools.get_pool(pool_id).status == "paused"
    export = marketer.get(f"/pools/{pool_id}/codes.csv")
    assert export.text.count("\r\n") == 121 and export.mimetype == "text/csv"
