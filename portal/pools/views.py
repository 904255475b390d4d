"""The dashboard and the five-stage set-up wizard of a pool."""

from __future__ import annotations

from datetime import UTC

from flask import (
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from .. import queue
from ..roles import current_actor, requires
from ..services import assignment, channels, generation, imports, jobs, pools
from ..services.customers import CustomerData
from ..services.errors import DomainError
from ..services.spreadsheet import csv_lines
from . import bp
from .background import file_job
from .forms import (
    ChannelForm,
    CustomerForm,
    CustomerListForm,
    GenerateForm,
    PoolForm,
    UploadForm,
)
from .refill import refill_context
from .sends import send_context
from .stages import STAGES, progress

MARKETING = ("admin", "marketer")
POOL_FIELDS = ("name", "benefit", "description", "terms", "barcode_format", "valid_from",
               "valid_until", "per_customer_limit", "low_stock_threshold", "require_assignment")


def _rows():
    found = pools.list_pools()
    counts = pools.counts_for([p.id for p in found])
    out = []
    for pool in found:
        c = counts.get(pool.id, pools.Counts())
        out.append((pool, c, progress(pool, c)))
    return out


def htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


@bp.get("/")
@requires(*MARKETING)
def dashboard():
    """Every pool with its status, validity, set-up stage and live counts."""
    return render_template("pools/dashboard.html", rows=_rows())


@bp.get("/counts")
@requires(*MARKETING)
def dashboard_counts():
    """The dashboard's table alone, polled every few seconds (constant-time counts)."""
    return render_template("pools/partials/_table.html", rows=_rows()), 200, {"Vary": "HX-Request"}


def _stage(pool_id: int, name: str, template: str, status: int = 200, **context):
    pool = pools.get_pool(pool_id)
    counts = pools.counts(pool_id)
    context.setdefault("channel_settings", channels.settings(pool_id))
    return render_template(template, pool=pool, counts=counts, stages=STAGES, current=name,
                           done=progress(pool, counts, context["channel_settings"]).done,
                           **context), status


def _values(form) -> dict:  # noqa: ANN001
    values = {name: getattr(form, name).data for name in POOL_FIELDS if hasattr(form, name)}
    for key in ("valid_from", "valid_until"):
        if key in values and values[key] is not None:
            values[key] = values[key].replace(tzinfo=UTC)
    if "low_stock_threshold" in values and values["low_stock_threshold"] is None:
        values["low_stock_threshold"] = 0
    return values


def _attach(form, exc: DomainError) -> None:  # noqa: ANN001
    """Put a service's refusal next to the field it names (or on the first field)."""
    field = getattr(form, exc.details.get("field", ""), None) or next(iter(form))
    field.errors = [*field.errors, exc.message]


# --- stage 1: the pool ---------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@requires(*MARKETING)
def new_pool():
    """Stage 1 for a new pool: every setting, errors beside their fields."""
    form = PoolForm()
    if form.validate_on_submit():
        values = _values(form)
        try:
            pool = pools.create_pool(values.pop("name"), owner_id=current_user.id, **values)
        except DomainError as exc:
            _attach(form, exc)
        else:
            return redirect(url_for("pools.codes", pool_id=pool.id))
    status = 422 if request.method == "POST" else 200
    return render_template("pools/stage_pool.html", form=form, pool=None, stages=STAGES,
                           current="pool", done=set(), counts=None), status


@bp.route("/<id:pool_id>/pool", methods=["GET", "POST"])
@requires(*MARKETING)
def edit_pool(pool_id: int):
    """Stage 1 for an existing pool."""
    pool = pools.get_pool(pool_id)
    form = PoolForm(obj=pool)
    if form.validate_on_submit():
        try:
            pools.update_pool(pool_id, **_values(form))
        except DomainError as exc:
            _attach(form, exc)
        else:
            return redirect(url_for("pools.codes", pool_id=pool_id))
    return _stage(pool_id, "pool", "pools/stage_pool.html",
                  422 if request.method == "POST" else 200, form=form)


# --- stage 2: codes -----------------------------------------------------------------------------

def _spec(form: GenerateForm) -> generation.Spec:
    return generation.Spec(length=form.length.data or generation.DEFAULT_LENGTH,
                           charset=form.charset.data or "alphanumeric", pattern=form.pattern.data or None,
                           prefix=form.prefix.data or "", postfix=form.postfix.data or "")


@bp.get("/<id:pool_id>/codes")
@requires(*MARKETING)
def codes(pool_id: int):
    """Stage 2: import a file, or generate codes with a live preview, and keep the pool
    filled."""
    return codes_page(pool_id)


def codes_page(pool_id: int, status: int = 200, refill_form=None, **context):  # noqa: ANN001, ANN003
    """Stage 2's page; the forms not given come fresh."""
    context.setdefault("upload", UploadForm(formdata=None))
    context.setdefault("generate", GenerateForm(formdata=None))
    context.setdefault("preview", _preview(GenerateForm(formdata=None)))
    if request.method == "GET":
        context = {**file_job(pool_id, "import"), **context}
    return _stage(pool_id, "codes", "pools/stage_codes.html", status,
                  **refill_context(pool_id, refill_form), **context)


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
            if jobs.size_of(upload.stream) > current_app.config["BACKGROUND_FILE_BYTES"]:
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


@bp.get("/<id:pool_id>/imports/<id:batch_id>/rejections.csv")
@requires(*MARKETING)
def rejections_csv(pool_id: int, batch_id: int):
    """Every rejected line of one import, as a spreadsheet-safe CSV."""
    if imports.batch_pool(batch_id) != pool_id:
        abort(404)
    rows = ([r.line, r.value, r.reason] for r in imports.rejections(batch_id))
    return Response(stream_with_context(csv_lines(["line", "value", "reason"], rows)),
                    mimetype="text/csv", headers={
                        "Content-Disposition": f"attachment; filename=rejections-{batch_id}.csv"})


def _preview(form: GenerateForm) -> dict:
    try:
        spec = _spec(form)
        room = generation.room(spec)
        return {"samples": generation.preview(spec, 5), "room": room, "error": None}
    except DomainError as exc:
        return {"samples": [], "room": None, "error": exc.message}


@bp.get("/<id:pool_id>/codes/preview")
@requires(*MARKETING)
def generate_preview(pool_id: int):
    """Sample codes and the code space left, as the marketer edits the pattern."""
    form = GenerateForm(request.args, meta={"csrf": False})
    return render_template("pools/partials/_preview.html", preview=_preview(form))


@bp.post("/<id:pool_id>/codes/generate")
@requires(*MARKETING)
def generate(pool_id: int):
    """Generate codes into the pool."""
    form = GenerateForm()
    result = None
    status = 422
    if form.validate_on_submit():
        try:
            result = generation.generate_codes(pool_id, form.count.data, _spec(form),
                                               actor=current_actor())
            status = 201
        except DomainError as exc:
            _attach(form, exc)
    if htmx():
        pool = pools.get_pool(pool_id)
        return render_template("pools/partials/_generate_result.html", pool=pool, generate=form,
                               generated=result, preview=_preview(form),
                               counts=pools.counts(pool_id), oob=True), status
    return codes_page(pool_id, status, generate=form, generated=result, preview=_preview(form))


# --- stage 3: customers -------------------------------------------------------------------------

@bp.get("/<id:pool_id>/customers")
@requires(*MARKETING)
def customers(pool_id: int):
    """Stage 3: upload a customer list or add one customer, and assign codes."""
    return _stage(pool_id, "customers", "pools/stage_customers.html",
                  upload=CustomerListForm(formdata=None), one=CustomerForm(formdata=None),
                  **file_job(pool_id, "assign"))


def _customers_answer(pool_id: int, status: int, **context):
    if htmx():
        return render_template("pools/partials/_assign_result.html", pool=pools.get_pool(pool_id),
                               counts=pools.counts(pool_id), oob=True, **context), status
    context.setdefault("upload", CustomerListForm(formdata=None))
    context.setdefault("one", CustomerForm(formdata=None))
    return _stage(pool_id, "customers", "pools/stage_customers.html", status, **context)


@bp.post("/<id:pool_id>/customers/upload")
@requires(*MARKETING)
def assign_file(pool_id: int):
    """Assign codes to every customer in the uploaded list."""
    form = CustomerListForm()
    if not form.validate_on_submit():
        return _customers_answer(pool_id, 422, upload=form)
    upload, now = form.file.data, form.when.data == "now"
    try:
        if jobs.size_of(upload.stream) > current_app.config["BACKGROUND_FILE_BYTES"]:
            job = queue.queue_file("assign", pool_id, upload.stream, upload.filename or "upload",
                                   user_id=current_user.id, now=now)
            return _customers_answer(pool_id, 202, job=job, upload=form)
        result = assignment.assign_file(pool_id, upload.stream, actor=current_actor(), now=now)
    except DomainError as exc:
        form.file.errors = [exc.message]
        return _customers_answer(pool_id, 409 if exc.reason.startswith("pool_") else 422, upload=form)
    return _customers_answer(pool_id, 200, bulk=result, upload=form)


@bp.post("/<id:pool_id>/customers/add")
@requires(*MARKETING)
def assign_one(pool_id: int):
    """Add one customer by hand and give them a code."""
    form = CustomerForm()
    if not form.validate_on_submit():
        return _customers_answer(pool_id, 422, one=form)
    data = CustomerData(customer_id=form.customer_id.data, email=form.email.data,
                        phone=form.phone.data, first_name=form.first_name.data,
                        last_name=form.last_name.data, email_consent=form.email_consent.data,
                        sms_consent=form.sms_consent.data)
    try:
        given = assignment.assign_code(pool_id, data, actor=current_actor())
    except DomainError as exc:
        _attach(form, exc)
        return _customers_answer(pool_id, 422 if exc.reason.startswith("invalid") else 409, one=form)
    return _customers_answer(pool_id, 201 if given.new else 200, single=given,
                             one=CustomerForm(formdata=None))


# --- stage 4: channels --------------------------------------------------------------------------

@bp.get("/<id:pool_id>/channels")
@requires(*MARKETING)
def channels_stage(pool_id: int):
    """Stage 4: choose channels and write each one's message, with a live preview, and
    send the campaign."""
    return channels_page(pool_id)


def channels_page(pool_id: int, status: int = 200, edited: tuple[str, ChannelForm] | None = None,
                  **overrides):  # noqa: ANN003
    """Stage 4's page; `edited` is (channel, form) being corrected, shown as typed."""
    pool = pools.get_pool(pool_id)
    current = channels.settings(pool_id)
    forms = {name: ChannelForm(formdata=None, prefix=name, data=vars(s)) for name, s in current.items()}
    if edited is not None:
        forms[edited[0]] = edited[1]
    previews = {name: _message_preview(pool, s.subject, s.body, s.footer, name)
                for name, s in current.items()}
    return _stage(pool_id, "channels", "pools/stage_channels.html", status, forms=forms,
                  previews=previews, channel_settings=current, **send_context(pool_id, **overrides))


def _message_preview(pool, subject: str, body: str, footer: str, channel: str) -> dict:  # noqa: ANN001
    values = channels.sample_values(pool)
    try:
        text = channels.render(body, values)
        out = {"subject": channels.render(subject, values), "body": text, "footer": footer,
               "error": None}
    except DomainError as exc:  # a half-typed placeholder while editing
        return {"subject": "", "body": "", "footer": footer, "error": exc.message}
    if channel == "sms":
        out["chars"], out["segments"], out["encoding"] = channels.sms_length(text)
    return out


@bp.post("/<id:pool_id>/channels/<any(email, sms, page, export):channel>")
@requires(*MARKETING)
def save_channel(pool_id: int, channel: str):
    """Save one channel's choice and message."""
    form = ChannelForm(prefix=channel)
    if form.validate_on_submit():
        try:
            channels.save(pool_id, channel, enabled=form.enabled.data, subject=form.subject.data or "",
                          body=form.body.data or "", footer=form.footer.data or "")
        except DomainError as exc:
            _attach(form, exc)
        else:
            return redirect(url_for("pools.channels_stage", pool_id=pool_id, _anchor=channel))
    return channels_page(pool_id, 422, edited=(channel, form))


@bp.post("/<id:pool_id>/channels/<any(email, sms):channel>/preview")
@requires(*MARKETING)
def channel_preview(pool_id: int, channel: str):
    """The message rendered for a sample customer, as the marketer types."""
    form = ChannelForm(prefix=channel, meta={"csrf": False})
    pool = pools.get_pool(pool_id)
    preview = _message_preview(pool, form.subject.data or "", form.body.data or "",
                               form.footer.data or "", channel)
    return render_template("pools/partials/_message_preview.html", channel=channel, preview=preview)


@bp.get("/<id:pool_id>/export.csv")
@requires(*MARKETING)
def export(pool_id: int):
    """Customer, code and voucher link of every code given out, for an outside mailing tool."""
    pool = pools.get_pool(pool_id)
    rows = channels.export_rows(pool_id)
    return Response(stream_with_context(csv_lines(channels.EXPORT_HEADER, rows)),
                    mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=pool-{pool.id}-vouchers.csv"})
