"""Following a large upload that a worker imports or assigns."""

from __future__ import annotations

from flask import render_template, request

from ..models import Job
from ..roles import requires
from ..services import assignment, imports, jobs, pools
from ..services.errors import DomainError
from .blueprint import bp

MARKETING = ("admin", "marketer")


def file_job(pool_id: int, kind: str) -> dict:
    """The page's view of a background file job named by ?job= (the no-JavaScript way to
    follow one): the job while it runs, its result when done."""
    job_id = request.args.get("job", type=int)
    if not job_id or not 1 <= job_id < 2**63:
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


@bp.get("/<id:pool_id>/jobs/<id:job_id>")
@requires(*MARKETING)
def file_job_progress(pool_id: int, job_id: int):
    """A file job's panel, polled while it runs; when it ends, its result (286 stops
    the polling)."""
    job = jobs.get(pool_id, job_id)
    template = ("pools/partials/_import_result.html" if job.kind == "import"
                else "pools/partials/_assign_result.html")
    body = render_template(template, pool=pools.get_pool(pool_id), counts=pools.counts(pool_id),
                           oob=not job.active, **file_job_context(job))
    return body, 200 if job.active else 286
