"""Stage 4's sending: start a campaign send, follow its progress, send a test."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import queue
from ..models import Transport
from ..roles import MARKETING, requires
from ..services import pools, sending, transports
from ..services.errors import DomainError
from .blueprint import bp
from .forms import SendForm, TestSendForm
from .pages import CHANNEL_NAMES, channels_page

TRANSPORTS = ", ".join(t.value for t in Transport)


@bp.post(f"/<id:pool_id>/sends/<any({TRANSPORTS}):channel>")
@requires(*MARKETING)
def start_send(pool_id: int, channel: str):
    """Queue the campaign on a channel and show its progress."""
    form = SendForm()
    if not form.validate_on_submit():
        flash("The form expired; please send again.")
        return redirect(url_for("pools.channels_stage", pool_id=pool_id, _anchor="send"))
    try:
        job, created = queue.start_send(pool_id, channel, user_id=current_user.id,
                                        resend_interrupted=form.resend_interrupted.data)
    except DomainError as exc:
        flash(exc.message)
        return redirect(url_for("pools.channels_stage", pool_id=pool_id, _anchor="send"))
    if not created:
        flash(f"A send by {CHANNEL_NAMES[channel]} is already under way; here is its progress.")
    elif job.total == 0:
        flash(f"Everyone in the campaign has had their {CHANNEL_NAMES[channel]} message already.")
    return redirect(url_for("pools.send_page", pool_id=pool_id, job_id=job.id))


@bp.get("/<id:pool_id>/sends/<bigid:job_id>")
@requires(*MARKETING)
def send_page(pool_id: int, job_id: int):
    """One send: its progress bar, counts, reasons and errors, and what to do next."""
    job = sending.get_job(pool_id, job_id)
    return render_template("pools/send.html", pool=pools.get_pool(pool_id),
                           report=sending.progress(job.id), send_form=SendForm(formdata=None),
                           channel_names=CHANNEL_NAMES)


@bp.get("/<id:pool_id>/sends/<bigid:job_id>/progress")
@requires(*MARKETING)
def send_progress(pool_id: int, job_id: int):
    """The progress panel alone, polled while the send runs; 286 stops the polling."""
    job = sending.get_job(pool_id, job_id)
    report = sending.progress(job.id)
    # The panel's heading keeps the level of the page it is on (2 on the send's own page).
    level = 2 if request.args.get("level") == "2" else 3
    body = render_template("pools/partials/_send_progress.html", pool=pools.get_pool(pool_id),
                           report=report, channel_names=CHANNEL_NAMES, level=level)
    return body, 200 if report.job.active else 286


@bp.post("/<id:pool_id>/test-send")
@requires(*MARKETING)
def test_send(pool_id: int):
    """Send the message with a sample code to the marketer; consumes no code."""
    form = TestSendForm()
    result = None
    status = 422
    if form.validate_on_submit():
        try:
            queue.send_test(pool_id, form.channel.data, form.to.data)
        except DomainError as exc:
            form.to.errors.append(exc.message)
        except transports.DeliveryError as exc:
            result = ("error", f"The test did not go out: {exc.message}")
        else:
            result = ("ok", f"Test {CHANNEL_NAMES[form.channel.data]} sent to {form.to.data.strip()}, "
                            "with a sample code.")
            status = 200
    return channels_page(pool_id, status, test_form=form, test_result=result)
