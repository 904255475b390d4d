from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)],
                             render_kw={"autocomplete": "current-password"})


class EmptyForm(FlaskForm):
    """For buttons that only POST (sign out, pause, undo): the CSRF token and nothing else."""
