"""One limit per field, whatever the surface: the services own the limits, and the
wizard's forms and the API's schemas import them, so a value one surface accepts the
others accept too, and one a surface refuses the others refuse beside the same field."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import update

from portal.models import Pool
from portal.services import generation, pools, replenishment
from portal.services.codes import MAX_LENGTH
from portal.services.errors import InvalidInput
from portal.services.replenishment import settings as refill
from portal.services.tx import write_transaction


def api_refusal(response) -> set[str]:  # noqa: ANN001
    """The fields a 400 from the API names; empty for a success."""
    if response.status_code in (200, 201):
        return set()
    assert response.status_code == 400, response.json
    return {f["field"].rsplit(".", 1)[-1] for f in response.json["fields"]}


def form_refusal(response, fields) -> set[str]:  # noqa: ANN001
    """The fields a re-rendered wizard form marks as wrong; empty for a redirect."""
    if response.status_code in (201, 302):
        return set()
    assert response.status_code == 422
    return {name for name in fields if f'id="{name}-error"' in response.text}


def service_refusal(call) -> set[str]:  # noqa: ANN001
    try:
        call()
    except InvalidInput as exc:
        return {exc.details.get("field")}
    return set()


REFILL_CASES = [
    # (field, value the form posts, value JSON and the service take, accepted)
    ("every_hours", str(refill.EVERY_HOURS_MAX), refill.EVERY_HOURS_MAX, True),
    ("every_hours", str(refill.EVERY_HOURS_MAX + 1), refill.EVERY_HOURS_MAX + 1, False),
    ("every_hours", str(refill.EVERY_HOURS_MIN - 1), refill.EVERY_HOURS_MIN - 1, False),
    ("daily_at", "23:59", "23:59", True),
    ("daily_at", "24:00", "24:00", False),
    ("daily_at", "\u0660\u0666:\u0663\u0660", "\u0660\u0666:\u0663\u0660", False),  # Arabic-Indic 06:30
    ("username", "u" * refill.USERNAME_MAX, "u" * refill.USERNAME_MAX, True),
    ("username", "u" * (refill.USERNAME_MAX + 1), "u" * (refill.USERNAME_MAX + 1), False),
    ("top_up_count", str(refill.TOP_UP_COUNT_MAX), refill.TOP_UP_COUNT_MAX, True),
    ("top_up_count", str(refill.TOP_UP_COUNT_MAX + 1), refill.TOP_UP_COUNT_MAX + 1, False),
    ("top_up_cap", str(refill.TOP_UP_CAP_MAX), refill.TOP_UP_CAP_MAX, True),
    ("top_up_cap", str(refill.TOP_UP_CAP_MAX + 1), refill.TOP_UP_CAP_MAX + 1, False),
]


@pytest.mark.parametrize(("field", "posted", "value", "accepted"), REFILL_CASES,
                         ids=[f"{f}-{v if isinstance(v, int) else len(v)}" for f, _, v, _ in REFILL_CASES])
def test_replenishment_limits_are_the_same_everywhere(api, as_role, app, field, posted, value, accepted):
    pool_id = pools.create_pool("Limits").id
    schedule = "daily" if field == "daily_at" else "hours"
    refused = set() if accepted else {field}

    assert service_refusal(lambda: replenishment.configure(pool_id, **{field: value})) == refused
    assert api_refusal(api.patch(f"/pools/{pool_id}", json={"replenishment": {field: value}})) == refused
    form = {"schedule": schedule, "every_hours": "24", "top_up_count": "0", field: posted}
    answer = as_role("marketer").post(f"/pools/{pool_id}/replenishment", data=form)
    assert form_refusal(answer, [field]) == refused
    if accepted:
        saved = replenishment.get(pool_id)
        assert getattr(saved, field) == value


class FormScraper(HTMLParser):
    """The fields of a page's own form (the one without an action) as a browser posts
    them back untouched: a newline right after <textarea> is not part of the value, and
    every line break in a textarea is sent as CR LF."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.inside = False
        self.textarea: str | None = None
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form":
            self.inside = "action" not in attrs
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name"):
            if attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs:
                self.data[attrs["name"]] = attrs.get("value") or ""
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.data[self.textarea] = ""
        elif tag == "select":
            self.select = attrs["name"]
        elif tag == "option" and self.select and ("selected" in attrs or self.select not in self.data):
            self.data[self.select] = attrs.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea" and self.textarea:
            text = self.data[self.textarea].replace("\r\n", "\n").replace("\r", "\n")
            self.data[self.textarea] = text.removeprefix("\n").replace("\n", "\r\n")
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.data[self.textarea] += data


def stage_one_as_shown(client, pool_id: int) -> dict[str, str]:  # noqa: ANN001
    page = client.get(f"/pools/{pool_id}/pool")
    assert page.status_code == 200
    scraper = FormScraper()
    scraper.feed(page.text)
    return scraper.data


LONGEST = {"benefit": pools.BENEFIT_MAX, "description": pools.DESCRIPTION_MAX, "terms": pools.TERMS_MAX}
POOL_CASES = [
    *[(field, "é" * most, True) for field, most in LONGEST.items()],
    *[(field, "é" * (most + 1), False) for field, most in LONGEST.items()],
    ("per_customer_limit", pools.PER_CUSTOMER_LIMIT_MAX, True),
    ("per_customer_limit", pools.PER_CUSTOMER_LIMIT_MAX + 1, False),
    ("per_customer_limit", pools.PER_CUSTOMER_LIMIT_MIN - 1, False),
    ("low_stock_threshold", pools.LOW_STOCK_THRESHOLD_MAX, True),
    ("low_stock_threshold", pools.LOW_STOCK_THRESHOLD_MAX + 1, False),
    ("low_stock_threshold", pools.LOW_STOCK_THRESHOLD_MIN - 1, False),
]


@pytest.mark.parametrize(("field", "value", "accepted"), POOL_CASES,
                         ids=[f"{f}-{len(v) if isinstance(v, str) else v}" for f, v, _ in POOL_CASES])
def test_pool_limits_are_the_same_everywhere(api, as_role, app, field, value, accepted):
    refused = set() if accepted else {field}
    assert service_refusal(lambda: pools.create_pool("By service", **{field: value})) == refused
    assert api_refusal(api.post("/pools", {"name": "By API", field: value})) == refused
    form = {"name": "By wizard", "barcode_format": "qr", "per_customer_limit": "1", field: str(value)}
    assert form_refusal(as_role("marketer").post("/pools/new", data=form), [field]) == refused
    made = {p.name: getattr(p, field) for p in pools.list_pools()}
    assert made == ({"By service": value, "By API": value, "By wizard": value} if accepted else {})

    if accepted:  # and changing a pool to it: the same answer
        pool_id = pools.create_pool("Changed").id
        assert service_refusal(lambda: pools.update_pool(pool_id, **{field: value})) == set()


@pytest.mark.parametrize("length", [pools.NAME_MAX, pools.NAME_MAX + 1])
def test_a_pool_name_has_one_limit(api, as_role, app, length):
    refused = set() if length <= pools.NAME_MAX else {"name"}
    assert service_refusal(lambda: pools.create_pool("s" * length)) == refused
    assert api_refusal(api.post("/pools", {"name": "a" * length})) == refused
    form = {"name": "w" * length, "barcode_format": "qr", "per_customer_limit": "1"}
    assert form_refusal(as_role("marketer").post("/pools/new", data=form), ["name"]) == refused


def test_a_pool_made_through_the_api_is_saved_again_unchanged_from_stage_one(api, as_role, app):
    made = api.post("/pools", {
        "name": "N" * pools.NAME_MAX, "benefit": "B" * pools.BENEFIT_MAX,
        "description": "D" * pools.DESCRIPTION_MAX, "terms": "T\n" * (pools.TERMS_MAX // 2),
        "per_customer_limit": pools.PER_CUSTOMER_LIMIT_MAX,
        "low_stock_threshold": pools.LOW_STOCK_THRESHOLD_MAX, "barcode_format": "ean13",
        "valid_from": "2030-01-01T09:00:00Z", "valid_until": "2030-12-31T18:30:00Z",
        "require_assignment": False})
    assert made.status_code == 201, made.json
    pool_id = made.json["id"]
    marketer = as_role("marketer")
    saved = marketer.post(f"/pools/{pool_id}/pool", data=stage_one_as_shown(marketer, pool_id))
    assert saved.status_code == 302, saved.text
    after = api.get(f"/pools/{pool_id}").json
    assert {k: v for k, v in after.items() if k != "counts"} == {
        k: v for k, v in made.json.items() if k != "counts"}


def test_a_longer_benefit_stored_before_the_limit_is_still_shown(api, as_role, app):
    pool_id = pools.create_pool("Old").id
    old = "Long ago, a benefit of six hundred characters. " * 13
    assert len(old) > pools.BENEFIT_MAX
    with write_transaction() as session:
        session.execute(update(Pool).where(Pool.id == pool_id).values(benefit=old))
    assert api.get(f"/pools/{pool_id}").json["benefit"] == old
    marketer = as_role("marketer")
    assert stage_one_as_shown(marketer, pool_id)["benefit"] == old
    # Changing something else keeps it; saving it again asks for a shorter one.
    assert api.patch(f"/pools/{pool_id}", {"status": "paused"}).json["benefit"] == old
    form = {**stage_one_as_shown(marketer, pool_id), "per_customer_limit": "2"}
    again = marketer.post(f"/pools/{pool_id}/pool", data=form)
    assert form_refusal(again, ["benefit"]) == {"benefit"}
    assert str(pools.BENEFIT_MAX) in again.text.split('id="benefit-error">')[1].split("<")[0]


GENERATE_CASES = [
    # (field, value, the rest of the request, accepted)
    ("length", generation.LENGTH_MAX, {}, True),
    ("length", generation.LENGTH_MAX + 1, {}, False),
    ("length", generation.LENGTH_MIN - 1, {}, False),
    ("pattern", "#" * MAX_LENGTH, {}, True),
    ("pattern", "#" * (MAX_LENGTH + 1), {}, False),
    ("prefix", "P" * (MAX_LENGTH - 1), {"length": 1}, True),
    ("prefix", "P" * (MAX_LENGTH + 1), {"length": 1}, False),
    ("postfix", "P" * (MAX_LENGTH - 1), {"length": 1}, True),
    ("postfix", "P" * (MAX_LENGTH + 1), {"length": 1}, False),
]


@pytest.mark.parametrize(("field", "value", "rest", "accepted"), GENERATE_CASES,
                         ids=[f"{f}-{v if isinstance(v, int) else len(v)}" for f, v, _, _ in GENERATE_CASES])
def test_generation_limits_are_the_same_everywhere(api, as_role, app, field, value, rest, accepted):
    pool_id = pools.create_pool("Generated").id
    refused = set() if accepted else {field}
    spec = {"length": generation.DEFAULT_LENGTH, **rest, field: value}
    assert service_refusal(lambda: generation.generate_codes(pool_id, 1, generation.Spec(**spec))) == refused
    answer = api.post(f"/pools/{pool_id}/codes/generate", {"count": 1, **spec})
    assert api_refusal(answer) == refused
    form = {"count": "1", "charset": "alphanumeric", **{k: str(v) for k, v in spec.items()}}
    answer = as_role("marketer").post(f"/pools/{pool_id}/codes/generate", data=form)
    assert form_refusal(answer, [field]) == refused
    assert pools.counts(pool_id).total == (3 if accepted else 0)


def test_one_request_generates_at_most_the_same_number_of_codes_everywhere(api, as_role, app):
    pool_id = pools.create_pool("Many").id
    too_many = generation.REQUEST_MAX_COUNT + 1
    assert api_refusal(api.post(f"/pools/{pool_id}/codes/generate", {"count": too_many})) == {"count"}
    form = {"count": str(too_many), "charset": "alphanumeric", "length": "10"}
    answer = as_role("marketer").post(f"/pools/{pool_id}/codes/generate", data=form)
    assert form_refusal(answer, ["count"]) == {"count"}
