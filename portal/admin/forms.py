from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..services import brand
from ..services import transport_settings as sending_setup
from ..services.accounts import MIN_PASSWORD
from ..services.integrations.endpoints import DESCRIPTION_MAX
from ..services.integrations.payloads import EVENT_TYPES
from ..services.replenishment.settings import URL_MAX
from ..services.times import ZONE_MAX_LENGTH


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice("marketer", "Marketer"),
                                        SelectChoice("cashier", "Cashier"),
                                        SelectChoice("admin", "Admin")])
    store = SelectField("Store (cashiers)", choices=[], validators=[Optional()])
    password = PasswordField(f"Password (at least {MIN_PASSWORD} characters)",
                             validators=[DataRequired(), Length(min=MIN_PASSWORD, max=500)],
                             render_kw={"autocomplete": "new-password"})


class PasswordForm(FlaskForm):
    password = PasswordField(f"New password (at least {MIN_PASSWORD} characters)",
                             validators=[DataRequired(), Length(min=MIN_PASSWORD, max=500)],
                             render_kw={"autocomplete": "new-password"})


class StoreForm(FlaskForm):
    code = StringField("Store code", validators=[DataRequired(), Length(max=32)])
    name = StringField("Store name", validators=[DataRequired(), Length(max=200)])
    # Checked by the accounts service (times.is_zone); the page offers every name in a list.
    timezone = StringField("Time zone (its tills' times)",
                           validators=[Optional(), Length(max=ZONE_MAX_LENGTH)],
                           render_kw={"list": "zones", "autocomplete": "off", "spellcheck": "false"})


class StoreZoneForm(FlaskForm):
    """Change one store's time zone; empty: the portal's (PORTAL_TIMEZONE)."""

    timezone = StringField("Time zone", validators=[Optional(), Length(max=ZONE_MAX_LENGTH)])


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=200)])
    scope = SelectField("Scope", choices=[SelectChoice("pos", "pos: validate, redeem, roll back"),
                                          SelectChoice("integration", "integration: everything")])


class BrandForm(FlaskForm):
    """The shop's name, accent colour and logo; the service checks the colour and the logo."""

    shop_name = StringField("Shop name", validators=[Optional(), Length(max=brand.SHOP_NAME_MAX)])
    accent_colour = StringField("Accent colour",
                                render_kw={"placeholder": "#1f4fa8", "autocomplete": "off",
                                           "spellcheck": "false"})
    logo = FileField(f"Logo (PNG or JPEG, at most {brand.LOGO_MAX_BYTES // 1024} KB and "
                     f"{brand.LOGO_MAX_SIDE} × {brand.LOGO_MAX_SIDE} pixels)",
                     render_kw={"accept": ",".join(brand.LOGO_TYPES.values())})


class EventEndpointForm(FlaskForm):
    """An endpoint for events: its URL and the events it wants."""

    url = StringField("Receiver URL", validators=[DataRequired(), Length(max=URL_MAX)])
    events = SelectMultipleField("Events", choices=[SelectChoice(name, name) for name in EVENT_TYPES],
                                 widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                                 validators=[DataRequired(message="Choose one or more events.")])
    description = StringField("Description (optional)", validators=[Optional(), Length(max=DESCRIPTION_MAX)])


class EmailChannelForm(FlaskForm):
    """The SMTP server campaign emails go through; the password is stored sealed."""

    host = StringField("SMTP server", validators=[DataRequired("Enter the SMTP server's host name."),
                                                  Length(max=sending_setup.HOST_MAX)],
                       render_kw={"placeholder": "smtp.example.com", "autocomplete": "off",
                                  "spellcheck": "false"})
    port = IntegerField("Port", default=587, validators=[
        InputRequired("Enter the port: 587 for STARTTLS, 465 for TLS."),
        NumberRange(min=1, max=65535, message="The port is a number from 1 to 65535.")])
    security = SelectField("Security", default="starttls", choices=[
        SelectChoice("starttls", "STARTTLS"), SelectChoice("tls", "TLS"), SelectChoice("none", "None")])
    username = StringField("User name", validators=[Optional(), Length(max=sending_setup.ADDRESS_MAX)],
                           render_kw={"autocomplete": "off"})
    password = PasswordField("Password", validators=[Optional(), Length(max=sending_setup.SECRET_MAX)],
                             render_kw={"autocomplete": "new-password"})
    forget_secret = BooleanField("Remove the stored password")
    mail_from = StringField("Emails come from", validators=[
        DataRequired("Enter the address emails come from."), Length(max=sending_setup.ADDRESS_MAX)],
        render_kw={"placeholder": "Shop <vouchers@shop.example>"})

    def values(self) -> dict:
        """The fields under the names the transports read."""
        return {"SMTP_HOST": self.host.data, "SMTP_PORT": self.port.data,
                "SMTP_SECURITY": self.security.data, "SMTP_USERNAME": self.username.data,
                "MAIL_FROM": self.mail_from.data}

    @property
    def secret(self) -> str | None:
        return self.password.data or None


class SmsChannelForm(FlaskForm):
    """The SMS provider's HTTP API; the token is stored sealed."""

    url = StringField("Provider's address", validators=[
        DataRequired("Enter the provider's address."), Length(max=sending_setup.URL_MAX)],
        render_kw={"placeholder": "https://sms.example.com/api/send", "autocomplete": "off",
                   "spellcheck": "false"})
    token = PasswordField("Token", validators=[Optional(), Length(max=sending_setup.SECRET_MAX)],
                          render_kw={"autocomplete": "new-password"})
    forget_secret = BooleanField("Remove the stored token")
    test_to = StringField("Your phone number (for the test)", validators=[Optional(), Length(max=32)],
                          render_kw={"autocomplete": "tel", "inputmode": "tel"})

    def values(self) -> dict:
        return {"SMS_URL": self.url.data}

    @property
    def secret(self) -> str | None:
        return self.token.data or None
