"""The API and the wizard say what an EAN-13 pool needs, and refuse what does not fit."""

from __future__ import annotations

import io


def test_the_api_refuses_letters_in_an_ean13_pool(api):
    pool = api.post("/pools", {"name": "Shelf", "barcode_format": "ean13"}).json
    imported = api.post(f"/pools/{pool['id']}/codes", data="4006381333931\nSPRI-0001\n",
                        headers={"Content-Type": "text/csv"})
    assert imported.status_code == 200
    assert imported.json["imported"] == 1
    assert imported.json["rejections"] == [{"line": 2, "value": "SPRI-0001", "reason": "not_ean13"}]
    letters = api.post(f"/pools/{pool['id']}/codes/generate", {"count": 5})  # alphanumeric
    assert letters.status_code == 422 and letters.json["error"] == "not_ean13"
    digits = api.post(f"/pools/{pool['id']}/codes/generate", {"count": 5, "charset": "numeric", "length": 12})
    assert digits.status_code == 201 and all(len(code) == 13 for code in digits.json["sample"])

    other = api.post("/pools", {"name": "Letters"}).json
    api.post(f"/pools/{other['id']}/codes", data="SPRI-0001\n", headers={"Content-Type": "text/csv"})
    switched = api.patch(f"/pools/{other['id']}", {"barcode_format": "ean13"})
    assert switched.status_code == 422 and switched.json["error"] == "not_ean13"

    described = api.get("/openapi.json").json["components"]["schemas"]["PoolCreate"]
    assert "check digit" in str(described["properties"]["barcode_format"])


def test_stage_one_says_what_ean13_needs_and_refuses_a_switch_that_does_not_fit(as_role):
    marketer = as_role("marketer")
    form = {"name": "Spring", "barcode_format": "qr", "per_customer_limit": 1}
    created = marketer.post("/pools/new", data=form)
    pool_path = created.headers["Location"].rsplit("/", 1)[0]
    page = marketer.get(f"{pool_path}/pool")
    assert "13 digits whose last is the check digit" in page.text
    marketer.post(f"{pool_path}/codes/import", data={"file": (io.BytesIO(b"SPRI-0001\n"), "c.csv")})
    refused = marketer.post(f"{pool_path}/pool", data={**form, "barcode_format": "ean13"})
    assert refused.status_code == 422 and "cannot be drawn as EAN-13" in refused.text


def test_generating_in_an_ean13_pool_starts_from_twelve_digits(as_role):
    marketer = as_role("marketer")
    created = marketer.post("/pools/new", data={"name": "Shelf", "barcode_format": "ean13",
                                                "per_customer_limit": 1})
    codes = marketer.get(created.headers["Location"].rsplit("/", 1)[0] + "/codes")
    assert "12 digits and the check digit the portal adds" in codes.text
    assert '<option selected value="numeric">' in codes.text and 'value="12"' in codes.text
