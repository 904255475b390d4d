"""What a client generated from the document relies on: every error in the one `Error`
shape the document states (with `fields` on every 400 and each extra member typed), the
headers RFC 6750 and 429 answers carry, and a 500 that is JSON too."""

from __future__ import annotations

import ast
from pathlib import Path

import jsonschema_rs
import pytest

import portal
from portal.api.spec import openapi
from portal.services import accounts, assignment, redemption
from portal.services.wording import REASONS
from tests.helpers import customer, pool_with_codes


@pytest.fixture
def document(app) -> dict:
    return openapi()


def conforms(document: dict, path: str, method: str, status: int | str, body: dict) -> bool:
    """Whether the body is what the document says this response carries."""
    responses = document["paths"]["/api/v1" + path][method]["responses"]
    response = responses.get(str(status), responses["default"])
    schema = response["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": document["components"]}).is_valid(body)


def test_every_400_names_its_fields_in_one_shape(api, pos, client, keys, document):
    pool_id = pool_with_codes(n=3)
    answers = {
        "body validation": ("/pools", "post", api.post("/pools", {"name": "X", "colour": "red"})),
        "not JSON": ("/pools", "post", client.post("/api/v1/pools", data="{", headers={
            "Authorization": f"Bearer {keys['integration']}", "Content-Type": "application/json"})),
        "a header": ("/redemptions", "post",
                     pos.post("/redemptions", {"code": "X"}, headers={"Idempotency-Key": "k" * 151})),
        "a query parameter": ("/customer/vouchers", "get", pos.get("/customer/vouchers")),
        "a service's check": ("/pools/{pool_id}/codes/generate", "post", api.post(
            f"/pools/{pool_id}/codes/generate", {"count": 5, "pattern": "NOHASH"})),
    }
    named = {}
    for what, (path, method, response) in answers.items():
        assert response.status_code == 400, what
        assert "field" not in response.json, what
        assert conforms(document, path, method, 400, response.json), (what, response.json)
        named[what] = [f["field"] for f in response.json["fields"]]
    assert named == {"body validation": ["colour"], "not JSON": ["(body)"], "a header": ["Idempotency-Key"],
                     "a query parameter": ["customer_id"], "a service's check": ["pattern"]}


def test_the_extra_members_of_errors_are_typed_in_the_document(app, api, pos, document):
    pool_id = pool_with_codes(n=3, require_assignment=False)
    accounts.create_store("S1", "Main street")
    redemption.redeem("SPRI-00001", store_id=accounts.find_store("S1").id)
    again = pos.post("/redemptions", {"code": "SPRI-00001"})
    assert (again.status_code, again.json["error"], again.json["store"]) == (409, "already_redeemed", "S1")
    assert conforms(document, "/redemptions", "post", 409, again.json)
    assert not conforms(document, "/redemptions", "post", 409, {**again.json, "store": 7})

    app.config["API_GENERATE_MAX"] = 5
    too_many = api.post(f"/pools/{pool_id}/codes/generate", {"count": 6})
    assert (too_many.status_code, too_many.json["error"]) == (422, "too_many_codes")
    assert too_many.json["allowed"] == 5
    assert conforms(document, "/pools/{pool_id}/codes/generate", "post", 422, too_many.json)

    api.patch(f"/pools/{pool_id}", {"status": "paused"})
    paused = api.post(f"/pools/{pool_id}/assignments", {"customer_id": "C1"})
    assert (paused.status_code, paused.json["status"]) == (409, "paused")
    assert conforms(document, "/pools/{pool_id}/assignments", "post", 409, paused.json)


def _detail_names() -> set[str]:
    """Every keyword a service or the API passes to a refusal besides `reason`, and every
    key of a `details` dict built for one: the extra members an error body can carry."""
    refusals = {"DomainError", "NotFound", "InvalidInput", "Forbidden", "Conflict", "MalformedFile",
                "PoolUnavailable", "CodeSpaceTooSmall", "RedemptionRefused", "ApiError"}
    names = set()
    for path in Path(portal.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            called = getattr(node, "func", None)
            name = getattr(called, "id", None) or getattr(called, "attr", None)
            if isinstance(node, ast.Call) and name in refusals:
                names.update(k.arg for k in node.keywords if k.arg not in (None, "reason", "headers"))
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
                    and any(getattr(target, "id", None) == "details" for target in node.targets)):
                names.update(key.value for key in node.value.keys if isinstance(key, ast.Constant))
    return names


def test_every_member_a_refusal_can_carry_is_in_the_error_schema(document):
    members = set(document["components"]["schemas"]["Error"]["properties"])
    found = _detail_names()
    assert {"allowed", "remaining", "line", "misfits", "status", "redeemed_at", "store"} <= found
    # A service's singular `field` goes out in `fields`.
    assert found - {"field"} <= members, found - members


def test_error_codes_validation_reasons_and_channels_are_enums(document):
    schemas = document["components"]["schemas"]
    codes = set(schemas["ErrorCode"]["enum"])
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")) or status == "default":
                    schema = response["content"]["application/json"]["schema"]
                    listed = set(schema["allOf"][1]["properties"]["error"]["enum"])
                    assert listed <= codes, (path, method, status)
    assert {"internal_error", "already_redeemed", "unknown_customer", "rate_limited"} <= codes
    reason = schemas["Validation"]["properties"]["reason"]["anyOf"]
    assert {"$ref": "#/components/schemas/RedemptionReason"} in reason
    assert schemas["RedemptionReason"]["enum"] == list(REASONS)
    assert schemas["Send"]["properties"]["channel"]["enum"] == ["email", "sms", "webhook"]


def test_401_and_403_carry_their_bearer_challenge(client, keys, document):
    missing = client.get("/api/v1/pools")
    wrong = client.get("/api/v1/pools", headers={"Authorization": "Bearer not-a-key"})
    scope = client.get("/api/v1/pools", headers={"Authorization": f"Bearer {keys['pos']}"})
    assert (missing.status_code, wrong.status_code, scope.status_code) == (401, 401, 403)
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    assert scope.headers["WWW-Authenticate"] == 'Bearer realm="api", error="insufficient_scope"'
    responses = document["paths"]["/api/v1/pools"]["get"]["responses"]
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert responses["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_a_500_under_the_api_is_the_documented_json_error(app, client, keys, document):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    pool_id = pool_with_codes(n=1)

    def broken(pool_id: int):
        raise RuntimeError("a bug")

    app.view_functions["api.get_pool"] = broken
    response = client.get(f"/api/v1/pools/{pool_id}",
                          headers={"Authorization": f"Bearer {keys['integration']}"})
    assert response.status_code == 500 and response.is_json
    assert response.json["error"] == "internal_error"
    assert conforms(document, "/pools/{pool_id}", "get", "default", response.json)


def test_raw_code_files_are_binary_strings(document):
    content = document["paths"]["/api/v1/pools/{pool_id}/codes"]["post"]["requestBody"]["content"]
    for kind in ("text/csv", "text/plain"):
        assert (content[kind]["schema"]["type"], content[kind]["schema"]["format"]) == ("string", "binary")


HARD_IDS = ["A/B", "50%", "100%25", "with space", ".", "..", "Zażółć gęślą", "a?b#c&d=e", "/lead"]


def test_every_customer_id_that_can_be_written_can_be_read(api, pos):
    pool_id = pool_with_codes(n=len(HARD_IDS) + 1)
    for customer_id in HARD_IDS:
        assert api.post(f"/pools/{pool_id}/assignments", {"customer_id": customer_id}).status_code == 201
    for customer_id in HARD_IDS:
        vouchers = pos.get("/customer/vouchers", query_string={"customer_id": customer_id})
        assert vouchers.status_code == 200, customer_id
        assert vouchers.json["customer_id"] == customer_id and len(vouchers.json["vouchers"]) == 1
        read = api.get("/customer", query_string={"customer_id": customer_id})
        assert read.status_code == 200 and read.json["customer_id"] == customer_id
        changed = api.post("/customer/consent", {"channel": "email", "consent": True},
                           query_string={"customer_id": customer_id})
        assert changed.status_code == 200 and changed.json["consent_history"][0]["source"] == "api"
    nobody = pos.get("/customer/vouchers", query_string={"customer_id": "nobody"})
    assert nobody.json["error"] == "unknown_customer"
    # The path form reads the ids a path can carry, percent-encoded.
    assignment.assign_code(pool_id, customer("plain"))
    assert pos.get("/customers/with%20space/vouchers").json["customer_id"] == "with space"
    assert pos.get("/customers/50%25/vouchers").json["customer_id"] == "50%"
    assert pos.get("/customers/Za%C5%BC%C3%B3%C5%82%C4%87%20g%C4%99%C5%9Bl%C4%85/vouchers").status_code == 200
