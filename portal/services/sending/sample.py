"""A marketer's test message: the pool's message with a sample code, to themselves."""

from __future__ import annotations

from flask import current_app

from ...models import Customer, Transport
from .. import brand, channels, pools, transports
from ..customers import CustomerData
from .compose import Composer, Prepared, Sender, VoucherHtml
from .start import check_transport


def send_test(pool_id: int, channel: str, to: str, html: VoucherHtml) -> None:
    """Send the pool's message with a sample code to the marketer's own address or
    phone. Nothing is assigned or recorded; raises DeliveryError when it fails."""
    transport = check_transport(channel)
    # The same address rules as a customer's.
    checked = CustomerData(customer_id="sample", email=to if transport == Transport.EMAIL else None,
                           phone=to if transport == Transport.SMS else None).checked()
    pool = pools.get_pool(pool_id)
    sample = channels.sample_values(pool)
    composer = Composer(pool, lambda _: sample["voucher_url"], lambda _: sample["wallet_url"], html,
                        channels.settings(pool_id), brand.current(),
                        unsubscribe=lambda _: sample["unsubscribe_url"])
    customer = Customer(external_id="sample", first_name=sample["first_name"], email=checked.email,
                        phone=checked.phone, email_consent=True, sms_consent=True)
    item = Prepared(0, 1, customer, sample["code"], 0, pool.valid_until)
    sender = Sender(transport, current_app.config)
    try:
        if transport == Transport.EMAIL:
            email = composer.email(checked.email, composer.values(item))
            sender.client.send(transports.Email(email.to, "[Test] " + email.subject, email.text,
                                                email.html))
        else:
            sender.send(composer, item)
    finally:
        sender.close()
