"""Admin page: add and disable users, set their passwords, add stores, create and
revoke API keys, set the shop's brand, and register the endpoints that receive events
(resume a paused one, send a delivery again)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from ..auth.forms import EmptyForm
from ..extensions import db
from ..models import ApiKey, Store, User
from ..roles import requires
from ..services import accounts, brand, times, transports
from ..services.errors import DomainError
from ..services.integrations import delivery, endpoints
from ..sessions import begin
from ..web import attach_refusal
from .blueprint import bp
from .forms import ApiKeyForm, BrandForm, EventEndpointForm, PasswordForm, StoreForm, StoreZoneForm, UserForm


def _user_form(formdata=True) -> UserForm:  # noqa: ANN001
    form = UserForm() if formdata else UserForm(formdata=None)
    stores = db.session.scalars(select(Store).order_by(Store.code)).all()
    form.store.choices = [SelectChoice("", "— none —")] + [
        SelectChoice(s.code, f"{s.code} · {s.name}") for s in stores]
    return form


def _page(status: int = 200, new_key: str | None = None, new_secret: str | None = None, **forms):
    forms.setdefault("user_form", _user_form(formdata=False))
    forms.setdefault("store_form", StoreForm(formdata=None, timezone=times.portal_zone()))
    forms.setdefault("zone_form", StoreZoneForm(formdata=None))
    forms.setdefault("zone_error", None)
    forms.setdefault("key_form", ApiKeyForm(formdata=None))
    forms.setdefault("endpoint_form", EventEndpointForm(formdata=None))
    look = brand.current()
    forms.setdefault("brand_form", BrandForm(formdata=None, shop_name=look.shop_name,
                                             accent_colour=look.accent_colour))
    return render_template(
        "admin/index.html",
        users=db.session.scalars(select(User).order_by(User.email)).all(),
        stores=db.session.scalars(select(Store).order_by(Store.code)).all(),
        keys=db.session.scalars(select(ApiKey).order_by(ApiKey.id.desc())).all(),
        button=EmptyForm(), new_key=new_key, channels=transports.describe(current_app.config),
        transport_names=transports.NAMES, brand=look, min_contrast=brand.MIN_CONTRAST,
        zones=times.zone_names(), portal_zone=times.portal_zone(),
        endpoints=endpoints.listing(), deliveries=delivery.recent_deliveries(), new_secret=new_secret,
        **forms,
    ), status


@bp.get("/")
@requires("admin")
def index():
    """Users, stores and API keys on one page."""
    return _page()


@bp.post("/users")
@requires("admin")
def add_user():
    """Add a user; cashiers need a store."""
    form = _user_form()
    if form.validate_on_submit():
        try:
            accounts.create_user(form.email.data, form.password.data, form.role.data,
                                 form.store.data or None)
        except DomainError as exc:
            attach_refusal(form, exc, "email")
        else:
            flash(f"Added {form.role.data} {form.email.data.strip().lower()}.")
            return redirect(url_for("admin.index"))
    return _page(422, user_form=form)


@bp.post("/users/<id:user_id>/active")
@requires("admin")
def toggle_user(user_id: int):
    """Disable a user (they can no longer sign in) or enable them again."""
    if EmptyForm().validate_on_submit():
        if user_id == current_user.id:
            flash("You cannot disable your own account.")
        else:
            user = accounts.set_active(user_id, None)
            flash(f"{user.email} is now {'active' if user.active else 'disabled'}.")
    return redirect(url_for("admin.index"))


@bp.route("/users/<id:user_id>/password", methods=["GET", "POST"])
@requires("admin")
def set_password(user_id: int):
    """Give a user a new password; every session they had ends (yours stays, if it is you)."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.set_password(user_id, form.password.data)
        except DomainError as exc:
            form.password.errors.append(exc.message)
        else:
            if user.id == current_user.id:
                begin(user)  # this browser carries on under the new session version
            flash(f"{user.email} has a new password; every session they had has ended.")
            return redirect(url_for("admin.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/password.html", user=user, form=form), status


@bp.post("/stores")
@requires("admin")
def add_store():
    """Add a store, with the time zone its tills show times in."""
    form = StoreForm()
    if form.validate_on_submit():
        try:
            accounts.create_store(form.code.data, form.name.data, form.timezone.data)
        except DomainError as exc:
            attach_refusal(form, exc, "code")
        else:
            flash(f"Added store {form.code.data.strip()}.")
            return redirect(url_for("admin.index"))
    return _page(422, store_form=form)


@bp.post("/stores/<id:store_id>/timezone")
@requires("admin")
def set_store_timezone(store_id: int):
    """Change the time zone a store's tills show times in (empty: the portal's)."""
    form = StoreZoneForm()
    if form.validate_on_submit():
        try:
            store = accounts.set_store_timezone(store_id, form.timezone.data)
        except DomainError as exc:
            if exc.reason == "unknown_store":
                abort(404)
            return _page(422, zone_form=form, zone_error=(store_id, exc.message))
        flash(f"Store {store.code} now shows times in {times.store_zone(store)}.")
        return redirect(url_for("admin.index"))
    return _page(422, zone_form=form, zone_error=(store_id, "; ".join(
        error for errors in form.errors.values() for error in errors)))


@bp.post("/keys")
@requires("admin")
def add_key():
    """Create an API key and show it once."""
    form = ApiKeyForm()
    if form.validate_on_submit():
        new = accounts.create_api_key(form.name.data, form.scope.data)
        return _page(201, new_key=new.secret)
    return _page(422, key_form=form)


@bp.post("/keys/<id:key_id>/revoke")
@requires("admin")
def revoke_key(key_id: int):
    """Revoke an API key at once."""
    if EmptyForm().validate_on_submit():
        key = accounts.revoke_api_key(key_id)
        flash(f"Revoked the key “{key.name}”.")
    return redirect(url_for("admin.index"))


@bp.post("/brand")
@requires("admin")
def set_brand():
    """Set the shop's name, accent colour and (when a file is chosen) logo; a refused
    value is shown beside its field and nothing changes."""
    form = BrandForm()
    if form.validate_on_submit():
        upload = form.logo.data
        try:
            brand.save(form.shop_name.data or "", form.accent_colour.data or "",
                       upload.stream if upload and upload.filename else None)
        except DomainError as exc:
            attach_refusal(form, exc, "shop_name")
        else:
            flash("The brand is saved: voucher pages and emails use it from now on.")
            return redirect(url_for("admin.index") + "#brand-title")
    return _page(422, brand_form=form)


@bp.post("/brand/logo/remove")
@requires("admin")
def remove_logo():
    """Remove the logo; voucher pages and emails go on without one."""
    if EmptyForm().validate_on_submit():
        brand.remove_logo()
        flash("The logo is removed.")
    return redirect(url_for("admin.index") + "#brand-title")


@bp.post("/webhooks")
@requires("admin")
def add_endpoint():
    """Register an endpoint for events; its signing secret is shown this once."""
    form = EventEndpointForm()
    if form.validate_on_submit():
        try:
            done = endpoints.create(form.url.data, form.events.data, form.description.data or "")
        except DomainError as exc:
            attach_refusal(form, exc, "url")
        else:
            flash(f"Registered {done.endpoint.url}.")
            return _page(201, new_secret=done.secret)
    return _page(422, endpoint_form=form)


@bp.post("/webhooks/<id:endpoint_id>/resume")
@requires("admin")
def resume_endpoint(endpoint_id: int):
    """Deliver to a paused endpoint again, from the event it stopped at."""
    if EmptyForm().validate_on_submit():
        endpoint = endpoints.resume(endpoint_id)
        flash(f"Deliveries to {endpoint.url} resumed.")
    return redirect(url_for("admin.index", _anchor="webhooks-title"))


@bp.post("/webhooks/<id:endpoint_id>/delete")
@requires("admin")
def delete_endpoint(endpoint_id: int):
    """Remove an endpoint and its waiting deliveries."""
    if EmptyForm().validate_on_submit():
        endpoints.delete(endpoint_id)
        flash("The endpoint was deleted.")
    return redirect(url_for("admin.index", _anchor="webhooks-title"))


@bp.post("/webhooks/deliveries/<bigid:delivery_id>/again")
@requires("admin")
def send_again(delivery_id: int):
    """Send one event to its endpoint again."""
    if EmptyForm().validate_on_submit():
        done = delivery.resend(delivery_id)
        flash(f"Event {done.event_id} ({done.event.type}) will be sent again.")
    return redirect(url_for("admin.index", _anchor="webhooks-title"))
