"""Addresses shown without their secrets: one rule for the admin's channel list and
the replenishment's settings and messages."""

from __future__ import annotations

from portal.services import transports
from portal.services.urls import without_credentials


def test_user_and_password_are_dropped_and_the_rest_kept():
    url = "https://shop:s3cret@Partner.Example:8443/codes.csv?week=12#top"
    assert without_credentials(url) == "https://partner.example:8443/codes.csv?week=12"
    assert without_credentials(url, query=False) == "https://partner.example:8443/codes.csv"
    assert without_credentials("http://u:p@[fe80::1]:8080/a") == "http://[fe80::1]:8080/a"
    assert without_credentials("http://u:p@host:port/a") == "http://host:port/a"  # never raises
    assert without_credentials(None) is None and without_credentials("") == ""


def test_the_admin_channel_list_uses_the_same_rule():
    settings = {row["channel"]: dict(row["settings"]) for row in transports.describe({
        "SMS_URL": "https://user:pw@sms.example/send?api_key=k", "WEBHOOK_URL": ""})}
    assert settings["sms"]["Provider URL"] == "https://sms.example/send"
    assert settings["webhook"]["URL"] == "—"
