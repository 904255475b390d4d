"""Stage 2's "Keep this pool filled": the settings, a run now, and the runs' history."""

from __future__ import annotations

from flask import current_app, flash, redirect, url_for

from .. import queue
from ..roles import requires
from ..services import replenishment
from ..services.errors import DomainError
from ..services.replenishment.settings import DEFAULT_EVERY_HOURS
from . import bp
from .forms import RefillForm

MARKETING = ("admin", "marketer")


def refill_context(pool_id: int, form: RefillForm | None = None) -> dict:
    """What the panel shows: the form filled from the saved settings, and the last runs."""
    rep = replenishment.get(pool_id)
    if form is None:
        data = {}
        if rep is not None:
            data = {"url": rep.url, "username": rep.username,
                    "every_hours": rep.every_hours or DEFAULT_EVERY_HOURS, "daily_at": rep.daily_at,
                    "schedule": "daily" if rep.daily_at else "hours",
                    "drop_folder": rep.drop_folder, "top_up_count": rep.top_up_count,
                    "top_up_cap": rep.top_up_cap}
        form = RefillForm(formdata=None, data=data)
    return {"refill": form, "refill_settings": rep, "refill_runs": replenishment.history(pool_id, 5),
            "drop_path": replenishment.drop_path(pool_id),
            "drop_configured": bool(current_app.config.get("DROP_FOLDER"))}


@bp.post("/<id:pool_id>/replenishment")
@requires(*MARKETING)
def save_refill(pool_id: int):
    """Save how the pool keeps itself filled."""
    from .views import codes_page

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
