"""The signed-in person's profile: the time zone their pages show times in."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, login_required

from ..models import utcnow
from ..services import accounts, times
from ..services.errors import DomainError
from ..web import attach_refusal
from .blueprint import bp
from .forms import ProfileForm


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Your time zone (empty: the portal's, PORTAL_TIMEZONE)."""
    form = ProfileForm(data={"timezone": current_user.timezone or ""})
    if form.validate_on_submit():
        try:
            user = accounts.set_user_timezone(current_user.id, form.timezone.data)
        except DomainError as exc:
            attach_refusal(form, exc)
        else:
            flash(f"Saved: times are shown in {times.person_zone(user)}.")
            return redirect(url_for("auth.profile"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/profile.html", form=form, zones=times.zone_names(),
                           portal_zone=times.portal_zone(), now=utcnow()), status
