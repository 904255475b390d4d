"""Check a code, redeem it once, see and undo the last redemptions at this till."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import render_template
from flask_login import current_user
from werkzeug.exceptions import TooManyRequests

from .. import guessing
from ..models import utcnow
from ..roles import TILL, current_actor, requires, retry_after_seconds
from ..services import redemption, times
from ..services.errors import DomainError
from ..web import htmx
from .blueprint import bp
from .forms import CheckForm, RedeemForm, UndoForm

UNDO_WINDOW = timedelta(minutes=10)


def _page(**context):
    """The whole till page, or just its verdict fragment for an HTMX request; times in the
    zone of the cashier's store (an admin without one: the portal's)."""
    context.setdefault("form", CheckForm(formdata=None))
    context.setdefault("verdict", None)
    context.setdefault("unscanned", None)
    context.setdefault("zone", times.store_zone(current_user.store))
    context.setdefault("recent", redemption.recent(current_user.id))
    context.setdefault("undo_window", UNDO_WINDOW)
    context.setdefault("now", utcnow())
    template = "cashier/partials/_answer.html" if htmx() else "cashier/till.html"
    return render_template(template, **context)


@bp.get("/")
@requires(*TILL)
def till():
    """One screen: a big code input with the focus, the answer, and the last redemptions."""
    return _page()


@bp.post("/check")
@requires(*TILL)
def check():
    """Say at once whether the scanned code can be redeemed, and why not."""
    form = CheckForm()
    if not form.validate_on_submit():
        # Said in the answer's place: an empty Enter must not just clear the last answer.
        problem = next(iter(form.code.errors), None) or "The form expired; scan the code again."
        return _page(form=form, unscanned=problem), 422
    with guessing.lookup(guessing.user(current_user.id)) as answer:
        verdict = redemption.validate(form.code.data)
        answer.reason = verdict.reason
    redeem_form = RedeemForm(formdata=None, code=verdict.code.code if verdict.code else "",
                             nonce=secrets.token_urlsafe(16))
    return _page(verdict=verdict, redeem_form=redeem_form, form=CheckForm(formdata=None),
                 scanned=form.code.data.strip())


@bp.errorhandler(TooManyRequests)
def slow_down(exc: TooManyRequests):
    """After several unknown codes in a short time, make the cashier wait and say how long."""
    wait = retry_after_seconds(exc)
    return _page(wait=wait), 429, {"Retry-After": str(wait)}


@bp.post("/redeem")
@requires(*TILL)
def redeem():
    """Redeem exactly once; a double click, a second tab or another till gets a clear answer."""
    form = RedeemForm()
    if not form.validate_on_submit():
        return _page(verdict=None, problem="The form expired; scan the code again."), 422
    key = f"till:{current_user.id}:{form.nonce.data}"
    try:
        # Guarded like a check: a redeem answers "unknown code" too.
        with guessing.lookup(guessing.user(current_user.id)):
            done = redemption.redeem(form.code.data, actor=current_actor(),
                                     order_ref=form.order_ref.data or None, idempotency_key=key)
    except DomainError:
        # Show what is true now (already redeemed when and where, paused, ...).
        return _page(verdict=redemption.validate(form.code.data), form=CheckForm(formdata=None)), 409
    return _page(redeemed=done, wording=redemption.REDEEMED)


@bp.post("/redemptions/<bigid:redemption_id>/undo")
@requires(*TILL)
def undo(redemption_id: int):
    """Undo one of this cashier's own redemptions within ten minutes (admins: any)."""
    form = UndoForm()
    if not form.validate_on_submit():
        return _page(problem="Say why you undo the redemption.", undo_id=redemption_id), 422
    try:
        redemption.rollback(
            redemption_id, form.reason.data, actor=current_actor(),
            only_by_user=None if current_user.role == "admin" else current_user.id,
            within=None if current_user.role == "admin" else UNDO_WINDOW,
        )
    except DomainError as exc:
        return _page(problem=exc.message), 409
    return _page(undone=redemption_id, wording=redemption.UNDONE)
