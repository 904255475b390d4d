"""The pools area's page builders: each stage's page and the values its panels show.

No routes here. Every route module of the area imports what it renders from this
module, so a route module that answers with another stage's page (a refused refill
shows stage 2 again, a test send shows stage 4) never imports another route module.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_login import current_user

from ..models import Job
from ..services import (
    accounts,
    assignment,
    channels,
    formats,
    generation,
    imports,
    jobs,
    pools,
    replenishment,
    sending,
    times,
    transports,
)
from ..services.errors import DomainError
from ..services.replenishment.settings import DEFAULT_EVERY_HOURS
from ..vocabulary import BIG_ID_MAX
from ..web import htmx
from .forms import (
    ChannelForm,
    CustomerForm,
    CustomerListForm,
    GenerateForm,
    RefillForm,
    SendForm,
    TestSendForm,
    UploadForm,
)
from .stages import STAGES, progress

# The pool's settings a stage form may carry (stage 1 all of them, stage 5 its window).
POOL_FIELDS = ("name", "benefit", "description", "terms", "barcode_format", "valid_from",
               "valid_until", "per_customer_limit", "low_stock_threshold", "require_assignment")
CHANNEL_NAMES = transports.NAMES


def my_zone() -> str:
    """The zone the signed-in person picks and reads times in."""
    return times.person_zone(current_user)


def pool_values(form) -> dict:  # noqa: ANN001
    """The pool settings a stage form carries, as the pools service takes them; the
    window's moments were picked in the person's zone."""
    values = {name: getattr(form, name).data for name in POOL_FIELDS if hasattr(form, name)}
    for key in ("valid_from", "valid_until"):
        if key in values and values[key] is not None:
            values[key] = times.from_local(values[key], my_zone())
    if "low_stock_threshold" in values and values["low_stock_threshold"] is None:
        values["low_stock_threshold"] = 0
    return values


def window_form(form_class, pool, posted: bool = True):  # noqa: ANN001, ANN201
    """A form of the pool's settings: as posted, or from the pool with its window in the
    person's zone (as their date-time picker shows it)."""
    form = form_class(obj=pool) if posted else form_class(formdata=None, obj=pool)
    if not posted or not form.is_submitted():
        form.valid_from.data = times.to_local(pool.valid_from, my_zone())
        form.valid_until.data = times.to_local(pool.valid_until, my_zone())
    return form


def stage_page(pool_id: int, name: str, template: str, status: int = 200, **context):  # noqa: ANN003
    """One stage of an existing pool's wizard: the stepper, the counts, and the stage."""
    pool = pools.get_pool(pool_id)
    counts = pools.counts(pool_id)
    return render_template(template, pool=pool, counts=counts, stages=STAGES, current=name,
                           done=progress(pool, counts).done, **context), status


# --- stage 2: codes ------------------------------------------------------------------------------

def generation_spec(form: GenerateForm) -> generation.Spec:
    """The generation form as the generator's spec, blanks filled with the defaults."""
    return generation.Spec(length=form.length.data or generation.DEFAULT_LENGTH,
                           charset=form.charset.data or "alphanumeric", pattern=form.pattern.data or None,
                           prefix=form.prefix.data or "", postfix=form.postfix.data or "")


def code_preview(form: GenerateForm, pool_id: int) -> dict:
    """Sample codes and the room left for the form's pattern in this pool, or why it
    cannot work."""
    try:
        spec = generation_spec(form).for_pool(pools.get_pool(pool_id).barcode_format)
        room = generation.room(spec)
        return {"samples": generation.preview(spec, 5), "room": room, "error": None}
    except DomainError as exc:
        return {"samples": [], "room": None, "error": exc.message}


def codes_page(pool_id: int, status: int = 200, refill_form=None, **context):  # noqa: ANN001, ANN003
    """Stage 2's page; the forms not given come fresh."""
    context.setdefault("upload", UploadForm(formdata=None))
    starting = formats.generation_defaults(pools.get_pool(pool_id).barcode_format)
    context.setdefault("generate", GenerateForm(formdata=None, data=starting))
    context.setdefault("preview", code_preview(GenerateForm(formdata=None, data=starting), pool_id))
    if request.method == "GET":
        context = {**file_job(pool_id, "import"), **context}
    return stage_page(pool_id, "codes", "pools/stage_codes.html", status,
                      **refill_context(pool_id, refill_form), **context)


def refill_context(pool_id: int, form: RefillForm | None = None) -> dict:
    """What the refill panel shows: the form filled from the saved settings, and the last runs."""
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


# --- stage 3: customers --------------------------------------------------------------------------

def customers_page(pool_id: int, status: int = 200, **context):  # noqa: ANN003
    """Stage 3's page; the forms not given come fresh."""
    context.setdefault("upload", CustomerListForm(formdata=None))
    context.setdefault("one", CustomerForm(formdata=None))
    return stage_page(pool_id, "customers", "pools/stage_customers.html", status, **context)


def customers_answer(pool_id: int, status: int, **context):  # noqa: ANN003
    """What a list's upload answers: its result panel (with the form again, its errors
    beside its fields) for HTMX, else the whole stage."""
    if htmx():
        return render_template("pools/partials/_assign_result.html", pool=pools.get_pool(pool_id),
                               counts=pools.counts(pool_id), oob=True, **context), status
    return customers_page(pool_id, status, **context)


def one_answer(pool_id: int, status: int, **context):  # noqa: ANN003
    """What adding one customer answers: its own panel for HTMX (a list's result stays
    where it is), else the whole stage."""
    if htmx():
        return render_template("pools/partials/_customer_one_answer.html", pool=pools.get_pool(pool_id),
                               counts=pools.counts(pool_id), **context), status
    return customers_page(pool_id, status, **context)


# --- stage 4: channels ---------------------------------------------------------------------------

def channels_page(pool_id: int, status: int = 200, edited: tuple[str, ChannelForm] | None = None,
                  **overrides):  # noqa: ANN003
    """Stage 4's page; `edited` is (channel, form) being corrected, shown as typed."""
    pool = pools.get_pool(pool_id)
    current = channels.settings(pool_id)
    forms = {name: ChannelForm(formdata=None, prefix=name, data=vars(s)) for name, s in current.items()}
    if edited is not None:
        forms[edited[0]] = edited[1]
    given = channels.sample_code(pool_id)
    previews = {name: message_preview(pool, s.subject, s.body, s.footer, name, given)
                for name, s in current.items()}
    return stage_page(pool_id, "channels", "pools/stage_channels.html", status, forms=forms,
                      previews=previews, channel_settings=current, with_message=channels.WITH_MESSAGE,
                      placeholders=channels.PLACEHOLDERS,
                      **send_context(pool_id, **overrides))


def message_preview(pool, subject: str, body: str, footer: str, channel: str,  # noqa: ANN001
                    given=None) -> dict:  # noqa: ANN001
    """A channel's message filled in for a sample customer, with its SMS length; its links
    open `given`'s voucher (a code the pool gave out) when there is one."""
    values = channels.sample_values(pool, given)
    try:
        text = channels.render(body, values)
        out = {"subject": channels.render(subject, values), "body": text,
               "footer": channels.render(footer, values), "error": None,
               "link": values["voucher_url"] if given is not None else None}
    except DomainError as exc:  # a half-typed placeholder while editing
        return {"subject": "", "body": "", "footer": footer, "error": exc.message}
    if channel == "sms":
        out["chars"], out["segments"], out["encoding"] = channels.sms_length(text)
    return out


def send_context(pool_id: int, **overrides) -> dict:  # noqa: ANN003
    """What stage 4's send panel shows: who it reaches, the channels ready, recent sends."""
    config = current_app.config
    refusals = {name: transports.refusal(config, name) for name in CHANNEL_NAMES}
    context = {
        "audience": sending.audience_size(pool_id),
        # Whom a marketer asks when a channel is not set up (an admin sets it up themselves).
        "admins": accounts.admin_emails() if not all(not why for why in refusals.values()) else [],
        "ready": {name: not why for name, why in refusals.items()},
        # Set up, but refused for a reason the marketer should pass on to an admin.
        "blocked": {name: why for name, why in refusals.items()
                    if why and transports.configured(config, name)},
        "channel_names": CHANNEL_NAMES,
        "sends": [sending.progress(job.id) for job in sending.jobs_for(pool_id, limit=5)],
        "send_form": SendForm(formdata=None),
        "test_form": TestSendForm(formdata=None),
        "test_result": None,
    }
    context.update(overrides)
    return context


# --- large uploads, imported or assigned by a worker ---------------------------------------------

def file_job(pool_id: int, kind: str) -> dict:
    """The page's view of a background file job named by ?job= (the no-JavaScript way to
    follow one): the job while it runs, its result when done."""
    job_id = request.args.get("job", type=int)
    if not job_id or not 1 <= job_id <= BIG_ID_MAX:
        return {}
    try:
        job = jobs.get(pool_id, job_id)
    except DomainError:
        return {}
    if job.kind != kind:
        return {}
    return file_job_context(job)


def file_job_context(job: Job) -> dict:
    """Template values for a file job: `job` while it runs or failed, else its result."""
    found = (job.details or {}).get("result")
    if job.state != "done" or found is None:
        return {"job": job}
    if job.kind == "import":
        return {"job": job, "result": imports.result_of(found["batch_id"], found.get("notes"))}
    return {"job": job, "bulk": assignment.BulkResult.from_summary(found)}
