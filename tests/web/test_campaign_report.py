"""Each pool's campaign report: its numbers match the database for a campaign the test
builds through the real services (and a real send to the test SMTP server), voucher
pages count once per code per day, and the CSV says the same."""

from __future__ import annotations

import csv
import io
import re
import statistics
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code, CodeStatus, Delivery, DeliveryState, VoucherView, utcnow
from portal.pools.charts import day_label
from portal.services import report
from tests.campaigns import spring_sale
from tests.helpers import real_counts


@pytest.fixture
def app_config(smtp):
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            **smtp.config()}


@pytest.fixture
def campaign(app, client, users):
    return spring_sale(lambda path: client.get(path).status_code)


def db_median_to_redeem(pool_id: int) -> timedelta:
    """The slow, plain way: each redeemed code's customer's first sent message, in Python."""
    spans = []
    for code in db.session.scalars(select(Code).where(Code.pool_id == pool_id,
                                                      Code.status == CodeStatus.REDEEMED)):
        sent = db.session.scalar(select(func.min(Delivery.sent_at)).where(
            Delivery.pool_id == pool_id, Delivery.customer_id == code.customer_id,
            Delivery.state == DeliveryState.SENT))
        if sent is not None:
            spans.append((code.redeemed_at - sent).total_seconds())
    return timedelta(seconds=round(statistics.median(spans)))


def test_the_report_matches_the_database(app, campaign, smtp):
    found = report.campaign_report(campaign.pool_id)
    truth = real_counts(campaign.pool_id)
    sent = db.session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.pool_id == campaign.pool_id, Delivery.state == DeliveryState.SENT))
    assert sent == len(smtp.messages) == 18
    steps = {step.key: step for step in found.steps}
    assert steps["codes"].count == sum(truth.values()) == 40
    assert steps["given"].count == truth["assigned"] + truth["redeemed"] == 20
    assert steps["sent"].count == 18 and steps["sent"].detail == (("email", 18),)
    assert steps["opened"].count == 5  # five codes, three of them opened twice
    assert steps["redeemed"].count == truth["redeemed"] == 4
    assert steps["given"].share == 0.5 and steps["redeemed"].share == 0.2
    assert found.by_store == (("Main street", 3), ("Harbour mall", 1))
    assert found.per_day[-1] == (utcnow().date(), 4) and found.redeemed_in_days == 4
    assert len(found.per_day) == report.REPORT_DAYS
    assert found.timed_redemptions == 4
    assert found.median_to_redeem == db_median_to_redeem(campaign.pool_id)


def test_a_voucher_page_counts_once_per_code_per_day(app, client, campaign):
    views = db.session.scalars(select(VoucherView).where(VoucherView.pool_id == campaign.pool_id)).all()
    assert sorted(v.code_id for v in views) == sorted(campaign.opened_twice + campaign.opened_once)
    assert {v.day for v in views} == {utcnow().date()}
    # Another day counts again; the same day never twice.
    code_id = campaign.opened_twice[0]
    assert report.record_view(code_id, campaign.pool_id, utcnow().date() + timedelta(days=1))
    assert not report.record_view(code_id, campaign.pool_id, utcnow().date() + timedelta(days=1))
    assert report.opened_codes(campaign.pool_id) == 5


def test_the_pool_page_shows_the_report(as_role, campaign):
    page = as_role("marketer").get(f"/pools/{campaign.pool_id}").text
    assert "Campaign report" in page
    for words in ("Imported or generated", "50% of all codes", "by email: 18",
                  "Voucher page opened", "25% of codes given out", "20% of codes given out",
                  "Main street", "Harbour mall", "4 redemptions from", "Time to redeem"):
        assert words in page, words
    first_day = report.campaign_report(campaign.pool_id).per_day[0][0]
    charts = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg.*?</svg>', page, re.S)
    assert len(charts) == 2  # one for a phone, one for a wide screen
    for chart in charts:  # nothing the CSP refuses, nothing fetched from elsewhere
        assert not re.search(r"<script|<style|style=|href=", chart)
        assert re.findall(r"https?://[^\"]+", chart) == ["http://www.w3.org/2000/svg"]
        assert f">{day_label(first_day)}<" in chart  # days are named with their month


def test_the_report_as_csv(as_role, campaign):
    answer = as_role("marketer").get(f"/pools/{campaign.pool_id}/report.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == report.CSV_HEADER
    assert ["funnel", "Redeemed", "4", "20.0% of codes given out"] in rows
    assert ["sent by channel", "email", "18", ""] in rows
    assert ["redemptions by store", "Main street", "3", ""] in rows
    assert ["redemptions per day", utcnow().date().isoformat(), "4", ""] in rows


def test_an_empty_campaign_says_so(as_role, app):
    from portal.services import pools

    pool_id = pools.create_pool("Nothing yet").id
    marketer = as_role("marketer")
    page = marketer.get(f"/pools/{pool_id}").text
    assert "No redemptions yet in these days." in page and "<svg class=\"chart-svg" not in page
    stage = marketer.get(f"/pools/{pool_id}/redemption").text
    assert "No redemptions yet in these days." in stage
    assert marketer.get("/pools/999/report.csv").status_code == 404


def test_only_marketers_and_admins_see_reports(app, as_role, client):
    from portal.services import pools

    pool_id = pools.create_pool("Private").id
    cashier = as_role("cashier")
    for url in ("/pools/", "/pools/counts", f"/pools/{pool_id}/report.csv"):
        assert cashier.get(url).status_code == 403, url
        assert client.get(url).status_code in (302, 401), url
    assert as_role("admin").get(f"/pools/{pool_id}/report.csv").status_code == 200
