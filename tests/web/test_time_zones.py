"""Times for people in their zone: each store's tills in the store's IANA zone, the
portal's own pages (and stores without a zone) in PORTAL_TIMEZONE, each naming it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from portal import create_app
from portal.commands.exits import EXIT_BAD_INPUT
from portal.extensions import db
from portal.models import Code, Redemption, Store, User
from portal.services import accounts, assignment, imports, pools, redemption
from portal.services.actor import Actor
from portal.services.links import voucher_url
from portal.services.tx import write_transaction
from tests.helpers import customer, upload

HX = {"HX-Request": "true"}
NOON_UTC = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 in Warsaw (CEST), 08:00 in New York


@pytest.fixture
def app_config():
    # The portal's zone differs from the store's, so a page that shows the wrong one fails.
    return {"RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "QUEUE_STORAGE": "memory",
            "PORTAL_TIMEZONE": "America/New_York"}


def redeemed_at_noon(code: str, user_email: str) -> int:
    """Redeem `code` as that user at their store, then move the moment to NOON_UTC."""
    user = db.session.scalar(select(User).where(User.email == user_email))
    done = redemption.redeem(code, actor=Actor(user_id=user.id, store_id=user.store_id))
    with write_transaction() as session:
        session.execute(update(Redemption).where(Redemption.id == done.id).values(redeemed_at=NOON_UTC))
        session.execute(update(Code).where(Code.id == done.code_id).values(redeemed_at=NOON_UTC))
    db.session.remove()
    return done.code_id


@pytest.fixture
def redeemed(app, users, as_role):
    """SPRI-0001 redeemed at 12:00 UTC by the cashier of S1, whose store is in Warsaw."""
    accounts.set_store_timezone(accounts.find_store("S1").id, "Europe/Warsaw")
    pool = pools.create_pool("Spring", benefit="10% off shoes")
    imports.import_codes(pool.id, upload("SPRI-0001\nSPRI-0002\n"))
    assignment.assign_code(pool.id, customer("C1", first_name="Maria"))
    code_id = redeemed_at_noon("SPRI-0001", users["cashier"])
    return {"pool_id": pool.id, "code_id": code_id}


def test_the_till_shows_its_stores_local_time(redeemed, as_htmx):
    till = as_htmx("cashier")
    listed = till.get("/till/")
    assert "14:00 CEST" in listed.text and "12:00 UTC" not in listed.text
    again = till.post("/till/check", data={"code": "SPRI-0001"})
    assert "ALREADY REDEEMED" in again.text
    assert "Redeemed 01 Jul 2026 14:00 CEST at Main street." in again.text


def test_without_a_store_zone_the_till_and_portal_pages_use_portal_timezone(redeemed, as_role):
    accounts.set_store_timezone(accounts.find_store("S1").id, "")
    assert db.session.scalar(select(Store.timezone)) is None
    assert "Redeemed 01 Jul 2026 08:00 EDT" in as_role("cashier").post(
        "/till/check", data={"code": "SPRI-0001"}, headers=HX).text
    # An admin at the till has no store: the portal's zone.
    assert "Redeemed 01 Jul 2026 08:00 EDT" in as_role("admin").post(
        "/till/check", data={"code": "SPRI-0001"}, headers=HX).text
    marketer = as_role("marketer")
    code_page = marketer.get(f"/pools/{redeemed['pool_id']}/codes/{redeemed['code_id']}")
    # Its history is written at the moment of each event (now): in New York's time, named.
    assert re.search(r"<li>\d\d \w{3} \d{4} \d\d:\d\d E[SD]T — redeemed</li>", code_page.text)
    stage_5 = marketer.post(f"/pools/{redeemed['pool_id']}/redemption/check",
                            data={"code": "SPRI-0001"}, headers=HX)
    assert "Redeemed 01 Jul 2026 08:00 EDT at Main street." in stage_5.text
    # The customer's page says which zone its time is in: the portal's.
    voucher = marketer.get(voucher_url(redeemed["code_id"]).removeprefix("http://portal.test"))
    assert "Used on 01 Jul 2026 08:00 EDT at Main street." in voucher.text


def test_a_store_is_added_and_changed_with_a_time_zone_on_the_admin_page(users, as_role):
    admin = as_role("admin")
    page = admin.get("/admin/").text
    assert 'value="America/New_York"' in page  # the add form starts at PORTAL_TIMEZONE
    assert '<option value="Europe/Warsaw">' in page
    added = admin.post("/admin/stores", data={"code": "S2", "name": "Harbour",
                                              "timezone": "Europe/Lisbon"})
    assert added.status_code == 302
    store_id, zone = db.session.execute(select(Store.id, Store.timezone).where(Store.code == "S2")).one()
    assert zone == "Europe/Lisbon"
    changed = admin.post(f"/admin/stores/{store_id}/timezone", data={"timezone": "Asia/Tokyo"},
                         follow_redirects=True)
    assert "Store S2 now shows times in Asia/Tokyo." in changed.text
    db.session.remove()
    assert db.session.get(Store, store_id).timezone == "Asia/Tokyo"
    assert admin.post("/admin/stores/999999/timezone", data={"timezone": "UTC"}).status_code == 404


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/warsaw", "../../etc/passwd", "CEST"])
def test_a_wrong_zone_on_the_admin_page_is_refused_and_changes_nothing(users, as_role, zone):
    admin = as_role("admin")
    added = admin.post("/admin/stores", data={"code": "S2", "name": "Harbour", "timezone": zone})
    assert added.status_code == 422 and "is not a time zone" in added.text
    assert db.session.scalar(select(func.count()).select_from(Store).where(Store.code == "S2")) == 0
    s1 = accounts.find_store("S1").id
    changed = admin.post(f"/admin/stores/{s1}/timezone", data={"timezone": zone})
    assert changed.status_code == 422 and "is not a time zone" in changed.text
    assert f'id="zone-{s1}-error"' in changed.text
    db.session.remove()
    assert db.session.get(Store, s1).timezone is None


def test_create_store_takes_a_time_zone(runner):
    done = runner.invoke(args=["create-store", "S9", "Old town", "--timezone", "Europe/Warsaw"])
    assert done.exit_code == 0, done.output
    assert db.session.scalar(select(Store.timezone).where(Store.code == "S9")) == "Europe/Warsaw"
    plain = runner.invoke(args=["create-store", "S8", "Harbour"])
    assert plain.exit_code == 0
    assert db.session.scalar(select(Store.timezone).where(Store.code == "S8")) is None
    wrong = runner.invoke(args=["create-store", "S7", "Nowhere", "--timezone", "Europe/Warsw"])
    assert wrong.exit_code == EXIT_BAD_INPUT
    assert "--timezone" in wrong.output and "Europe/Warsw" in wrong.output
    assert db.session.scalar(select(func.count()).select_from(Store).where(Store.code == "S7")) == 0


def test_portal_timezone_defaults_to_utc_and_a_wrong_one_stops_the_start(monkeypatch, tmp_path):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("PORTAL_TIMEZONE", raising=False)
    database = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}"}
    assert create_app(database).config["PORTAL_TIMEZONE"] == "UTC"
    monkeypatch.setenv("PORTAL_TIMEZONE", "Europe/Warsaw")
    assert create_app(database).config["PORTAL_TIMEZONE"] == "Europe/Warsaw"
    monkeypatch.setenv("PORTAL_TIMEZONE", "Central European Time")
    with pytest.raises(ValueError, match="PORTAL_TIMEZONE"):
        create_app(database)


def test_a_person_reads_times_in_the_zone_of_their_profile(redeemed, as_role):
    marketer = as_role("marketer")
    saved = marketer.post("/profile", data={"timezone": "Asia/Tokyo"})
    assert saved.status_code == 302
    assert "times are shown in Asia/Tokyo" in marketer.get("/profile").text
    stage_5 = marketer.post(f"/pools/{redeemed['pool_id']}/redemption/check",
                            data={"code": "SPRI-0001"}, headers=HX)
    assert "Redeemed 01 Jul 2026 21:00 JST at Main street." in stage_5.text
    # The customer's page is the customer's: the portal's zone, whoever opens it.
    voucher = marketer.get(voucher_url(redeemed["code_id"]).removeprefix("http://portal.test"))
    assert "Used on 01 Jul 2026 08:00 EDT" in voucher.text
    # Everyone else still reads the portal's zone.
    assert "Redeemed 01 Jul 2026 08:00 EDT" in as_role("admin").post(
        f"/pools/{redeemed['pool_id']}/redemption/check", data={"code": "SPRI-0001"}, headers=HX).text
    # Empty again: the portal's zone.
    marketer.post("/profile", data={"timezone": ""})
    assert db.session.scalar(select(User.timezone).where(User.email == "marketer@example.com")) is None


def test_a_wrong_zone_on_the_profile_is_refused_beside_its_field(users, as_role):
    marketer = as_role("marketer")
    refused = marketer.post("/profile", data={"timezone": "Mars/Olympus"})
    assert refused.status_code == 422
    assert 'id="timezone-error"' in refused.text and "is not a time zone" in refused.text
    assert db.session.scalar(select(User.timezone).where(User.email == "marketer@example.com")) is None


def test_the_redemption_window_is_picked_in_the_persons_zone(users, as_role):
    pool_id = pools.create_pool("Summer").id
    marketer = as_role("marketer")
    marketer.post("/profile", data={"timezone": "Europe/Warsaw"})
    saved = marketer.post(f"/pools/{pool_id}/redemption", data={
        "valid_from": "2030-07-01T14:00", "valid_until": "2030-07-31T23:59", "per_customer_limit": 1})
    assert saved.status_code == 302
    db.session.expire_all()
    pool = pools.get_pool(pool_id)
    assert pool.valid_from.astimezone(UTC) == datetime(2030, 7, 1, 12, 0, tzinfo=UTC)  # CEST is UTC+2
    page = marketer.get(f"/pools/{pool_id}/redemption").text
    assert 'value="2030-07-01T14:00"' in page and "Europe/Warsaw" in page
    assert "The redemption rules are saved." in page  # the confirmation after the save
