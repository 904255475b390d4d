"""Sessions: the cookie's attributes, sessions that end everywhere (sign-out, disabling,
a new password), remember cookies, and the cashier's idle timeout."""

from __future__ import annotations

import pytest
from flask_login.utils import encode_cookie

from portal.commands.exits import EXIT_BAD_INPUT, EXIT_NOT_FOUND
from portal.services import accounts
from portal.sessions import LAST_SEEN
from tests.conftest import sign_in

NEW_PASSWORD = "a brand new secret"


def session_cookie(response) -> str:  # noqa: ANN001
    """The Set-Cookie header that carries the session."""
    return next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))


def copy_of(client, app):  # noqa: ANN001
    """Another browser holding a copy of this client's session cookie."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def signed_in(client) -> bool:  # noqa: ANN001
    response = client.get("/pools/")
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def test_session_cookie_is_httponly_and_samesite_lax(client, users):
    cookie = session_cookie(sign_in(client, users["marketer"]))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here: a browser would drop a Secure cookie


def test_session_cookie_is_secure_on_a_request_that_came_over_https(client, users):
    response = client.post("/login", data={"email": users["marketer"],
                                           "password": "correct horse battery"},
                           base_url="https://portal.test")
    cookie = session_cookie(response)
    assert "Secure" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize("app_config", [{"PUBLIC_BASE_URL": "https://vouchers.example",
                                          "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False}])
def test_session_cookie_is_secure_when_the_portal_is_served_over_https(app, client, users):
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    # Even a request that reached the server as plain http (a proxy that did not say).
    assert "Secure" in session_cookie(sign_in(client, users["marketer"]))


def test_sign_out_ends_the_session_everywhere(app, as_role):
    marketer = as_role("marketer")
    other_device = as_role("marketer")
    copied = copy_of(marketer, app)
    assert signed_in(copied) and signed_in(other_device)
    assert marketer.post("/logout").status_code == 302
    assert not signed_in(marketer)
    assert not signed_in(copied)  # a cookie copied before sign-out no longer works
    assert not signed_in(other_device)
    assert signed_in(as_role("marketer"))  # signing in again works


def test_disabling_a_user_ends_their_sessions_for_good(app, as_role, users):
    marketer = as_role("marketer")
    admin = as_role("admin")
    user_id = accounts.find_user(users["marketer"]).id
    assert admin.post(f"/admin/users/{user_id}/active").status_code == 302
    assert not signed_in(marketer)
    assert admin.post(f"/admin/users/{user_id}/active").status_code == 302  # enabled again
    assert not signed_in(marketer)  # the old session does not come back with the account
    assert signed_in(as_role("marketer"))


def test_a_new_password_ends_every_session_of_the_user(app, as_role, users):
    marketer = as_role("marketer")
    admin = as_role("admin")
    user_id = accounts.find_user(users["marketer"]).id
    page = admin.get(f"/admin/users/{user_id}/password")
    assert page.status_code == 200 and users["marketer"] in page.text
    assert f"/admin/users/{user_id}/password" in admin.get("/admin/").text

    short = admin.post(f"/admin/users/{user_id}/password", data={"password": "short"})
    assert short.status_code == 422 and "at least 10" in short.text
    assert signed_in(marketer)  # a refused password changes nothing
    assert admin.get("/admin/users/999999/password").status_code == 404

    done = admin.post(f"/admin/users/{user_id}/password", data={"password": NEW_PASSWORD})
    assert done.status_code == 302
    assert not signed_in(marketer)
    assert sign_in(app.test_client(), users["marketer"]).status_code == 401
    assert sign_in(app.test_client(), users["marketer"], NEW_PASSWORD).status_code == 302


def test_an_admin_who_sets_their_own_password_stays_signed_in_here_only(app, as_role, users):
    admin = as_role("admin")
    other_device = as_role("admin")
    user_id = accounts.find_user(users["admin"]).id
    assert admin.post(f"/admin/users/{user_id}/password",
                      data={"password": NEW_PASSWORD}).status_code == 302
    assert admin.get("/admin/").status_code == 200
    assert other_device.get("/admin/").status_code == 302


def test_set_password_command_ends_every_session(app, runner, as_role, users):
    marketer = as_role("marketer")
    result = runner.invoke(args=["set-password", users["marketer"].upper(), "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert not signed_in(marketer)
    assert sign_in(app.test_client(), users["marketer"], NEW_PASSWORD).status_code == 302
    short = runner.invoke(args=["set-password", users["marketer"], "--password-stdin"], input="x\n")
    assert short.exit_code == EXIT_BAD_INPUT
    nobody = runner.invoke(args=["set-password", "nobody@example.com", "--password-stdin"],
                           input=NEW_PASSWORD + "\n")
    assert nobody.exit_code == EXIT_NOT_FOUND and "unknown_user" in nobody.output
    assert sign_in(app.test_client(), users["marketer"], NEW_PASSWORD).status_code == 302


def test_a_remember_cookie_ends_with_the_session_version(app, users):
    user = accounts.find_user(users["marketer"])
    remembered = encode_cookie(user.get_id())
    browser = app.test_client()
    browser.set_cookie("remember_token", remembered)
    assert signed_in(browser)
    accounts.end_sessions(user.id)
    later = app.test_client()
    later.set_cookie("remember_token", remembered)
    assert not signed_in(later)
    assert not signed_in(browser)


def test_a_session_from_before_session_versions_signs_in_again(app, client, users):
    user = accounts.find_user(users["marketer"])
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # how sessions named a user before
        session["_fresh"] = True
    assert not signed_in(client)


def _idle_for(client, seconds: int) -> None:  # noqa: ANN001
    """Move the session's last request back in time, as if nobody used it for that long."""
    with client.session_transaction() as session:
        session[LAST_SEEN] -= seconds


def test_a_cashier_idle_too_long_signs_in_again(app, as_role):
    cashier = as_role("cashier")
    limit = app.config["CASHIER_IDLE_MINUTES"] * 60
    _idle_for(cashier, limit - 60)
    assert cashier.get("/till/").status_code == 200  # not yet; and this request counts
    _idle_for(cashier, limit + 1)
    expired = cashier.get("/till/")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]
    page = cashier.get(expired.headers["Location"])
    assert "without using the till" in page.text
    assert cashier.get("/till/").status_code == 302  # signed out, not just redirected once


def test_an_idle_till_asks_htmx_to_load_the_sign_in_page(app, as_role):
    cashier = as_role("cashier")
    _idle_for(cashier, app.config["CASHIER_IDLE_MINUTES"] * 60 + 1)
    answer = cashier.post("/till/check", data={"code": "ABC123"},
                          headers={"HX-Request": "true", "HX-Current-URL": "http://portal.test/till/"})
    assert answer.status_code == 401
    assert answer.headers["HX-Redirect"] == "/login?next=/till/"


def test_the_idle_timeout_is_for_cashiers(app, as_role):
    marketer = as_role("marketer")
    _idle_for(marketer, app.config["CASHIER_IDLE_MINUTES"] * 60 + 1)
    assert signed_in(marketer)


@pytest.mark.parametrize("app_config", [{"CASHIER_IDLE_MINUTES": 0, "RATELIMIT_ENABLED": False,
                                          "WTF_CSRF_ENABLED": False}])
def test_no_idle_timeout_when_set_to_zero(app, as_role):
    cashier = as_role("cashier")
    _idle_for(cashier, 10 * 365 * 24 * 3600)
    assert cashier.get("/till/").status_code == 200
