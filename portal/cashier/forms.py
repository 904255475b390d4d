from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class CheckForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(message="Scan or type a code first."),
                                           Length(max=200)],
                       render_kw={"autofocus": True, "autocomplete": "off", "autocapitalize":
                                  "characters", "spellcheck": "false", "inputmode": "text"})


class RedeemForm(FlaskForm):
    code = HiddenField(validators=[DataRequired(), Length(max=200)])
    # One nonce per VALID answer: a double click sends it twice and redeems once.
    nonce = HiddenField(validators=[DataRequired(), Length(max=64)])
    order_ref = StringField("Order reference (optional)", validators=[Optional(), Length(max=200)])


class UndoForm(FlaskForm):
    reason = TextAreaField("Why undo it?", validators=[DataRequired(message="Say why."),
                                                       Length(max=500)])
