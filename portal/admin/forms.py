from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional


class UserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=[SelectChoice("marketer", "Marketer"),
                                        SelectChoice("cashier", "Cashier"),
                                        SelectChoice("admin", "Admin")])
    store = SelectField("Store (cashiers)", choices=[], validators=[Optional()])
    password = PasswordField("Password (at least 10 characters)",
                             validators=[DataRequired(), Length(min=10, max=500)],
                             render_kw={"autocomplete": "new-password"})


class StoreForm(FlaskForm):
    code = StringField("Store code", validators=[DataRequired(), Length(max=32)])
    name = StringField("Store name", validators=[DataRequired(), Length(max=200)])


class ApiKeyForm(FlaskForm):
    name = StringField("Key name", validators=[DataRequired(), Length(max=200)])
    scope = SelectField("Scope", choices=[SelectChoice("pos", "pos: validate, redeem, roll back"),
                                          SelectChoice("integration", "integration: everything")])
