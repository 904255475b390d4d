"""What the portal counts for Prometheus, and the text a scrape of /metrics gets.

Two kinds of figures. Counted here, in the process that saw them: requests per
endpoint with their latency, and redemptions and refusals by reason. Read from the
database when a scrape comes (`Figures`, from portal.services.monitoring): codes per
active pool, jobs under way, deliveries per channel and state. Those come from the
counters the portal already keeps, so a scrape costs the same at any size.

Under gunicorn each worker process counts its own requests. With
PROMETHEUS_MULTIPROC_DIR set (an empty folder, before the processes start) every
process writes its counts there and any worker's scrape adds them all up;
prometheus_client reads the variable when it is imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter("portal_http_requests", "HTTP requests answered, by endpoint, method and status.",
                   ["endpoint", "method", "status"], registry=None)
REQUEST_SECONDS = Histogram("portal_http_request_duration_seconds",
                            "Time to answer an HTTP request, by endpoint and method.",
                            ["endpoint", "method"], registry=None,
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
REDEMPTIONS = Counter("portal_redemptions", "Codes redeemed (at the till, in stage 5 or through the API).",
                      registry=None)
REFUSALS = Counter("portal_redemption_refusals",
                   "Redemptions and code checks refused, by action (redeem, validate) and reason.",
                   ["action", "reason"], registry=None)
COUNTED_HERE = (REQUESTS, REQUEST_SECONDS, REDEMPTIONS, REFUSALS)


def redeemed() -> None:
    """Count a code redeemed."""
    REDEMPTIONS.inc()


def refused(action: str, reason: str) -> None:
    """Count a redemption ("redeem") or a code check ("validate") refused for `reason`."""
    REFUSALS.labels(action=action, reason=reason).inc()


def register(app: Flask) -> None:
    """Time every request and count it under its endpoint (not its path: a path per code
    or customer would make a series per code)."""

    def start_clock() -> None:
        g.metrics_started = time.perf_counter()

    # First, so that a request another hook answers early is timed and counted too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_clock)

    @app.after_request
    def count_request(response):  # noqa: ANN001, ANN202
        started = g.pop("metrics_started", None)
        if started is not None:
            endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
            REQUESTS.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
            REQUEST_SECONDS.labels(endpoint=endpoint, method=request.method).observe(
                time.perf_counter() - started)
        return response


@dataclass
class Figures:
    """What the database says at scrape time; None when it did not answer."""

    database_up: bool
    # (pool id, pool name, status, count) for each active pool and code status.
    pool_codes: list[tuple[int, str, str, int]] = field(default_factory=list)
    # (kind, state, count) of the jobs queued, running or waiting.
    jobs: list[tuple[str, str, int]] = field(default_factory=list)
    # (channel, state, count) of the deliveries the sends have handled.
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)
    # When a worker last said it was alive (Unix time), None when none has or unknown.
    worker_heartbeat: float | None = None
    queue_up: bool = True


class _FiguresCollector(Collector):
    def __init__(self, figures: Figures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = self.figures
        yield _gauge("portal_database_up", "1 when the database answered this scrape, else 0.",
                     [], [((), int(found.database_up))])
        yield _gauge("portal_queue_up", "1 when the job queue's storage answered this scrape, else 0.",
                     [], [((), int(found.queue_up))])
        if found.worker_heartbeat is not None:
            yield _gauge("portal_worker_heartbeat_timestamp_seconds",
                         "When a `portal worker` last said it was alive (Unix time).",
                         [], [((), found.worker_heartbeat)])
        if not found.database_up:
            return
        yield _gauge("portal_pool_codes", "Codes of each active pool by status (from the pool's counters).",
                     ["pool_id", "pool", "status"],
                     [((str(pool_id), name, status), n) for pool_id, name, status, n in found.pool_codes])
        yield _gauge("portal_jobs", "Background jobs queued, running or waiting, by kind.",
                     ["kind", "state"], [((kind, state), n) for kind, state, n in found.jobs])
        yield _gauge("portal_deliveries", "Campaign deliveries by channel and state, as each send counted "
                     "them: finished sends' final counts and the live counts of sends under way.",
                     ["channel", "state"], [((channel, state), n) for channel, state, n in found.deliveries])


def _gauge(name: str, documentation: str, labels: list[str],
           samples: Iterable[tuple[tuple[str, ...], float]]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def exposition(figures: Figures) -> bytes:
    """The Prometheus text of every figure: this process's counts (or all processes' with
    PROMETHEUS_MULTIPROC_DIR) and what the database said."""
    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        for instrument in COUNTED_HERE:
            registry.register(instrument)
    registry.register(_FiguresCollector(figures))
    return generate_latest(registry)
