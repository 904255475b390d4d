"""Stage 2's "Keep this pool filled": the settings, a run now, and the runs' history."""

from __future__ import annotations

from flask import flash, redirect, url_for

from .. import queue
from ..roles import MARKETING, requires
from ..services import replenishment
from ..services.errors import DomainError
from ..services.replenishment.settings import DEFAULT_EVERY_HOURS
from .blueprint import bp
from .forms import RefillForm
from .pages import codes_page


@bp.post("/<id:pool_id>/replenishment")
@requires(*MARKETING)
def save_refill(pool_id: int):
    """Save how the pool keeps itself filled."""
    form = RefillForm()
    if form.validate_on_submit():
        daily = form.schedule.data == "daily"
        values = {"url": form.url.data or None, "username": form.username.data or None,
                  "every_hours": None if daily else (form.every_hours.data or DEFAULT_EVERY_HOURS),
                  "daily_at": (form.daily_at.data or None) if daily else None,
                  "drop_folder": form.drop_folder.data, "top_up_count": form.top_up_count.data or 0,
                  "top_up_cap": form.top_up_cap.data}
        if form.forget_secrets.data:
            values.update(bearer_token="", password="")
        else:
            values.update(bearer_token=form.bearer_token.data or None, password=form.password.data or None)
        try:
            replenishment.configure(pool_id, **values)
        except DomainError as exc:
            field = getattr(form, exc.details.get("field", ""), None) or form.url
            field.errors = [*field.errors, exc.message]
        else:
            flash("Saved how this pool keeps itself filled.")
            return redirect(url_for("pools.codes", pool_id=pool_id, _anchor="refill"))
    return codes_page(pool_id, 422, refill_form=form)


@bp.post("/<id:pool_id>/replenishment/run")
@requires(*MARKETING)
def run_refill(pool_id: int):
    """Run the pool's replenishment now, on the worker."""
    if replenishment.get(pool_id) is None:
        flash("Set up how this pool keeps itself filled first.")
    else:
        queue.replenish_now(pool_id)
        flash("Replenishment started; its result appears under “Recent runs” in a moment.")
    return redirect(url_for("pools.codes", pool_id=pool_id, _anchor="refill"))
