"""The channel set-up page: an admin enters the SMTP server and the SMS provider, sends
a test through them, and saves them (secrets sealed). The environment's settings win."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..roles import requires
from ..services import channel_check, transports
from ..services import transport_settings as setup
from ..services.errors import DomainError
from ..services.transports import DeliveryError
from ..vocabulary import Transport
from ..web import attach_refusal
from .blueprint import bp
from .forms import EmailChannelForm, SmsChannelForm

FORMS = {Transport.EMAIL: EmailChannelForm, Transport.SMS: SmsChannelForm}
# The form's field for each setting a refusal may name.
FIELD_OF = {"host": "host", "port": "port", "security": "security", "mail_from": "mail_from",
            "url": "url", "secret": "password", "email": "mail_from", "phone": "test_to"}


def _form(transport: str, formdata: bool = False):  # noqa: ANN202
    """A channel's form: as posted, or filled from what is saved (never its secret)."""
    if formdata:
        return FORMS[transport](prefix=transport)
    saved = setup.saved(transport)
    if transport == Transport.EMAIL:
        data = {"host": saved.get("SMTP_HOST"), "port": saved.get("SMTP_PORT") or 587,
                "security": saved.get("SMTP_SECURITY") or "starttls",
                "username": saved.get("SMTP_USERNAME"), "mail_from": saved.get("MAIL_FROM")}
    else:
        data = {"url": saved.get("SMS_URL")}
    return FORMS[transport](formdata=None, prefix=transport, data=data)


def _page(status: int = 200, results: dict | None = None, **forms):  # noqa: ANN003
    config = current_app.config
    forms = {name: forms.get(name) or _form(name) for name in FORMS}
    return render_template(
        "admin/channels.html", forms=forms, results=results or {},
        saved={name: setup.saved(name) for name in FORMS},
        from_environment={name: setup.from_environment(config, name) for name in FORMS},
        channels=transports.describe(config), transport_names=transports.NAMES), status


def _attach(form, exc: DomainError) -> None:  # noqa: ANN001
    field = FIELD_OF.get(exc.details.get("field") or "")
    if field == "password" and not hasattr(form, "password"):
        field = "token"
    exc.details["field"] = field if field and hasattr(form, field) else None
    attach_refusal(form, exc)


@bp.get("/channels")
@requires("admin")
def channels():
    """Email and SMS as the portal sends them: set up, test and save."""
    return _page()


@bp.post(f"/channels/<any({Transport.EMAIL.value}, {Transport.SMS.value}):transport>")
@requires("admin")
def save_channel(transport: str):
    """Send a test through the settings as typed ("Send me a test"), or save them."""
    form = _form(transport, formdata=True)
    testing = request.form.get("action") == "test"
    if not form.validate_on_submit():
        return _page(422, **{transport: form})
    if testing:
        to = current_user.email if transport == Transport.EMAIL else (form.test_to.data or "").strip()
        if not to:
            form.test_to.errors = ["Enter your phone number to receive the test."]
            return _page(422, **{transport: form})
        try:
            trial = setup.trial(current_app.config, transport, form.values(), form.secret)
            sent_to = channel_check.send_test(trial, transport, to)
        except DomainError as exc:
            _attach(form, exc)
            return _page(422, **{transport: form})
        except DeliveryError as exc:
            return _page(200, results={transport: ("error", f"The test did not go out: {exc.message}")},
                         **{transport: form})
        return _page(200, results={transport: ("ok", f"A test went to {sent_to}. Check that it "
                                               "arrived, then save.")}, **{transport: form})
    try:
        trial = setup.trial(current_app.config, transport, form.values(), form.secret)
        if transport == Transport.EMAIL and transports.smtp_refusal(trial):
            form.security.errors = ["With no security the password would cross the network "
                                    "unencrypted: choose STARTTLS or TLS."]
            return _page(422, **{transport: form})
        setup.save(transport, form.values(), form.secret, forget_secret=form.forget_secret.data,
                   user_id=current_user.id)
    except DomainError as exc:
        _attach(form, exc)
        return _page(422, **{transport: form})
    flash(f"{transports.NAMES[transport][0].upper()}{transports.NAMES[transport][1:]} settings saved.")
    return redirect(url_for("admin.channels", _anchor=transport))
