"""A test message through a sending channel's settings, saved or only typed, so an admin
knows they work before a campaign depends on them."""

from __future__ import annotations

from collections.abc import Mapping

from ..vocabulary import Transport
from . import transports
from .customers import CustomerData


def send_test(settings: Mapping, transport: str, to: str) -> str:
    """Send a short test to `to` (an email address, or a phone number for SMS) with these
    settings; returns where it went. Raises DeliveryError, or InvalidInput for a bad `to`."""
    if transport == Transport.EMAIL:
        address = CustomerData(customer_id="test", email=to).checked().email
        mailer = transports.Mailer(settings)
        try:
            mailer.send(transports.Email(
                address, "Test from the voucher portal",
                "This is a test from the voucher portal: campaign emails can go out this way.",
                "<p>This is a test from the voucher portal: campaign emails can go out this way.</p>"))
        finally:
            mailer.close()
        return address
    phone = CustomerData(customer_id="test", phone=to).checked().phone
    sender = transports.SmsSender(settings)
    try:
        sender.send(phone, "Test from the voucher portal: campaign SMS can go out this way.", "test")
    finally:
        sender.close()
    return phone
