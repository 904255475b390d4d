"""The marketer's dashboard through its real routes: the tiles, what needs attention,
search, filter by status, sorting and paging, and the polled counts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.models import utcnow
from portal.services import dashboard, imports, pools, redemption
from tests.campaigns import needing_attention
from tests.helpers import customer, upload


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


def names(html: str) -> list[str]:
    """The pools listed, in order."""
    return re.findall(r'<th scope="row" class="pool-name"><a href="/pools/\d+">([^<]+)</a>', html)


def tile(html: str, key: str) -> str:
    return re.search(rf'data-tile="{key}">([^<]+)<', html).group(1)


def test_the_tiles_and_what_needs_attention(app, as_role, smtp):
    ids = needing_attention(smtp)
    from portal.services import assignment

    assignment.assign_code(ids["quiet"], customer("Q1"))
    redemption.redeem("OK-0001")
    page = as_role("marketer").get("/pools/").text
    # Six running pools; codes available 2 + 0 + 1 + 1 + 1 + 1 = 6; given out: D1, E1, F1, Q1.
    assert tile(page, "active") == "6"
    assert tile(page, "available") == "6"
    assert tile(page, "given") == "4"
    assert tile(page, "recent") == "1"
    assert tile(page, "rate") == "25%"
    attention = re.sub(r"\s+", " ", page.split('id="attention-title"')[1].split("</section>")[0])
    assert "Needs your attention (5)" in page
    for words in ("Low stock", "Low on codes</a>: 2 codes left (alert below 10)",
                  "Out of codes", "Ran dry</a>: no codes left to give",
                  "Ends soon", "Ending soon</a>: ends", "1 code given out and not redeemed",
                  "Sends failed", "Mail refused</a>: 1 message was not delivered",
                  "Refill failing", "Refill broken</a>: replenishment has failed since"):
        assert words in attention, words
    assert "All fine" not in attention


def test_an_empty_pool_nobody_waits_for_is_not_low_on_stock(app, as_role):
    pools.create_pool("Brand new")
    page = as_role("marketer").get("/pools/").text
    assert "Nothing needs your attention" in page and "Out of codes" not in page


def test_search_filter_sort_and_pages(app, as_role):
    for n in range(30):
        pool = pools.create_pool(f"Sale {n:02d}")
        imports.import_codes(pool.id, upload("\n".join(f"S{n:02d}-{i}" for i in range(n % 7 + 1))))
    pools.set_status(pools.create_pool("Winter paused").id, "paused")
    ended = pools.create_pool("Autumn", valid_from=utcnow() - timedelta(days=9),
                              valid_until=utcnow() - timedelta(days=1)).id
    marketer = as_role("marketer")

    first = marketer.get("/pools/").text  # newest first, 25 a page
    assert names(first)[:2] == ["Autumn", "Winter paused"] and len(names(first)) == dashboard.PAGE_SIZE
    assert "Page 1 of 2" in first
    second = marketer.get("/pools/?page=2").text
    assert names(second) == [f"Sale {n:02d}" for n in range(6, -1, -1)]

    assert names(marketer.get("/pools/?q=sale+1").text) == [f"Sale {n}" for n in range(19, 9, -1)]
    assert names(marketer.get("/pools/?q=%25").text) == []  # a % is a character, not a wildcard
    assert "No pool matches “nothing like this”" in marketer.get("/pools/?q=nothing+like+this").text
    assert names(marketer.get("/pools/?status=paused").text) == ["Winter paused"]
    ended_page = marketer.get("/pools/?status=ended").text
    assert names(ended_page) == ["Autumn"] and 'class="pill pill-ended">Ended<' in ended_page
    assert names(marketer.get("/pools/?sort=name").text)[:3] == ["Autumn", "Sale 00", "Sale 01"]
    most = names(marketer.get("/pools/?sort=available").text)
    assert most[:4] == ["Sale 27", "Sale 20", "Sale 13", "Sale 06"]  # 7 codes each, newest first
    assert ended == pools.get_pool(ended).id

    redemption_pool = pools.get_pool(pools.list_pools()[-1].id)  # Sale 00: one code
    from portal.services import assignment

    assignment.assign_code(redemption_pool.id, customer("R1"))
    redemption.redeem("S00-0")
    assert names(marketer.get("/pools/?sort=rate").text)[0] == "Sale 00"
    # Nonsense is read as the defaults, never an error.
    assert names(marketer.get("/pools/?sort=nope&status=nope&page=-4").text) == names(first)


def test_a_search_through_htmx_answers_the_list_and_the_tiles(app, htmx):
    pools.create_pool("Spring")
    pools.create_pool("Summer")
    answer = htmx.get("/pools/?q=spr", headers={"HX-Target": "pool-list"})
    assert "HX-Request" in answer.headers["Vary"]
    assert answer.text.lstrip().startswith("<div id=\"pool-list\"")
    assert names(answer.text) == ["Spring"]
    assert 'id="dashboard-tiles"' in answer.text and 'hx-swap-oob="true"' in answer.text


def test_the_polled_counts_are_only_the_counts(app, htmx):
    spring = pools.create_pool("Spring").id
    imports.import_codes(spring, upload("SPR-0001\nSPR-0002\nSPR-0003\n"))
    answer = htmx.get(f"/pools/counts?ids={spring},x,99999,{'9' * 5000},-3")
    text = answer.text
    assert answer.status_code == 200 and "<table" not in text and "Needs your attention" not in text
    assert f'<span id="pool-{spring}-available" hx-swap-oob="true">3</span>' in text
    assert 'data-tile="available">3<' in text
    # The tiles poll again for the same pools, and portal.js holds the poll while the tab is hidden.
    assert f'hx-get="/pools/counts?ids={spring}"' in text and "data-poll-visible" in text
    assert "visibilitychange from:document" in text


def test_numbers_are_said_the_way_people_say_them():
    from portal.pools.report_views import duration, people_number, percent

    assert [people_number(n) for n in (0, 812_400, 1_000_000, 1_234_567, 3_400_000_000)] == [
        "0", "812,400", "1 million", "1.2 million", "3.4 billion"]
    assert [percent(s) for s in (None, 0, 0.042, 0.4237, 1)] == ["—", "0%", "4.2%", "42%", "100%"]
    assert [duration(timedelta(seconds=s)) for s in (30, 300, 3 * 3600 + 120, 2 * 86400 + 4 * 3600 + 60)] == [
        "under a minute", "5 minutes", "3 hours 2 minutes", "2 days 4 hours"]
