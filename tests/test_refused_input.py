"""Input the server must refuse cleanly, on SQLite and PostgreSQL alike: a number no row
can have in a URL, NUL in a path."""

from __future__ import annotations

import re

import pytest

from portal.services import accounts
from portal.vocabulary import BIG_ID_MAX, ID_MAX

# A valid body for each API operation that reads one, so that only the id can be wrong.
API_BODIES = {
    "api.patch_pool": {"json": {"benefit": "x"}},
    "api.import_codes": {"data": "ABC123\n", "content_type": "text/csv"},
    "api.generate_codes": {"json": {"count": 1}},
    "api.assign": {"json": {"customer_id": "C1"}},
    "api.assign_bulk": {"json": {"customers": [{"customer_id": "C1"}]}},
    "api.start_send": {"json": {"channel": "email"}},
    "api.rollback": {"json": {"reason": "returned"}},
}
ID_CONVERTERS = {"id": ID_MAX, "bigid": BIG_ID_MAX}


def id_routes(app) -> list[tuple[str, str, dict[str, str]]]:
    """(endpoint, method, {argument: converter}) for every route that takes a row id."""
    found = []
    for rule in app.url_map.iter_rules():
        ids = {name: conv for conv, name in re.findall(r"<(\w+)(?:\([^)]*\))?:(\w+)>", rule.rule)
               if conv in ID_CONVERTERS}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if ids:
                found.append((rule.endpoint, method, ids))
    return found


@pytest.fixture
def callers(app, as_role):
    key = accounts.create_api_key("ids", "integration").secret
    return {"api": (app.test_client(), {"Authorization": f"Bearer {key}"}),
            "cashier": (as_role("cashier"), {}), "other": (as_role("admin"), {})}


def call_every_id_route(app, callers, value_for) -> list[tuple[str, set[str], object]]:
    """(url, the route's id converters, response) of each route that takes an id, called
    with the ids value_for(converter) gives."""
    from flask import url_for

    answers = []
    for endpoint, method, ids in id_routes(app):
        area = endpoint.split(".")[0]
        client, headers = callers.get(area, callers["other"])
        values = {name: value_for(conv) for name, conv in ids.items()}
        if "channel" in _args(app, endpoint):
            values["channel"] = "email"
        with app.test_request_context():
            url = url_for(endpoint, **values)
        response = client.open(url, method=method, headers=headers, **API_BODIES.get(endpoint, {}))
        answers.append((f"{method} {url}", set(ids.values()), response))
    return answers


def is_clean_404(response) -> bool:  # noqa: ANN001
    """The API's JSON 404, or the pages' HTML one."""
    if response.status_code != 404:
        return False
    if response.request.path.startswith("/api/"):
        return response.is_json and bool(response.json["error"])
    return response.mimetype == "text/html"


@pytest.mark.parametrize("value", [ID_MAX + 1, 2**40, BIG_ID_MAX], ids=["2147483648", "2**40", "2**63-1"])
def test_a_32_bit_id_no_row_can_have_is_a_404(app, callers, value):
    """2147483648 for a pool, user or key was a 500 on PostgreSQL (NumericValueOutOfRange)
    and a 404 on SQLite; both say 404 now, on every route that takes one."""
    answers = call_every_id_route(app, callers, lambda conv: value if conv == "id" else 1)
    taking = [(call, response) for call, convs, response in answers if "id" in convs]
    assert len(taking) > 30  # every pool page, the admin's buttons, the API
    assert [(call, r.status_code) for call, r in taking if not is_clean_404(r)] == []


def test_a_64_bit_id_past_its_range_is_a_404_and_a_large_one_no_error(app, callers):
    """Codes, redemptions, jobs and imports have 64-bit ids: past 2**63-1 the converter
    answers 404; a large id within range reaches the database and finds nothing."""
    past = call_every_id_route(app, callers, lambda conv: BIG_ID_MAX + 1 if conv == "bigid" else 1)
    taking = [(call, response) for call, convs, response in past if "bigid" in convs]
    assert len(taking) >= 8  # sends, jobs, codes, imports, redemptions (the till's and the API's)
    assert [(call, r.status_code) for call, r in taking if not is_clean_404(r)] == []
    within = call_every_id_route(app, callers, lambda conv: 2**40)
    assert [(call, r.status_code) for call, _c, r in within if r.status_code >= 500] == []


def _args(app, endpoint: str) -> set[str]:
    return {arg for rule in app.url_map.iter_rules(endpoint) for arg in rule.arguments}


def test_nul_in_a_path_is_refused_as_in_a_query_or_a_body(app, callers):
    """PostgreSQL cannot compare text holding NUL: /customers/abc%00def/vouchers was a
    500 there (a 404 on SQLite); the guard that reads queries, forms and bodies reads the
    path too."""
    client, headers = callers["api"]
    api = client.get("/api/v1/customers/abc%00def/vouchers", headers=headers)
    assert api.status_code == 400 and api.json["error"] == "invalid_request"
    assert "NUL" in api.json["message"]
    page = callers["other"][0].get("/v/abc%00def")
    assert page.status_code == 400 and page.mimetype == "text/html"


@pytest.mark.parametrize("command", [
    ["send", "{id}", "--channel", "email"],
    ["replenish", "{id}"],
    ["generate-codes", "{id}", "--count", "1"],
    ["import-codes", "{id}", "{file}"],
    ["assign-codes", "{id}", "{file}"],
])
def test_commands_refuse_a_pool_id_no_pool_can_have(runner, tmp_path, command):
    """The commands took any integer: past 2147483647 PostgreSQL refused the query and the
    command died with a traceback. Now it is bad input (exit 2) on both databases."""
    data = tmp_path / "lines.csv"
    data.write_text("customer_id\nC1\n")
    args = [arg.format(id=ID_MAX + 1, file=data) for arg in command]
    result = runner.invoke(args=args)
    assert result.exit_code == 2, result.output
    assert "is not in the range 1<=x<=2147483647" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
