"""The link to all of a customer's vouchers reaches them by every way out of the portal:
a campaign email (with the shop's brand), the API and the export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from PIL import Image

from portal import queue
from portal.services import accounts, assignment, brand, channels, imports, pools
from portal.services.errors import InvalidInput
from tests.helpers import customer, run_queue, upload

BASE = "http://portal.test"


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


@pytest.fixture
def maria(app) -> dict:
    """Maria holds a code in two pools; the spring pool's email names her wallet."""
    spring = pools.create_pool("Spring sale", benefit="10% off shoes")
    summer = pools.create_pool("Summer sale", benefit="Free socks")
    imports.import_codes(spring.id, upload("SPRI-0001\nSPRI-0002\n"))
    imports.import_codes(summer.id, upload("SUMM-0001\n"))
    data = customer("C1", first_name="Maria", email="maria@example.com", email_consent=True)
    assignment.assign_code(spring.id, data)
    assignment.assign_code(summer.id, data)
    channels.save(spring.id, "email", enabled=True, subject="Your {{ benefit }}",
                  body="Hello {{ first_name }},\n\nyour code: {{ code }}\n\n"
                       "All your vouchers: {{ wallet_url }}")
    return {"spring": spring.id, "summer": summer.id}


def open_wallet(client, url: str) -> str:
    assert url.startswith(BASE + "/v/c/")
    page = client.get(url.removeprefix(BASE))
    assert page.status_code == 200
    assert "SPRI-0001" in page.text and "SUMM-0001" in page.text
    return page.text


def logo_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (90, 30), (29, 77, 43)).save(out, "PNG")
    return out.getvalue()


def test_the_email_names_the_wallet_and_carries_the_brand(client, smtp, maria):
    brand.save("Shoe Shack", "#1d4d2b", logo_png())
    etag = brand.current().logo_etag
    job, _ = queue.start_send(maria["spring"], "email")
    run_queue()
    (message,) = smtp.messages
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    wallet = re.search(r"All your vouchers: (\S+)", text).group(1)
    open_wallet(client, wallet)
    assert f'<a href="{wallet}" style="color:#1d4d2b">{wallet}</a>' in html
    assert "Shoe Shack" in html
    logo = re.search(r'<img src="([^"]+)" alt="Shoe Shack"', html).group(1)
    assert logo == f"{BASE}/v/brand/logo/{etag}"
    served = client.get(logo.removeprefix(BASE))
    assert served.status_code == 200 and served.data == logo_png()
    assert "background:#1d4d2b" in html  # the button, in the accent colour


def test_without_a_brand_the_email_is_plain(smtp, maria):
    queue.start_send(maria["spring"], "email")
    run_queue()
    html = smtp.messages[0].get_body(("html",)).get_content()
    assert "<img" not in html and "background:#0b5cad" in html


def test_the_api_gives_the_wallet_url(client, maria):
    key = accounts.create_api_key("till", "pos").secret
    answer = client.get("/api/v1/customers/C1/vouchers", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    open_wallet(client, answer.json["wallet_url"])
    schema = client.get("/api/v1/openapi.json").json["components"]["schemas"]["CustomerVouchers"]
    assert "wallet_url" in schema["required"] and schema["properties"]["wallet_url"]["description"]


def test_the_export_has_a_wallet_column(as_role, client, maria):
    export = as_role("marketer").get(f"/pools/{maria['spring']}/export.csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert list(rows[0])[-1] == "wallet_url"
    (row,) = rows
    assert row["code"] == "SPRI-0001"
    open_wallet(client, row["wallet_url"])


def test_stage_4_lists_the_wallet_placeholder(as_role, maria):
    page = as_role("marketer").get(f"/pools/{maria['spring']}/channels")
    assert "{{ wallet_url }}" in page.text
    with pytest.raises(InvalidInput, match="unknown wallet"):
        channels.check_template("{{ wallet }}", "body")
