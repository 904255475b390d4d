"""Every endpoint and error of the JSON API, through Flask's test client."""

from __future__ import annotations

import io

import pytest

from portal.services import accounts, pools
from tests.api.conftest import Api
from tests.conftest import DATA


@pytest.fixture
def pool(api) -> dict:
    response = api.post("/pools", {"name": "Spring", "benefit": "10% off",
                                   "valid_until": "2099-12-31T23:59:59+00:00"})
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def stocked(api, pool) -> dict:
    response = api.post(f"/pools/{pool['id']}/codes/generate", {"count": 20})
    assert response.status_code == 201
    return pool


def assigned_code(api, pool, customer_id="C1") -> str:
    response = api.post(f"/pools/{pool['id']}/assignments", {"customer_id": customer_id})
    assert response.status_code == 201, response.json
    return response.json["code"]


# --- authentication ---------------------------------------------------------------------------

def test_no_key_wrong_key_and_revoked_key_are_401(client, keys):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/pools", headers=headers)
        assert response.status_code == 401
        assert response.json["error"] == "unauthorized"
    key = accounts.find_api_key(keys["integration"])
    accounts.revoke_api_key(key.id)
    assert Api(client, keys["integration"]).get("/pools").status_code == 401


def test_pos_scope_may_only_check_redeem_roll_back_and_read_vouchers(pos, api, stocked):
    assert pos.get("/pools").status_code == 403
    assert pos.post("/pools", {"name": "X"}).json["error"] == "forbidden"
    assert pos.post(f"/pools/{stocked['id']}/assignments", {"customer_id": "C"}).status_code == 403
    code = assigned_code(api, stocked)
    assert pos.post("/redemptions/validate", {"code": code}).status_code == 200
    done = pos.post("/redemptions", {"code": code})
    assert done.status_code == 201
    assert pos.get("/customers/C1/vouchers").status_code == 200
    assert pos.post(f"/redemptions/{done.json['id']}/rollback", {"reason": "x"}).status_code == 200


# --- pools --------------------------------------------------------------------------------------

def test_create_read_list_and_patch_a_pool(api, pool):
    assert pool["name"] == "Spring" and pool["status"] == "active"
    assert pool["counts"] == {"available": 0, "assigned": 0, "redeemed": 0, "canceled": 0,
                              "total": 0}
    assert pool["valid_until"] == "2099-12-31T23:59:59Z" or pool["valid_until"].endswith("+00:00")
    assert pool["created_at"].endswith(("Z", "+00:00"))
    assert set(pool) == {"id", "name", "description", "benefit", "terms", "valid_from",
                         "valid_until", "per_customer_limit", "low_stock_threshold",
                         "barcode_format", "require_assignment", "status", "created_at", "counts",
                         "replenishment"}
    assert api.get(f"/pools/{pool['id']}").json == pool
    assert [p["id"] for p in api.get("/pools").json["pools"]] == [pool["id"]]
    patched = api.patch(f"/pools/{pool['id']}", {"status": "paused", "benefit": "15% off"})
    assert patched.status_code == 200
    assert (patched.json["status"], patched.json["benefit"]) == ("paused", "15% off")


def test_pool_errors(api, pool):
    assert api.post("/pools", {"name": "Spring"}).status_code == 409
    wrong = api.post("/pools", {"name": "X", "per_customer_limit": 0, "colour": "red"})
    assert wrong.status_code == 400 and wrong.json["error"] == "invalid_request"
    assert {f["field"] for f in wrong.json["fields"]} == {"per_customer_limit", "colour"}
    naive = api.post("/pools", {"name": "X", "valid_from": "2030-01-01T00:00:00"})
    assert naive.status_code == 400
    backwards = api.post("/pools", {"name": "X", "valid_from": "2030-01-02T00:00:00Z",
                                    "valid_until": "2030-01-01T00:00:00Z"})
    assert (backwards.status_code, backwards.json["error"]) == (422, "invalid_window")
    assert api.get("/pools/999").json["error"] == "unknown_pool"
    assert api.patch(f"/pools/{pool['id']}", {"status": "deleted"}).status_code == 400
    assert api.patch(f"/pools/{pool['id']}", {"name": None}).status_code == 400
    assert pools.list_pools()[0].status == "active"


def test_malformed_json_is_400_never_html(api, client, keys):
    response = client.post("/api/v1/pools", data="{not json",
                           headers={"Authorization": f"Bearer {keys['integration']}",
                                    "Content-Type": "application/json"})
    assert response.status_code == 400 and response.is_json
    assert api.post("/pools", ["a list"]).status_code == 400
    assert client.delete("/api/v1/pools").json["error"] == "method_not_allowed"
    assert client.get("/api/v1/nowhere").json["error"] == "not_found"


def test_too_large_body_is_413(app, api):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = api.post("/pools", {"name": "x" * 5000})
    assert response.status_code == 413
    assert response.json["error"] == "too_large"


# --- codes --------------------------------------------------------------------------------------

def test_import_raw_body_and_multipart(api, pool):
    body = (DATA / "codes-partner-export.csv").read_bytes()
    raw = api.client.post(f"/api/v1/pools/{pool['id']}/codes", data=body,
                          headers=api.headers({"Content-Type": "text/csv"}))
    assert raw.status_code == 200, raw.json
    assert (raw.json["imported"], raw.json["rejected"]) == (200, 3)
    assert raw.json["rejections"][0] == {"line": 203, "value": "HBU6EKQEUD",
                                         "reason": "duplicate_in_file"}
    assert raw.json["counts"]["available"] == 200
    with open(DATA / "codes-plain.txt", "rb") as fh:
        multi = api.client.post(f"/api/v1/pools/{pool['id']}/codes",
                                data={"file": (fh, "codes.txt")}, headers=api.headers())
    assert multi.status_code == 200 and multi.json["imported"] == 300


def test_import_errors(api, pool):
    url = f"/api/v1/pools/{pool['id']}/codes"
    binary = api.client.post(url, data=b"\x00\x01\x02", headers=api.headers(
        {"Content-Type": "text/plain"}))
    assert binary.status_code == 422 and binary.json["error"] == "malformed_file"
    wrong_type = api.client.post(url, json={"codes": []}, headers=api.headers())
    assert wrong_type.status_code == 415
    no_field = api.client.post(url, data={"other": (io.BytesIO(b"A1B2C3"), "a.txt")},
                               headers=api.headers())
    assert no_field.status_code == 400
    assert api.client.post("/api/v1/pools/999/codes", data=b"A", headers=api.headers(
        {"Content-Type": "text/plain"})).status_code == 404
    assert api.get(f"/pools/{pool['id']}").json["counts"]["total"] == 0


def test_rejections_are_capped_at_a_thousand(api, pool):
    response = api.client.post(f"/api/v1/pools/{pool['id']}/codes", data="x\n" * 1500,
                               headers=api.headers({"Content-Type": "text/plain"}))
    assert response.json["rejected"] == 1500 and len(response.json["rejections"]) == 1000


def test_generate(api, pool):
    response = api.post(f"/pools/{pool['id']}/codes/generate",
                        {"count": 50, "pattern": "GIFT-####", "charset": "numeric"})
    assert response.status_code == 201
    assert response.json["generated"] == 50 and len(response.json["sample"]) == 10
    assert all(code.startswith("GIFT-") for code in response.json["sample"])
    too_many = api.post(f"/pools/{pool['id']}/codes/generate",
                        {"count": 5000, "pattern": "GIFT-####", "charset": "numeric"})
    assert too_many.status_code == 422 and too_many.json["error"] == "code_space_too_small"
    assert too_many.json["remaining"] == 9950
    bad = api.post(f"/pools/{pool['id']}/codes/generate", {"count": 5, "pattern": "NOHASH"})
    assert bad.status_code == 400
    assert api.post(f"/pools/{pool['id']}/codes/generate", {"count": 0}).status_code == 400


# --- assignment ---------------------------------------------------------------------------------

def test_assign_then_already_assigned(api, stocked):
    url = f"/pools/{stocked['id']}/assignments"
    first = api.post(url, {"customer_id": "C1", "email": "c1@example.com", "email_consent": True})
    assert first.status_code == 201
    assert set(first.json) == {"code", "status", "pool_id", "customer_id", "assigned_at",
                               "expires_at", "voucher_url", "kept_withdrawn"}
    assert first.json["kept_withdrawn"] == []
    assert first.json["voucher_url"].startswith("http://portal.test/v/")
    again = api.post(url, {"customer_id": "C1"})
    assert again.status_code == 200 and again.json["code"] == first.json["code"]
    voucher = api.client.get(first.json["voucher_url"].replace("http://portal.test", ""))
    assert voucher.status_code == 200 and first.json["code"] in voucher.text


def test_assign_refusals(api, pool):
    url = f"/pools/{pool['id']}/assignments"
    empty = api.post(url, {"customer_id": "C1"})
    assert empty.status_code == 409 and empty.json["error"] == "pool_exhausted"
    api.patch(f"/pools/{pool['id']}", {"status": "paused"})
    assert api.post(url, {"customer_id": "C1"}).json["error"] == "pool_inactive"
    assert api.post(url, {"customer_id": ""}).status_code == 400
    assert api.post(url, {"customer_id": "C1", "email": "nope"}).status_code == 400


def test_bulk_assignment(api, stocked):
    customers = [{"customer_id": f"B{i}"} for i in range(5)]
    customers += [{"customer_id": "B0"}, {"customer_id": "B9", "email": "broken"}]
    response = api.post(f"/pools/{stocked['id']}/assignments/bulk", {"customers": customers})
    assert response.status_code == 200
    assert (response.json["assigned"], response.json["already_assigned"]) == (5, 1)
    assert response.json["failed"] == [{"index": 6, "customer_id": "B9", "error": "invalid_email",
                                         "message": "“broken” is not an email address."}]
    too_many = api.post(f"/pools/{stocked['id']}/assignments/bulk",
                        {"customers": [{"customer_id": "x"}] * 10_001})
    assert too_many.status_code == 400


def test_customer_vouchers(api, stocked):
    code = assigned_code(api, stocked)
    response = api.get("/customers/C1/vouchers")
    assert response.status_code == 200
    voucher = response.json["vouchers"][0]
    assert (voucher["code"], voucher["pool_name"], voucher["benefit"], voucher["status"]) == (
        code, "Spring", "10% off", "assigned")
    assert voucher["expires_at"].startswith("2099-12-31")
    assert api.get("/customers/nobody/vouchers").json["error"] == "unknown_customer"


# --- redemption ---------------------------------------------------------------------------------

def test_validate_reasons(pos, api, stocked):
    code = assigned_code(api, stocked)
    ok = pos.post("/redemptions/validate", {"code": code.lower()})
    assert ok.json["valid"] is True and ok.json["reason"] is None
    assert ok.json["voucher"]["code"] == code
    unknown = pos.post("/redemptions/validate", {"code": "NOPE-NOPE"})
    assert unknown.json == {"valid": False, "reason": "unknown_code", "voucher": None}
    free = api.get(f"/pools/{stocked['id']}").json  # an unassigned code is "not_assigned"
    assert free["counts"]["available"] == 19


def test_redeem_once_with_idempotency(pos, api, stocked):
    code = assigned_code(api, stocked)
    accounts.create_store("S1", "Main street")
    headers = {"Idempotency-Key": "till-4-0001"}
    first = pos.post("/redemptions", {"code": code, "store": "S1", "order_ref": "O1"},
                     headers=headers)
    assert first.status_code == 201
    assert set(first.json) == {"id", "code", "pool_id", "customer_id", "store", "order_ref",
                               "redeemed_at"}
    assert (first.json["store"], first.json["customer_id"]) == ("S1", "C1")
    replay = pos.post("/redemptions", {"code": code, "store": "S1", "order_ref": "O1"},
                      headers=headers)
    assert replay.status_code == 201 and replay.json == first.json
    again = pos.post("/redemptions", {"code": code})
    assert again.status_code == 409
    assert again.json["error"] == "already_redeemed" and again.json["store"] == "S1"
    assert again.json["redeemed_at"] == first.json["redeemed_at"] or again.json["redeemed_at"]
    assert api.get(f"/pools/{stocked['id']}").json["counts"]["redeemed"] == 1


def test_redeem_refusals(pos, api, stocked):
    assert pos.post("/redemptions", {"code": "NOPE-NOPE"}).status_code == 404
    code = assigned_code(api, stocked)
    assert pos.post("/redemptions", {"code": code, "store": "NOWHERE"}).json["error"] == "unknown_store"
    api.patch(f"/pools/{stocked['id']}", {"status": "paused"})
    paused = pos.post("/redemptions", {"code": code})
    assert paused.status_code == 422 and paused.json["error"] == "pool_inactive"
    assert pos.post("/redemptions", {"code": code},
                    headers={"Idempotency-Key": "x" * 151}).status_code == 400


def test_rollback(pos, api, stocked):
    code = assigned_code(api, stocked)
    done = pos.post("/redemptions", {"code": code}).json
    back = pos.post(f"/redemptions/{done['id']}/rollback", {"reason": "returned"})
    assert back.status_code == 200
    assert back.json["code_status"] == "assigned" and back.json["rollback_reason"] == "returned"
    twice = pos.post(f"/redemptions/{done['id']}/rollback", {"reason": "returned"})
    assert twice.status_code == 409 and twice.json["error"] == "already_rolled_back"
    assert pos.post("/redemptions/999/rollback", {"reason": "x"}).status_code == 404
    assert pos.post(f"/redemptions/{done['id']}/rollback", {}).status_code == 400


def test_openapi_document_and_health(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/redemptions" in doc["paths"]
    redeem = doc["paths"]["/api/v1/redemptions"]["post"]
    schema_ref = redeem["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert doc["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]["required"] == ["code"]
    assert {"201", "409", "429"} <= set(redeem["responses"])
    assert client.get("/healthz").status_code == 200
