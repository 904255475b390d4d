from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..services.times import ZONE_MAX_LENGTH


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)],
                             render_kw={"autocomplete": "current-password"})


class EmptyForm(FlaskForm):
    """For buttons that only POST (sign out, pause, undo): the CSRF token and nothing else."""


class ProfileForm(FlaskForm):
    """The signed-in person's own settings: the time zone their pages show times in."""

    timezone = StringField("Your time zone", validators=[Optional(), Length(max=ZONE_MAX_LENGTH)],
                           render_kw={"list": "zones", "autocomplete": "off", "spellcheck": "false"})
