"""Following a large upload that a worker imports or assigns."""

from __future__ import annotations

from flask import render_template

from ..roles import MARKETING, requires
from ..services import jobs, pools
from .blueprint import bp
from .pages import file_job_context


@bp.get("/<id:pool_id>/jobs/<bigid:job_id>")
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
