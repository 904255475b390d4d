from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from ..models import Transport
from ..services import formats, generation, pools
from ..services.codes import MAX_LENGTH
from ..services.errors import InvalidInput
from ..services.replenishment import settings as refill

BARCODES = [SelectChoice("qr", "QR code"), SelectChoice("code128", "Code 128 barcode"),
            SelectChoice("ean13", "EAN-13 barcode (numeric codes)"), SelectChoice("none", "None")]
CHARSETS = [SelectChoice("alphanumeric", "Letters and digits, no look-alikes (0 O 1 I L)"),
            SelectChoice("alphabetic", "Letters A–Z"), SelectChoice("numeric", "Digits 0–9"),
            SelectChoice("hex", "Hexadecimal 0–9 A–F")]


def _one_char_line_breaks(text: str | None) -> str | None:
    """Browsers send every line break of a textarea as CR LF; keep it as one character,
    so text saved through the API does not grow past its limit when saved again here."""
    return text.replace("\r\n", "\n") if text else text


class PoolForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=pools.NAME_MAX)])
    benefit = StringField("What the customer gets", validators=[Optional(), Length(max=pools.BENEFIT_MAX)],
                          description="Shown to customers and cashiers, e.g. “10% off your next order”.")
    description = TextAreaField("Internal description", filters=[_one_char_line_breaks],
                                validators=[Optional(), Length(max=pools.DESCRIPTION_MAX)])
    terms = TextAreaField("Terms", filters=[_one_char_line_breaks],
                          validators=[Optional(), Length(max=pools.TERMS_MAX)])
    barcode_format = SelectField("Barcode on the voucher", choices=BARCODES, description=(
        "QR and Code 128 draw any code; the page offers the QR code where a long Code 128 "
        f"would be too small to scan. {formats.EAN13_RULE}"))
    valid_from = DateTimeLocalField("Redeemable from (UTC)", validators=[Optional()],
                                    format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    valid_until = DateTimeLocalField("Redeemable until (UTC)", validators=[Optional()],
                                     format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    per_customer_limit = IntegerField("Codes per customer", default=1, validators=[
        DataRequired(), NumberRange(min=pools.PER_CUSTOMER_LIMIT_MIN, max=pools.PER_CUSTOMER_LIMIT_MAX)])
    low_stock_threshold = IntegerField("Warn when available codes fall below", default=0, validators=[
        Optional(), NumberRange(min=pools.LOW_STOCK_THRESHOLD_MIN, max=pools.LOW_STOCK_THRESHOLD_MAX)])
    require_assignment = BooleanField("Only codes given to a customer can be redeemed", default=True)


class WindowForm(FlaskForm):
    valid_from = PoolForm.valid_from
    valid_until = PoolForm.valid_until
    per_customer_limit = PoolForm.per_customer_limit


class UploadForm(FlaskForm):
    file = FileField("File (CSV or text)", validators=[FileRequired("Choose a file to upload.")])


class GenerateForm(FlaskForm):
    ean13_hint = formats.EAN13_GENERATION  # shown in an EAN-13 pool
    count = IntegerField("How many codes", validators=[
        DataRequired(), NumberRange(min=1, max=generation.REQUEST_MAX_COUNT)])
    charset = SelectField("Characters", choices=CHARSETS)
    length = IntegerField("Length", default=generation.DEFAULT_LENGTH, validators=[
        Optional(), NumberRange(min=generation.LENGTH_MIN, max=generation.LENGTH_MAX)])
    pattern = StringField("Pattern (optional)", validators=[Optional(), Length(max=MAX_LENGTH)],
                          description="For example SUMMER-####-####: each # is a random character.")
    prefix = StringField("Prefix", validators=[Optional(), Length(max=MAX_LENGTH)])
    postfix = StringField("Postfix", validators=[Optional(), Length(max=MAX_LENGTH)])


class CustomerForm(FlaskForm):
    customer_id = StringField("Customer ID", validators=[DataRequired(), Length(max=200)])
    first_name = StringField("First name", validators=[Optional(), Length(max=200)])
    last_name = StringField("Last name", validators=[Optional(), Length(max=200)])
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=32)])
    email_consent = BooleanField("Agreed to email")
    sms_consent = BooleanField("Agreed to SMS")


class ChannelForm(FlaskForm):
    """A channel's message; saving it chooses the channel for the campaign."""

    subject = StringField("Subject", validators=[Optional(), Length(max=200)])
    body = TextAreaField("Message", validators=[Optional(), Length(max=5000)])
    footer = TextAreaField("Footer (unsubscribe text)", validators=[Optional(), Length(max=1000)])


class CheckCodeForm(FlaskForm):
    code = StringField("Code to check", validators=[DataRequired(), Length(max=200)])


class CancelForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=500)])


class SendForm(FlaskForm):
    """Start a campaign send; the channel comes from the URL."""

    resend_interrupted = BooleanField("Also send again the messages a stopped worker may "
                                      "have sent already")


class TestSendForm(FlaskForm):
    channel = SelectField("Channel", choices=[SelectChoice(Transport.EMAIL.value, "Email"),
                                              SelectChoice(Transport.SMS.value, "SMS")])
    to = StringField("Your email address or phone number", validators=[DataRequired(), Length(max=254)])


class CustomerListForm(UploadForm):
    when = SelectField("Give codes", default="now", choices=[
        SelectChoice("now", "Now, to everyone on the list"),
        SelectChoice("send", "When their message is sent (stage 4)")])


class ResubscribeForm(FlaskForm):
    """A marketer's explicit choice to subscribe again customers who had unsubscribed;
    the customers come as repeated `customer` fields, "<customer_id> <channel>"."""

    confirm = BooleanField("They have agreed again since they unsubscribed, and I can show when and how",
                           validators=[DataRequired("Confirm that they have agreed again.")])


class RefillForm(FlaskForm):
    url = StringField("Address of the partner's file", validators=[Optional(), Length(max=refill.URL_MAX)],
                      description="http:// or https://; fetched on the schedule below.")
    bearer_token = PasswordField("Bearer token", validators=[Optional(), Length(max=refill.SECRET_MAX)])
    username = StringField("User name", validators=[Optional(), Length(max=refill.USERNAME_MAX)])
    password = PasswordField("Password", validators=[Optional(), Length(max=refill.SECRET_MAX)])
    forget_secrets = BooleanField("Remove the stored token and password")
    schedule = SelectField("Fetch", default="hours", choices=[
        SelectChoice("hours", "Every few hours"), SelectChoice("daily", "Daily at a time (UTC)")])
    every_hours = IntegerField("Every how many hours", default=refill.DEFAULT_EVERY_HOURS, validators=[
        Optional(), NumberRange(min=refill.EVERY_HOURS_MIN, max=refill.EVERY_HOURS_MAX)])
    daily_at = StringField("Daily at (HH:MM, UTC)")
    drop_folder = BooleanField("Import files dropped in the server's drop folder")
    top_up_count = IntegerField("When codes run low, generate this many", default=0,
                                validators=[Optional(), NumberRange(min=0, max=refill.TOP_UP_COUNT_MAX)])
    top_up_cap = IntegerField("…until the pool has this many codes in all (empty: no cap)",
                              validators=[Optional(), NumberRange(min=0, max=refill.TOP_UP_CAP_MAX)])

    def validate_daily_at(self, field: StringField) -> None:
        """The service's HH:MM rule, for the schedule that uses it."""
        if self.schedule.data == "daily" and field.data and field.data.strip():
            try:
                refill.check_daily_at(field.data.strip())
            except InvalidInput as exc:
                raise ValidationError(exc.message) from exc
