"""Stage 5 of the wizard: the redemption window, a code check, and the live counts."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from .. import guessing
from ..roles import MARKETING, requires, retry_after_seconds
from ..services import pools, redemption, report
from ..services.errors import DomainError
from ..web import attach_refusal, htmx
from .blueprint import bp
from .forms import CheckCodeForm, WindowForm
from .pages import pool_values, stage_page, window_form

STAGE_DAYS = 14  # the days stage 5's chart shows


@bp.route("/<id:pool_id>/redemption", methods=["GET", "POST"])
@requires(*MARKETING)
def redemption_stage(pool_id: int):
    """Stage 5: the redemption window and limit, a code check, and redemptions per day."""
    pool = pools.get_pool(pool_id)
    form = window_form(WindowForm, pool)
    status = 200
    if form.validate_on_submit():
        try:
            pools.review_redemption(pool_id, **pool_values(form))
        except DomainError as exc:
            attach_refusal(form, exc)
            status = 422
        else:
            flash("The redemption rules are saved.")
            return redirect(url_for("pools.redemption_stage", pool_id=pool_id))
    elif request.method == "POST":
        status = 422
    return stage_page(pool_id, "redemption", "pools/stage_redemption.html", status, form=form,
                      check=CheckCodeForm(formdata=None), per_day=report.per_day(pool_id, STAGE_DAYS))


@bp.post("/<id:pool_id>/redemption/check")
@requires(*MARKETING)
def check_code(pool_id: int):
    """Exactly what a cashier would see for this code (nothing is redeemed); unknown codes
    count against the checker's allowance, as at the till."""
    form = CheckCodeForm()
    verdict, wait, status, headers = None, None, 200, {}
    if form.validate_on_submit():
        try:
            with guessing.lookup(guessing.user(current_user.id)) as answer:
                verdict = redemption.validate(form.code.data)
                answer.reason = verdict.reason
        except TooManyRequests as exc:
            wait = retry_after_seconds(exc)
            status, headers = 429, {"Retry-After": str(wait)}
    if htmx():
        return render_template("pools/partials/_check.html", verdict=verdict, check=form, wait=wait,
                               pool=pools.get_pool(pool_id)), status, headers
    page, status = stage_page(pool_id, "redemption", "pools/stage_redemption.html", status,
                              form=window_form(WindowForm, pools.get_pool(pool_id), posted=False),
                              check=form,
                              verdict=verdict, wait=wait, per_day=report.per_day(pool_id, STAGE_DAYS))
    return page, status, headers


@bp.get("/<id:pool_id>/live-counts")
@requires(*MARKETING)
def live_counts(pool_id: int):
    """The pool's counts panel, polled while the page is open."""
    return render_template("pools/partials/_counts.html", pool=pools.get_pool(pool_id),
                           counts=pools.counts(pool_id), oob=False)


