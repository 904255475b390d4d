"""Stage 5 of the wizard: the redemption window, a code check, and the live counts."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from ..roles import MARKETING, requires
from ..services import pools, redemption
from ..services.errors import DomainError
from ..web import htmx
from .blueprint import bp
from .forms import CheckCodeForm, WindowForm
from .pages import attach_refusal, pool_values, stage_page


@bp.route("/<id:pool_id>/redemption", methods=["GET", "POST"])
@requires(*MARKETING)
def redemption_stage(pool_id: int):
    """Stage 5: the redemption window and limit, a code check, and redemptions per day."""
    pool = pools.get_pool(pool_id)
    form = WindowForm(obj=pool)
    status = 200
    if form.validate_on_submit():
        try:
            pools.review_redemption(pool_id, **pool_values(form))
        except DomainError as exc:
            attach_refusal(form, exc)
            status = 422
        else:
            return redirect(url_for("pools.redemption_stage", pool_id=pool_id))
    elif request.method == "POST":
        status = 422
    return stage_page(pool_id, "redemption", "pools/stage_redemption.html", status, form=form,
                      check=CheckCodeForm(formdata=None), per_day=redemption.per_day(pool_id))


@bp.post("/<id:pool_id>/redemption/check")
@requires(*MARKETING)
def check_code(pool_id: int):
    """Exactly what a cashier would see for this code (nothing is redeemed)."""
    form = CheckCodeForm()
    verdict = redemption.validate(form.code.data or "") if form.validate_on_submit() else None
    if htmx():
        return render_template("pools/partials/_check.html", verdict=verdict, check=form,
                               pool=pools.get_pool(pool_id))
    return stage_page(pool_id, "redemption", "pools/stage_redemption.html", form=WindowForm(
        obj=pools.get_pool(pool_id)), check=form, verdict=verdict, per_day=redemption.per_day(pool_id))


@bp.get("/<id:pool_id>/live-counts")
@requires(*MARKETING)
def live_counts(pool_id: int):
    """The pool's counts panel, polled while the page is open."""
    return render_template("pools/partials/_counts.html", pool=pools.get_pool(pool_id),
                           counts=pools.counts(pool_id), oob=False)


