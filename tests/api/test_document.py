"""The OpenAPI document says what the server does: a body it allows is never refused as
malformed (400), and each refusal's reason is among those the response lists."""

from __future__ import annotations

import jsonschema_rs
import pytest

from portal.api.spec import openapi
from portal.services import accounts
from portal.vocabulary import ID_MAX
from tests.helpers import pool_with_codes


@pytest.fixture
def document(app) -> dict:
    return openapi()


def body_fits(document: dict, path: str, method: str, body: dict) -> bool:
    """Whether the document's request schema for the operation takes the body."""
    content = document["paths"]["/api/v1" + path][method]["requestBody"]["content"]
    schema = content["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
    return validator.is_valid(body)


def listed_reasons(document: dict, path: str, method: str, status: int) -> list[str]:
    response = document["paths"]["/api/v1" + path][method]["responses"][str(status)]
    return response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["error"]["enum"]


# (what once slipped, method, path, body): the document allowed each body, the server
# refused it with a 400. Now the document refuses it too.
MALFORMED = [
    ("null for a field that always has a value", "patch", "/pools/{pool_id}", {"name": None}),
    ("null status", "patch", "/pools/{pool_id}", {"status": None}),
    ("a date before 1970", "post", "/pools", {"name": "Old", "valid_until": "0359-07-09T04:01:33+20:01"}),
    ("a date past 8999", "patch", "/pools/{pool_id}", {"valid_from": "9999-12-31T23:00:00-05:00"}),
    ("a 32-digit phone", "post", "/pools/{pool_id}/assignments",
     {"customer_id": "C1", "phone": "0" * 32}),
    ("a blank customer id", "post", "/pools/{pool_id}/assignments", {"customer_id": " \u3000\x1c"}),
    ("NUL in a name", "post", "/pools", {"name": "a\x00b"}),
    ("a prefix a code cannot hold", "post", "/pools/{pool_id}/codes/generate", {"count": 1, "prefix": "A B"}),
    ("a pattern without #", "post", "/pools/{pool_id}/codes/generate", {"count": 1, "pattern": "ABCDEF"}),
    ("a blank rollback reason", "post", "/redemptions/{redemption_id}/rollback", {"reason": "  "}),
]


@pytest.mark.parametrize(("method", "path", "body"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_the_document_refuses_what_the_server_refuses_as_malformed(api, document, method, path, body):
    pool_id = pool_with_codes(n=3)
    assert not body_fits(document, path, method, body)
    url = path.format(pool_id=pool_id, redemption_id=1)
    response = getattr(api, method)(url, body)
    assert response.status_code == 400, response.json
    assert response.json["error"] == "invalid_request"


def test_a_phone_or_email_with_blanks_around_fits_the_document_and_the_server(api, document):
    pool_id = pool_with_codes(n=3)
    body = {"customer_id": " C1 ", "phone": " +48 608-437-485\t", "email": "\u00a0ana@example.com "}
    assert body_fits(document, "/pools/{pool_id}/assignments", "post", body)
    assert api.post(f"/pools/{pool_id}/assignments", body).status_code == 201


def test_refusals_the_document_cannot_state_are_422_with_a_listed_reason(api, pos, document):
    """Values that only fail together, or against the server's set-up, match the document:
    they are refused with 422 and a reason the response lists, never a 400."""
    pool_id = pool_with_codes(n=3, require_assignment=False)
    accounts.create_store("S1", "Main street")
    cases = [
        ("post", "/pools", {"name": "Window", "valid_from": "2030-01-02T00:00:00Z",
                            "valid_until": "2030-01-01T00:00:00Z"}, "invalid_window"),
        ("patch", "/pools/{pool_id}", {"replenishment": {"url": "http://[::1"}}, "invalid_url"),
        ("patch", "/pools/{pool_id}", {"replenishment": {"every_hours": 2, "daily_at": "06:00"}},
         "two_schedules"),
        ("patch", "/pools/{pool_id}", {"replenishment": {"drop_folder": True}}, "drop_folder_not_configured"),
        ("post", "/pools/{pool_id}/codes/generate", {"count": 1, "prefix": "P" * 60, "length": 10},
         "invalid_code_length"),
        ("post", "/pools/{pool_id}/codes/generate", {"count": 1, "charset": "aA"}, "charset_too_small"),
        ("post", "/pools/{pool_id}/replenish", None, "not_configured"),
        ("post", "/pools/{pool_id}/sends", {"channel": "sms"}, "channel_not_configured"),
        ("post", "/redemptions", {"code": "SPRI-00001", "store": "NOWHERE"}, "unknown_store"),
    ]
    for method, path, body, reason in cases:
        if body is not None:
            assert body_fits(document, path, method, body), reason
        client = pos if path.startswith("/redemptions") else api
        response = getattr(client, method)(path.format(pool_id=pool_id), body)
        assert (response.status_code, response.json["error"]) == (422, reason)
        assert reason in listed_reasons(document, path, method, 422)


def test_ids_and_path_text_say_what_the_routes_take(document):
    pool = document["paths"]["/api/v1/pools/{pool_id}"]["get"]["parameters"][0]["schema"]
    assert pool["maximum"] == ID_MAX
    rollback = document["paths"]["/api/v1/redemptions/{redemption_id}/rollback"]["post"]
    assert rollback["parameters"][0]["schema"]["maximum"] == 2**63 - 1
    customer = document["paths"]["/api/v1/customers/{customer_id}/vouchers"]["get"]["parameters"][0]
    assert not jsonschema_rs.validator_for(customer["schema"]).is_valid("abc\x00def")
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if "{" in path:
                assert "not_found" in listed_reasons(document, path.removeprefix("/api/v1"),
                                                     _method(operations, operation), 404)


def _method(operations: dict, operation: dict) -> str:
    return next(method for method, found in operations.items() if found is operation)


def test_blank_in_the_patterns_is_what_the_services_trim():
    """The patterns state the services' trimming: their blank is exactly str.isspace()."""
    import re

    from portal.services.text import BLANK

    blank = re.compile(f"[{BLANK}]")
    assert [hex(n) for n in range(0x110000) if bool(blank.match(chr(n))) != chr(n).isspace()] == []


def test_the_year_pattern_says_the_years_the_services_take():
    import re

    from portal.services import times

    pattern = re.compile(times.YEAR_PATTERN)
    assert [year for year in range(10_000) if bool(pattern.match(f"{year:04d}-06-01T00:00:00Z"))
            != (times.FIRST_YEAR <= year <= times.LAST_YEAR)] == []
