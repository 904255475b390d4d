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
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

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


class WholeNumberField(IntegerField):
    """A whole number, refused in words people read ("Enter a whole number, such as 5.")."""

    def process_formdata(self, valuelist: list) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Enter a whole number, such as 5.") from exc


class MomentField(DateTimeLocalField):
    """A date and time as the browser's picker sends it, refused in words people read."""

    def process_formdata(self, valuelist: list) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError("Enter a date and a time, or leave it empty.") from exc


def _between(low: int, high: int, message: str) -> NumberRange:
    return NumberRange(min=low, max=high, message=message.format(low=f"{low:,}", high=f"{high:,}"))


def _one_char_line_breaks(text: str | None) -> str | None:
    """Browsers send every line break of a textarea as CR LF; keep it as one character,
    so text saved through the API does not grow past its limit when saved again here."""
    return text.replace("\r\n", "\n") if text else text


class PoolForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the pool a name."), Length(max=pools.NAME_MAX)])
    benefit = StringField("What the customer gets", validators=[Optional(), Length(max=pools.BENEFIT_MAX)],
                          description="Shown to customers and cashiers, e.g. “10% off your next order”.")
    description = TextAreaField("Internal description", filters=[_one_char_line_breaks],
                                validators=[Optional(), Length(max=pools.DESCRIPTION_MAX)])
    terms = TextAreaField("Terms", filters=[_one_char_line_breaks],
                          validators=[Optional(), Length(max=pools.TERMS_MAX)])
    barcode_format = SelectField("Barcode on the voucher", choices=BARCODES, description=(
        "QR and Code 128 draw any code; the page offers the QR code where a long Code 128 "
        f"would be too small to scan. {formats.EAN13_RULE}"))
    # In the person's own time zone (pages.local_window and pages.pool_values turn it).
    valid_from = MomentField("Redeemable from", validators=[Optional()],
                             format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    valid_until = MomentField("Redeemable until", validators=[Optional()],
                              format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"])
    per_customer_limit = WholeNumberField("Codes per customer", default=1, validators=[
        InputRequired("Enter how many codes one customer may hold, such as 1."),
        _between(pools.PER_CUSTOMER_LIMIT_MIN, pools.PER_CUSTOMER_LIMIT_MAX,
                 "Each customer may hold from {low} to {high} codes.")])
    low_stock_threshold = WholeNumberField("Warn when available codes fall below", default=0, validators=[
        Optional(), _between(pools.LOW_STOCK_THRESHOLD_MIN, pools.LOW_STOCK_THRESHOLD_MAX,
                             "The warning level is a number from {low} to {high}.")])
    require_assignment = BooleanField("Only codes given to a customer can be redeemed", default=True)


class WindowForm(FlaskForm):
    valid_from = PoolForm.valid_from
    valid_until = PoolForm.valid_until
    per_customer_limit = PoolForm.per_customer_limit


class UploadForm(FlaskForm):
    file = FileField("File (CSV or text)", validators=[FileRequired("Choose a file to upload.")])


class GenerateForm(FlaskForm):
    ean13_hint = formats.EAN13_GENERATION  # shown in an EAN-13 pool
    count = WholeNumberField("How many codes", validators=[
        InputRequired("Enter how many codes to generate."),
        _between(1, generation.REQUEST_MAX_COUNT, "Generate from {low} to {high} codes at a time.")])
    charset = SelectField("Characters", choices=CHARSETS)
    length = WholeNumberField("Length", default=generation.DEFAULT_LENGTH, validators=[
        Optional(), _between(generation.LENGTH_MIN, generation.LENGTH_MAX,
                             "A code is from {low} to {high} characters long.")])
    pattern = StringField("Pattern (optional)", validators=[Optional(), Length(max=MAX_LENGTH)],
                          description="For example SUMMER-####-####: each # is a random character.")
    prefix = StringField("Prefix", validators=[Optional(), Length(max=MAX_LENGTH)])
    postfix = StringField("Postfix", validators=[Optional(), Length(max=MAX_LENGTH)])


class CustomerForm(FlaskForm):
    customer_id = StringField("Customer ID", validators=[DataRequired("Enter the customer's ID."),
                                                         Length(max=200)])
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
    code = StringField("Code to check", validators=[DataRequired("Type or scan a code to check."),
                                                    Length(max=200)])


class CancelForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired("Say why, for the code's history."),
                                               Length(max=500)])


class SendForm(FlaskForm):
    """Start a campaign send; the channel comes from the URL."""

    resend_interrupted = BooleanField("Also send again the messages a stopped worker may "
                                      "have sent already")


class TestSendForm(FlaskForm):
    channel = SelectField("Channel", choices=[SelectChoice(Transport.EMAIL.value, "Email"),
                                              SelectChoice(Transport.SMS.value, "SMS")])
    to = StringField("Your email address or phone number", validators=[
        DataRequired("Enter where the test should go."), Length(max=254)])


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
    every_hours = WholeNumberField("Every how many hours", default=refill.DEFAULT_EVERY_HOURS, validators=[
        Optional(), _between(refill.EVERY_HOURS_MIN, refill.EVERY_HOURS_MAX,
                             "Fetch every {low} to {high} hours.")])
    daily_at = StringField("Daily at (HH:MM, UTC)")
    drop_folder = BooleanField("Import files dropped in the server's drop folder")
    top_up_count = WholeNumberField("When codes run low, generate this many", default=0, validators=[
        Optional(), _between(0, refill.TOP_UP_COUNT_MAX, "Generate from {low} to {high} codes at a time.")])
    top_up_cap = WholeNumberField("…until the pool has this many codes in all (empty: no cap)", validators=[
        Optional(), _between(0, refill.TOP_UP_CAP_MAX, "The cap is a number from {low} to {high}.")])

    def validate_daily_at(self, field: StringField) -> None:
        """The service's HH:MM rule, for the schedule that uses it."""
        if self.schedule.data == "daily" and field.data and field.data.strip():
            try:
                refill.check_daily_at(field.data.strip())
            except InvalidInput as exc:
                raise ValidationError(exc.message) from exc
