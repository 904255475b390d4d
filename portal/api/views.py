"""API operations: thin translations between JSON and the services."""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from .. import queue
from ..models import JobKind, Pool, Replenishment, ReplenishmentRun
from ..services import (
    assignment,
    generation,
    imports,
    jobs,
    pools,
    replenishment,
    sending,
)
from ..services.customers import CustomerData
from ..services.links import voucher_url
from ..services.urls import without_credentials
from . import schemas
from .blueprint import bp
from .errors import ApiError
from .spec import openapi, operation, refused

NOT_FOUND = {404: refused("No such pool.", "unknown_pool")}
NAME_TAKEN = refused("The name is taken.", "conflict")
ARCHIVED = refused("The pool is archived.", "pool_archived")
ARCHIVED_OR_BUSY = refused("The pool is archived, or another import kept the code space busy "
                           "for 30 s.", "pool_archived", "codes_being_loaded")


def _counts(pool_id: int) -> schemas.Counts:
    return schemas.Counts(**pools.counts(pool_id).as_dict())


def _pools(found: list[Pool]) -> list[schemas.Pool]:
    """The pools as the API shows them, in a fixed number of queries however many there are."""
    ids = [pool.id for pool in found]
    counts = pools.counts_for(ids)
    refills = replenishment.settings_for(ids)
    last = replenishment.last_runs(ids)
    return [schemas.Pool(
        id=pool.id, name=pool.name, description=pool.description or "",
        benefit=pool.benefit or "", terms=pool.terms or "", valid_from=pool.valid_from,
        valid_until=pool.valid_until, per_customer_limit=pool.per_customer_limit,
        low_stock_threshold=pool.low_stock_threshold, barcode_format=pool.barcode_format,
        require_assignment=pool.require_assignment, status=pool.status,
        created_at=pool.created_at, counts=schemas.Counts(**counts.get(pool.id, pools.Counts()).as_dict()),
        replenishment=_replenishment(refills.get(pool.id), last.get(pool.id)),
    ) for pool in found]


def _pool(pool: Pool) -> schemas.Pool:
    return _pools([pool])[0]


def _run(run: ReplenishmentRun) -> schemas.ReplenishmentRun:
    return schemas.ReplenishmentRun(
        id=run.id, at=run.at, source=run.source, outcome=run.outcome, detail=run.detail,
        imported=run.imported, rejected=run.rejected, rejected_by_reason=run.rejected_by_reason,
        generated=run.generated, error=run.error)


def _replenishment(rep: Replenishment | None,
                   last: ReplenishmentRun | None) -> schemas.ReplenishmentOut | None:
    if rep is None:
        return None
    return schemas.ReplenishmentOut(
        url=without_credentials(rep.url), bearer_token_set=bool(rep.bearer_token_enc),
        username=rep.username, password_set=bool(rep.password_enc), every_hours=rep.every_hours,
        daily_at=rep.daily_at, drop_folder=rep.drop_folder, top_up_count=rep.top_up_count,
        top_up_cap=rep.top_up_cap, next_run_at=rep.next_run_at,
        last_run=_run(last) if last else None)


@operation("POST", "/pools", summary="Create a pool", body=schemas.PoolCreate,
           responses={201: schemas.Pool},
           errors={409: NAME_TAKEN, 422: refused("valid_until is not after valid_from.", "invalid_window")})
def create_pool(body: schemas.PoolCreate):
    values = body.model_dump(exclude={"name"}, exclude_none=True)
    return _pool(pools.create_pool(body.name, **values)), 201


@operation("GET", "/pools", summary="List pools", responses={200: schemas.PoolList})
def list_pools():
    return schemas.PoolList(pools=_pools(pools.list_pools())), 200


@operation("GET", "/pools/<id:pool_id>", summary="Read a pool", responses={200: schemas.Pool},
           errors=NOT_FOUND)
def get_pool(pool_id: int):
    return _pool(pools.get_pool(pool_id)), 200


@operation("PATCH", "/pools/<id:pool_id>", summary="Change a pool's settings or status",
           body=schemas.PoolPatch, responses={200: schemas.Pool},
           errors={**NOT_FOUND, 409: NAME_TAKEN, 422: refused(
               "Values that do not go together, an address that is not an http(s) URL, a "
               "drop folder this server does not have, or `ean13` for a pool whose codes are "
               "not all EAN-13.", "invalid_window", "invalid_url",
               "two_schedules", "drop_folder_not_configured", "not_ean13")})
def patch_pool(pool_id: int, body: schemas.PoolPatch):
    values = body.model_dump(exclude_unset=True)  # null texts become empty in the service
    refill = values.pop("replenishment", None)
    if refill is not None:
        for name, empty in (("bearer_token", None), ("password", None), ("drop_folder", False),
                            ("top_up_count", 0)):
            if name in refill and refill[name] is None:
                # null keeps a stored secret (as leaving it out does), and turns a switch off
                refill.pop(name) if empty is None else refill.update({name: empty})
        refill = replenishment.checked(refill)  # refused here, before anything changes
    pool = pools.update_pool(pool_id, **values) if values else pools.get_pool(pool_id)
    if refill is not None:
        replenishment.configure(pool_id, **refill)
    return _pool(pool), 200


@operation("POST", "/pools/<id:pool_id>/replenish", summary="Replenish the pool now",
           responses={200: schemas.ReplenishmentRuns},
           errors={**NOT_FOUND, 409: refused("A replenishment of this pool is running.",
                                             "replenishment_running"),
                   422: refused("Nothing is set up.", "not_configured")})
def replenish(pool_id: int):
    """Fetch the URL, scan the drop folder and top up, now; one record per source run."""
    runs = replenishment.run_now(pool_id)
    return schemas.ReplenishmentRuns(runs=[_run(run) for run in runs]), 200


@operation("POST", "/pools/<id:pool_id>/codes", summary="Import a file of codes", upload=True,
           responses={200: schemas.ImportResult, 202: schemas.ImportJob},
           errors={**NOT_FOUND, 409: ARCHIVED_OR_BUSY,
                   415: refused("Send text/csv, text/plain or multipart field `file`.",
                                "unsupported_media_type"),
                   422: refused("The file cannot be read.", "malformed_file")})
def import_codes(pool_id: int):
    pools.get_pool(pool_id)  # 404 before reading a large body
    upload = None
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, "invalid_request", "Send the file in the multipart field `file`.")
        stream, source = upload.stream, upload.filename or "upload"
    elif request.mimetype in ("text/csv", "text/plain"):
        stream, source = request.stream, "request body"
    else:
        raise ApiError(415, "unsupported_media_type",
                       "Send the file as text/csv, text/plain or multipart field `file`.")
    size = jobs.size_of(stream) if upload is not None else request.content_length
    if jobs.for_a_worker(size):
        # A large file (or one of unknown length) is imported by a worker, off the request.
        job = queue.queue_file("import", pool_id, stream, source, api_key_id=g.actor.api_key_id)
        return _import_job(job), 202, {"Location": f"{request.root_path}/api/v1/pools/{pool_id}"
                                                   f"/imports/{job.id}"}
    return _import_result(imports.import_codes(pool_id, stream, source=source, actor=g.actor)), 200


def _import_result(result: imports.ImportResult) -> schemas.ImportResult:
    return schemas.ImportResult(
        imported=result.imported, rejected=result.rejected, rejected_by_reason=result.by_reason,
        rejections=[schemas.Rejection(line=r.line, value=r.value, reason=r.reason)
                    for r in result.rejections],
        notes=result.notes, counts=schemas.Counts(**result.counts.as_dict()),
    )


def _import_job(job) -> schemas.ImportJob:  # noqa: ANN001
    done = (job.details or {}).get("result")
    return schemas.ImportJob(
        id=job.id, pool_id=job.pool_id, state=job.state, created_at=job.created_at,
        finished_at=job.finished_at, error=job.error,
        result=_import_result(imports.result_of(done["batch_id"], done.get("notes"))) if done else None)


@operation("GET", "/pools/<id:pool_id>/imports/<bigid:job_id>", summary="A background import's progress",
           responses={200: schemas.ImportJob},
           errors={404: refused("No such import job for this pool.", "unknown_job")})
def get_import(pool_id: int, job_id: int):
    job = jobs.get(pool_id, job_id)
    if job.kind != JobKind.IMPORT:
        raise ApiError(404, "unknown_job", f"There is no import job {job_id} for this pool.")
    return _import_job(job), 200


@operation("POST", "/pools/<id:pool_id>/codes/generate", summary="Generate codes",
           body=schemas.Generate, responses={201: schemas.Generated},
           errors={**NOT_FOUND, 409: ARCHIVED_OR_BUSY, 422: refused(
               "Not enough code space left, more codes than this server generates per request, "
               "a character set of one character, codes that would be too short or long, or "
               "codes an EAN-13 pool cannot hold.",
               "code_space_too_small", "too_many_codes", "charset_too_small", "invalid_code_length",
               "not_ean13")})
def generate_codes(pool_id: int, body: schemas.Generate):
    most = current_app.config["API_GENERATE_MAX"]
    if body.count > most:
        raise ApiError(422, "too_many_codes", f"At most {most:,} codes per request here; "
                       "send several requests or use `portal generate-codes`.", allowed=most)
    spec = generation.Spec(length=body.length, charset=body.charset, pattern=body.pattern,
                           prefix=body.prefix, postfix=body.postfix)
    result = generation.generate_codes(pool_id, body.count, spec, actor=g.actor)
    return schemas.Generated(generated=result.generated, sample=result.sample,
                             counts=schemas.Counts(**result.counts.as_dict())), 201


def _customer(data: schemas.CustomerRow) -> CustomerData:
    return CustomerData(**data.model_dump())


@operation("POST", "/pools/<id:pool_id>/assignments", summary="Assign a code to a customer",
           body=schemas.CustomerIn, responses={201: schemas.Assignment, 200: schemas.Assignment},
           errors={**NOT_FOUND, 409: refused("The pool gives no code now.", "pool_exhausted",
                                             "pool_inactive", "pool_expired"),
                   422: refused("The phone is not a real number (numbers without a country code are "
                                "read as DEFAULT_PHONE_REGION's), or the email's syntax is wrong; "
                                "`fields` names it.", "invalid_phone", "invalid_email")})
def assign(pool_id: int, body: schemas.CustomerIn):
    result = assignment.assign_code(pool_id, _customer(body), actor=g.actor)
    return schemas.Assignment(
        code=result.code, status=result.status, pool_id=result.pool_id,
        customer_id=result.customer_id, assigned_at=result.assigned_at,
        expires_at=result.expires_at, voucher_url=voucher_url(result.code_id),
        kept_withdrawn=list(result.kept_withdrawn),
    ), (201 if result.new else 200)


@operation("POST", "/pools/<id:pool_id>/assignments/bulk", summary="Assign codes to many customers",
           body=schemas.BulkAssign, responses={200: schemas.BulkResult},
           errors={**NOT_FOUND, 409: refused("The pool gives no codes now.", "pool_inactive",
                                             "pool_expired")})
def assign_bulk(pool_id: int, body: schemas.BulkAssign):
    rows = [(index, _customer(c)) for index, c in enumerate(body.customers)]
    result = assignment.assign_many(pool_id, rows, actor=g.actor)
    return schemas.BulkResult(
        assigned=result.assigned, already_assigned=result.already_assigned,
        failed=[schemas.BulkFailure(index=f.line, customer_id=f.customer_id, error=f.reason,
                                    message=f.message) for f in result.failed],
        counts=schemas.Counts(**result.counts.as_dict()),
        withdrawn=[schemas.BulkWithdrawn(index=w.line, customer_id=w.customer_id, channels=w.channels)
                   for w in result.withdrawn],
    ), 200


def _send(report) -> schemas.Send:  # noqa: ANN001
    job = report.job
    return schemas.Send(
        id=job.id, pool_id=job.pool_id, channel=job.channel, state=job.state, total=job.total,
        sent=report.sent, failed=report.failed, skipped=report.skipped, remaining=report.remaining,
        skipped_by_reason=report.skipped_by_reason, failed_by_reason=report.failed_by_reason,
        errors=[schemas.SendError(message=m, count=n) for m, n in report.errors], error=job.error,
        paused_until=report.paused_until, created_at=job.created_at, finished_at=job.finished_at)


@operation("POST", "/pools/<id:pool_id>/sends", summary="Send the campaign on a channel",
           body=schemas.SendStart, responses={202: schemas.Send, 200: schemas.Send},
           errors={**NOT_FOUND, 409: refused("The pool is not active.", "pool_inactive"),
                   422: refused("The channel is not configured on this server.",
                                "channel_not_configured")})
def start_send(pool_id: int, body: schemas.SendStart):
    """202 with a new send; 200 with the send already under way on that channel."""
    job, created = queue.start_send(pool_id, body.channel, resend_interrupted=body.resend_interrupted)
    return _send(sending.progress(job.id)), (202 if created else 200)


@operation("GET", "/pools/<id:pool_id>/sends/<bigid:send_id>", summary="A send's progress",
           responses={200: schemas.Send},
           errors={404: refused("No such send for this pool.", "unknown_job")})
def get_send(pool_id: int, send_id: int):
    job = sending.get_job(pool_id, send_id)
    return _send(sending.progress(job.id)), 200


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API, built from the schemas that validate requests."""
    return jsonify(openapi())
