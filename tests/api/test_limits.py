"""One limit per field, whatever the surface: the services own the limits, and the
wizard's forms and the API's schemas import them, so a value one surface accepts the
others accept too, and one a surface refuses the others refuse beside the same field."""

from __future__ import annotations

import pytest

from portal.services import pools, replenishment
from portal.services.errors import InvalidInput
from portal.services.replenishment import settings as refill


def api_refusal(response) -> set[str]:  # noqa: ANN001
    """The fields a 400 from the API names; empty for a success."""
    if response.status_code == 200:
        return set()
    assert response.status_code == 400, response.json
    body = response.json
    named = {f["field"].rsplit(".", 1)[-1] for f in body.get("fields", [])}
    return named | ({body["field"]} if "field" in body else set())


def form_refusal(response, fields) -> set[str]:  # noqa: ANN001
    """The fields a re-rendered wizard form marks as wrong; empty for a redirect."""
    if response.status_code == 302:
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


@pytest.mark.parametrize(("field", "posted", "value", "accepted"), REFILL_CASES)
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
