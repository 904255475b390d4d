"""The admin page: users, stores and API keys."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import ApiKey, User
from portal.services import accounts
from tests.conftest import sign_in


def test_admin_adds_a_cashier_with_a_store(as_role):
    admin = as_role("admin")
    page = admin.get("/admin/")
    assert page.status_code == 200 and "marketer@example.com" in page.text
    added = admin.post("/admin/users", data={"email": "New@Example.com", "role": "cashier",
                                             "store": "S1", "password": "long enough pass"})
    assert added.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "new@example.com"))
    assert user.role == "cashier" and user.store.code == "S1"


def test_add_user_errors_are_shown(as_role):
    admin = as_role("admin")
    short = admin.post("/admin/users", data={"email": "a@example.com", "role": "marketer",
                                             "store": "", "password": "short"})
    assert short.status_code == 422 and "at least 10" in short.text
    no_store = admin.post("/admin/users", data={"email": "b@example.com", "role": "cashier",
                                                "store": "", "password": "long enough pass"})
    assert no_store.status_code == 422 and "belongs to a store" in no_store.text
    taken = admin.post("/admin/users", data={"email": "marketer@example.com", "role": "marketer",
                                             "store": "", "password": "long enough pass"})
    assert taken.status_code == 422 and "already exists" in taken.text


def test_disable_and_enable_a_user(app, as_role, users):
    admin = as_role("admin")
    user = db.session.scalar(select(User).where(User.email == users["marketer"]))
    assert admin.post(f"/admin/users/{user.id}/active").status_code == 302
    assert sign_in(app.test_client(), users["marketer"]).status_code == 401
    admin.post(f"/admin/users/{user.id}/active")
    assert sign_in(app.test_client(), users["marketer"]).status_code == 302
    me = db.session.scalar(select(User).where(User.email == users["admin"]))
    admin.post(f"/admin/users/{me.id}/active")
    assert db.session.get(User, me.id).active is True  # no locking yourself out


def test_stores(as_role):
    admin = as_role("admin")
    assert admin.post("/admin/stores", data={"code": "S2", "name": "Harbour"}).status_code == 302
    assert "Harbour" in admin.get("/admin/").text
    again = admin.post("/admin/stores", data={"code": "S2", "name": "Again"})
    assert again.status_code == 422 and "already exists" in again.text


def test_api_key_is_shown_once_and_can_be_revoked(as_role):
    admin = as_role("admin")
    created = admin.post("/admin/keys", data={"name": "Till 4", "scope": "pos"})
    assert created.status_code == 201 and "shown only once" in created.text
    secret = created.text.split('class="secret">')[1].split("<")[0]
    assert accounts.find_api_key(secret) is not None
    assert secret not in admin.get("/admin/").text
    key = db.session.scalar(select(ApiKey))
    admin.post(f"/admin/keys/{key.id}/revoke")
    assert accounts.find_api_key(secret) is None


def test_the_channel_list_warns_when_the_smtp_password_would_go_in_clear(app, as_role):
    app.config.update({"SMTP_HOST": "mail.example.com", "SMTP_SECURITY": "none", "SMTP_USERNAME": "shop",
                       "SMTP_PASSWORD": "s3cret", "MAIL_FROM": "shop@example.com"})
    page = as_role("admin").get("/admin/").text
    assert "would cross the network to mail.example.com unencrypted" in page
    assert "SMTP_ALLOW_PLAIN_AUTH=1" in page and "s3cret" not in page
    app.config["SMTP_SECURITY"] = "starttls"
    assert "unencrypted" not in as_role("admin").get("/admin/").text
