"""The dashboard and the five-stage set-up wizard of a pool."""

from __future__ import annotations

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from .. import queue
from ..models import Channel, ConsentSource
from ..roles import MARKETING, current_actor, requires
from ..services import assignment, channels, consent, generation, imports, jobs, pools
from ..services.customers import CustomerData
from ..services.errors import DomainError
from ..services.spreadsheet import csv_lines
from ..web import attach_refusal, htmx
from .blueprint import bp
from .forms import (
    ChannelForm,
    CustomerForm,
    CustomerListForm,
    GenerateForm,
    PoolForm,
    ResubscribeForm,
    UploadForm,
)
from .pages import (
    channels_page,
    code_preview,
    codes_page,
    customers_answer,
    customers_page,
    file_job,
    generation_spec,
    message_preview,
    one_answer,
    pool_values,
    stage_page,
    window_form,
)
from .stages import STAGES

# The most customers one "subscribe again" choice takes: the first lines of an upload's report.
RESUBSCRIBE_MAX = 500


# --- stage 1: the pool ---------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@requires(*MARKETING)
def new_pool():
    """Stage 1 for a new pool: every setting, errors beside their fields."""
    form = PoolForm()
    if form.validate_on_submit():
        values = pool_values(form)
        try:
            pool = pools.create_pool(values.pop("name"), owner_id=current_user.id, **values)
        except DomainError as exc:
            attach_refusal(form, exc)
        else:
            flash(f"Pool “{pool.name}” created. Next, give it codes.")
            return redirect(url_for("pools.codes", pool_id=pool.id))
    status = 422 if request.method == "POST" else 200
    return render_template("pools/stage_pool.html", form=form, pool=None, stages=STAGES,
                           current="pool", done=set(), counts=None), status


@bp.route("/<id:pool_id>/pool", methods=["GET", "POST"])
@requires(*MARKETING)
def edit_pool(pool_id: int):
    """Stage 1 for an existing pool."""
    pool = pools.get_pool(pool_id)
    form = window_form(PoolForm, pool)
    if form.validate_on_submit():
        try:
            pools.update_pool(pool_id, **pool_values(form))
        except DomainError as exc:
            attach_refusal(form, exc)
        else:
            flash("The pool's settings are saved.")
            return redirect(url_for("pools.codes", pool_id=pool_id))
    return stage_page(pool_id, "pool", "pools/stage_pool.html",
                      422 if request.method == "POST" else 200, form=form)


# --- stage 2: codes -----------------------------------------------------------------------------

@bp.get("/<id:pool_id>/codes")
@requires(*MARKETING)
def codes(pool_id: int):
    """Stage 2: import a file, or generate codes with a live preview, and keep the pool
    filled."""
    return codes_page(pool_id)


@bp.post("/<id:pool_id>/codes/import")
@requires(*MARKETING)
def import_file(pool_id: int):
    """Import the uploaded file; the summary and rejected lines come back in place."""
    form = UploadForm()
    result = None
    status = 422
    job = None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            if jobs.for_a_worker(jobs.size_of(upload.stream)):
                job = queue.queue_file("import", pool_id, upload.stream, upload.filename or "upload",
                                       user_id=current_user.id)
                status = 202
            else:
                result = imports.import_codes(pool_id, upload.stream,
                                              source=upload.filename or "upload",
                                              actor=current_actor())
                status = 200
        except DomainError as exc:
            form.file.errors = [exc.message]
    context = {"upload": form, "result": result, "job": job}
    if htmx():
        pool = pools.get_pool(pool_id)
        return render_template("pools/partials/_import_result.html", pool=pool,
                               counts=pools.counts(pool_id), oob=True, **context), status
    return codes_page(pool_id, status, **context)


@bp.get("/<id:pool_id>/imports/<bigid:batch_id>/rejections.csv")
@requires(*MARKETING)
def rejections_csv(pool_id: int, batch_id: int):
    """Every rejected line of one import, as a spreadsheet-safe CSV."""
    if imports.batch_pool(batch_id) != pool_id:
        abort(404)
    rows = ([r.line, r.value, r.reason] for r in imports.rejections(batch_id))
    return Response(stream_with_context(csv_lines(["line", "value", "reason"], rows)),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f"attachment; filename=rejections-{batch_id}.csv"})


@bp.get("/<id:pool_id>/codes/preview")
@requires(*MARKETING)
def generate_preview(pool_id: int):
    """Sample codes and the code space left, as the marketer edits the pattern."""
    form = GenerateForm(request.args, meta={"csrf": False})
    return render_template("pools/partials/_preview.html", preview=code_preview(form, pool_id))


@bp.post("/<id:pool_id>/codes/generate")
@requires(*MARKETING)
def generate(pool_id: int):
    """Generate codes into the pool."""
    form = GenerateForm()
    result = None
    status = 422
    if form.validate_on_submit():
        try:
            result = generation.generate_codes(pool_id, form.count.data, generation_spec(form),
                                               actor=current_actor())
            status = 201
        except DomainError as exc:
            attach_refusal(form, exc)
    if htmx():
        pool = pools.get_pool(pool_id)
        return render_template("pools/partials/_generate_result.html", pool=pool, generate=form,
                               generated=result, preview=code_preview(form, pool_id),
                               counts=pools.counts(pool_id), oob=True), status
    return codes_page(pool_id, status, generate=form, generated=result, preview=code_preview(form, pool_id))


# --- stage 3: customers -------------------------------------------------------------------------

@bp.get("/<id:pool_id>/customers")
@requires(*MARKETING)
def customers(pool_id: int):
    """Stage 3: upload a customer list or add one customer, and assign codes."""
    return customers_page(pool_id, **file_job(pool_id, "assign"))


@bp.post("/<id:pool_id>/customers/upload")
@requires(*MARKETING)
def assign_file(pool_id: int):
    """Assign codes to every customer in the uploaded list, or add them to the campaign to
    get codes with their messages. A list that asks for codes now from a pool without any
    is stopped before anything is written, and the marketer chooses what to do."""
    form = CustomerListForm()
    if not form.validate_on_submit():
        return customers_answer(pool_id, 422, upload=form)
    upload = form.file.data
    now = form.when.data == "now" and request.form.get("choice") != "send"
    if now and not pools.counts(pool_id).available:
        return customers_answer(pool_id, 409, empty_pool=True)
    try:
        if jobs.for_a_worker(jobs.size_of(upload.stream)):
            job = queue.queue_file("assign", pool_id, upload.stream, upload.filename or "upload",
                                   user_id=current_user.id, now=now)
            return customers_answer(pool_id, 202, job=job, upload=CustomerListForm(formdata=None))
        result = assignment.assign_file(pool_id, upload.stream, actor=current_actor(), now=now)
    except DomainError as exc:
        form.file.errors = [exc.message]
        return customers_answer(pool_id, 409 if exc.reason.startswith("pool_") else 422, upload=form)
    return customers_answer(pool_id, 200, bulk=result, upload=CustomerListForm(formdata=None))


@bp.post("/<id:pool_id>/customers/add")
@requires(*MARKETING)
def assign_one(pool_id: int):
    """Add one customer by hand and give them a code."""
    form = CustomerForm()
    if not form.validate_on_submit():
        return one_answer(pool_id, 422, one=form)
    data = CustomerData(customer_id=form.customer_id.data, email=form.email.data,
                        phone=form.phone.data, first_name=form.first_name.data,
                        last_name=form.last_name.data, email_consent=form.email_consent.data,
                        sms_consent=form.sms_consent.data)
    try:
        given = assignment.assign_code(pool_id, data, actor=current_actor())
    except DomainError as exc:
        attach_refusal(form, exc, "customer_id")
        return one_answer(pool_id, 422 if exc.reason.startswith("invalid") else 409, one=form)
    return one_answer(pool_id, 201 if given.new else 200, single=given, one=CustomerForm(formdata=None))


@bp.post("/<id:pool_id>/customers/resubscribe")
@requires(*MARKETING)
def resubscribe(pool_id: int):
    """Subscribe again the customers a list said yes for but who had unsubscribed
    themselves: only when the marketer confirms they agreed again, and recorded so."""
    form = ResubscribeForm()
    pairs = [tuple(entry.split(" ", 1)) for entry in request.form.getlist("customer")[:RESUBSCRIBE_MAX]
             if " " in entry]
    if not form.validate_on_submit():
        return customers_answer(pool_id, 422, problem=form.confirm.errors[0] if form.confirm.errors
                                else "The form expired; upload the list again.")
    try:
        given = consent.give_again(pairs, ConsentSource.ADMIN, f"user {current_user.id}")
    except DomainError as exc:
        return customers_answer(pool_id, 422, problem=exc.message)
    return customers_answer(pool_id, 200, notice=f"{given:,} subscribed again; the change is "
                            "kept in each customer's consent history.")


# --- stage 4: channels --------------------------------------------------------------------------

@bp.get("/<id:pool_id>/channels")
@requires(*MARKETING)
def channels_stage(pool_id: int):
    """Stage 4: choose channels and write each one's message, with a live preview, and
    send the campaign."""
    return channels_page(pool_id)


@bp.post(f"/<id:pool_id>/channels/<any({', '.join(Channel)}):channel>")
@requires(*MARKETING)
def save_channel(pool_id: int, channel: str):
    """Save one channel's choice and message."""
    form = ChannelForm(prefix=channel)
    if form.validate_on_submit():
        try:
            # Saving a channel chooses it for the campaign (stage 4 is then done).
            channels.save(pool_id, channel, enabled=True, subject=form.subject.data or "",
                          body=form.body.data or "", footer=form.footer.data or "")
        except DomainError as exc:
            attach_refusal(form, exc)
        else:
            flash(f"{channels.LABELS[channel]} saved: the campaign uses it.")
            return redirect(url_for("pools.channels_stage", pool_id=pool_id, _anchor=channel))
    return channels_page(pool_id, 422, edited=(channel, form))


@bp.post("/<id:pool_id>/channels/<any(email, sms):channel>/preview")
@requires(*MARKETING)
def channel_preview(pool_id: int, channel: str):
    """The message rendered for a sample customer, as the marketer types."""
    form = ChannelForm(prefix=channel, meta={"csrf": False})
    pool = pools.get_pool(pool_id)
    preview = message_preview(pool, form.subject.data or "", form.body.data or "",
                              form.footer.data or "", channel, channels.sample_code(pool_id))
    return render_template("pools/partials/_message_preview.html", channel=channel, preview=preview)


@bp.get("/<id:pool_id>/export.csv")
@requires(*MARKETING)
def export(pool_id: int):
    """Customer, code and voucher link of every code given out, for an outside mailing tool."""
    pool = pools.get_pool(pool_id)
    return Response(stream_with_context(channels.export_text(pool_id)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pool-{pool.id}-vouchers.csv"})
