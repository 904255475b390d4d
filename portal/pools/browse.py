"""A pool's own page: counts, the funnel, status, the code browser, history, cancel, export."""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request, stream_with_context, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..auth.forms import EmptyForm
from ..extensions import db
from ..models import Code
from ..roles import MARKETING, current_actor, requires
from ..services import consent, history, pools, redemption, replenishment, report
from ..services.errors import DomainError
from ..services.loading import is_live
from ..vocabulary import BIG_ID_MAX
from ..web import htmx
from .blueprint import bp
from .code_list import STATUSES, browse_codes, export_text
from .forms import CancelForm
from .stages import progress


@bp.get("/<id:pool_id>")
@requires(*MARKETING)
def pool_page(pool_id: int):
    """Counts, the campaign report, status buttons and the code browser of one pool."""
    pool = pools.get_pool(pool_id)
    counts = pools.counts(pool_id)
    query = (request.args.get("q") or "").strip()[:200]
    status = request.args.get("status", "")
    after = request.args.get("after", 0, type=int) or 0
    codes, next_after = browse_codes(pool_id, query, status, min(max(after, 0), BIG_ID_MAX))
    context = {"pool": pool, "codes": codes, "next_after": next_after, "q": query,
               "status": status, "statuses": STATUSES}
    if htmx() and request.headers.get("HX-Target") == "code-browser":
        return render_template("pools/partials/_browser.html", **context), 200, {"Vary": "HX-Request"}
    return render_template("pools/pool.html", counts=counts, button=EmptyForm(),
                           report=report.campaign_report(pool_id),
                           progress=progress(pool, counts), refill_runs=replenishment.history(pool_id),
                           **context), 200, {"Vary": "HX-Request"}


@bp.post("/<id:pool_id>/status")
@requires(*MARKETING)
def set_status(pool_id: int):
    """Pause, resume or archive the pool."""
    target = request.form.get("status", "")
    if EmptyForm().validate_on_submit() and target in ("active", "paused", "archived"):
        pools.set_status(pool_id, target)
        flash(f"The pool is now {target}.")
    return redirect(url_for("pools.pool_page", pool_id=pool_id))


@bp.route("/<id:pool_id>/codes/<bigid:code_id>", methods=["GET", "POST"])
@requires(*MARKETING)
def code_detail(pool_id: int, code_id: int):
    """One code: its history, and a form to cancel it with a reason."""
    code = db.session.scalar(select(Code).options(joinedload(Code.customer))
                             .where(Code.id == code_id, Code.pool_id == pool_id,
                                    is_live(Code.batch_id)))
    if code is None:
        return render_template("error.html", error=None, message="There is no such code."), 404
    form = CancelForm()
    status = 200
    if form.validate_on_submit():
        try:
            redemption.cancel(code.normalized, form.reason.data, actor=current_actor())
        except DomainError as exc:
            form.reason.errors = [exc.message]
            status = 409
        else:
            flash(f"Canceled {code.code}.")
            return redirect(url_for("pools.code_detail", pool_id=pool_id, code_id=code_id))
    elif request.method == "POST":
        status = 422
    holder = code.customer
    return render_template("pools/code.html", pool=pools.get_pool(pool_id), code=code, form=form,
                           entries=history.for_code(code_id),
                           consents=consent.states(holder) if holder else [],
                           consent_history=consent.history(holder.id, limit=20) if holder else [],
                           consent_words=consent.SOURCE_WORDS), status


@bp.post("/<id:pool_id>/codes/<bigid:code_id>/undo")
@requires("admin")
def undo_redemption(pool_id: int, code_id: int):
    """An admin undoes a code's redemption at any age (cashiers can only within minutes)."""
    form = CancelForm()
    active = redemption.active_redemption(code_id)
    if active is None or not form.validate_on_submit():
        flash("Say why, and make sure the code is still redeemed.")
    else:
        try:
            redemption.rollback(active.id, form.reason.data, actor=current_actor())
        except DomainError as exc:
            flash(exc.message)
        else:
            flash("The redemption was undone; the code can be redeemed again.")
    return redirect(url_for("pools.code_detail", pool_id=pool_id, code_id=code_id))


@bp.get("/<id:pool_id>/codes.csv")
@requires(*MARKETING)
def export_codes(pool_id: int):
    """Every code of the pool with its status and holder, streamed as spreadsheet-safe CSV."""
    pool = pools.get_pool(pool_id)
    return Response(stream_with_context(export_text(pool_id)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pool-{pool.id}-codes.csv"})
