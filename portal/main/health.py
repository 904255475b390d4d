"""What operators and their machines ask: is the process alive (/healthz), can it do
its work (/readyz), and the Prometheus figures (/metrics). Every answer is JSON or
Prometheus text, never an HTML page, whatever is down."""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime

from flask import Response, abort, current_app, jsonify, request

from .. import queue
from ..api.errors import answer
from ..metrics import CONTENT_TYPE, Figures, exposition
from ..services import monitoring
from .blueprint import bp

log = logging.getLogger(__name__)
CHECKS = ("database", "queue", "worker")


@bp.get("/healthz")
def healthz():
    """200 while the process answers; it touches nothing else, so a load balancer or a
    benchmark sees the web process alone."""
    return jsonify(status="ok")


def _heartbeat() -> tuple[bool, dict | None]:
    """(the queue's storage answered, the latest worker heartbeat)."""
    try:
        return True, queue.last_heartbeat()
    except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
        log.warning("the job queue's storage did not answer: %s", exc)
        return False, None


def _worker_check(queue_up: bool, beat: dict | None, now: float) -> dict:
    if not queue_up:
        return {"ok": False, "message": "Unknown: the job queue's storage did not answer."}
    if beat is None:
        return {"ok": False, "message": "No worker has sent a heartbeat; start `portal worker`."}
    age = max(0, int(now - beat["at"]))
    check = {"ok": age <= queue.HEARTBEAT_FRESH, "worker": beat["worker"], "age_seconds": age,
             "last_heartbeat": datetime.fromtimestamp(beat["at"], UTC).isoformat()}
    if not check["ok"]:
        check["message"] = f"No worker heartbeat in the last {queue.HEARTBEAT_FRESH} seconds."
    return check


@bp.get("/readyz")
def readyz():
    """Each check (the database answers, the job queue's storage answers, a worker sent a
    heartbeat in the last two minutes): 200 when all pass, else 503 naming the failing
    ones. `?exclude=worker` leaves checks out (names separated by commas)."""
    excluded = {name.strip() for value in request.args.getlist("exclude") for name in value.split(",")}
    unknown = sorted(excluded - set(CHECKS) - {""})
    if unknown:
        return answer(400, "invalid_request", f"There is no check {', '.join(unknown)}; the checks are "
                      f"{', '.join(CHECKS)}.", fields=[{"field": "exclude", "message": "unknown check"}])
    checks: dict[str, dict] = {}
    if "database" not in excluded:
        up = monitoring.database_answers()
        checks["database"] = {"ok": up} if up else {"ok": False, "message": "The database did not answer."}
    if not {"queue", "worker"} <= excluded:
        queue_up, beat = _heartbeat()
        if "queue" not in excluded:
            checks["queue"] = {"ok": True} if queue_up else {
                "ok": False, "message": "The job queue's storage did not answer."}
        if "worker" not in excluded:
            checks["worker"] = _worker_check(queue_up, beat, time.time())
    failing = [name for name, check in checks.items() if not check["ok"]]
    ready = jsonify(status="not_ready" if failing else "ready", failing=failing, checks=checks)
    ready.status_code = 503 if failing else 200
    ready.headers["Cache-Control"] = "no-store"
    return ready


def _figures() -> Figures:
    """What the database and the queue say now; what does not answer is left out."""
    queue_up, beat = _heartbeat()
    figures = Figures(database_up=monitoring.database_answers(), queue_up=queue_up,
                      worker_heartbeat=beat["at"] if beat else None)
    if figures.database_up:
        try:
            figures.pool_codes = monitoring.pool_codes()
            figures.jobs = monitoring.jobs_under_way()
            figures.deliveries = monitoring.deliveries()
        except Exception:  # noqa: BLE001 - the database went away mid-scrape
            log.warning("the database stopped answering during a scrape", exc_info=True)
            figures.database_up = False
    return figures


@bp.get("/metrics")
def metrics():
    """The Prometheus figures, for a scraper that sends METRICS_TOKEN as a bearer token;
    without that setting the URL does not exist. With the database down it still answers,
    with portal_database_up 0 and the figures counted in the processes."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if not expected:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        return answer(401, "unauthorized", "Send the METRICS_TOKEN as a bearer token.",
                      {"WWW-Authenticate": 'Bearer realm="metrics"'})
    return Response(exposition(_figures()), content_type=CONTENT_TYPE,
                    headers={"Cache-Control": "no-store"})
