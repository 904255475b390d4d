"""Shared pieces of the benchmarks: fresh databases, timing, the machine's description."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DATA = Path(__file__).resolve().parent / "data"


def median_of(runs: int, measure: Callable[[], float]) -> tuple[float, list[float]]:
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), samples


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextmanager
def fresh_app(kind: str, workdir: Path):
    """An app on a new, empty database of the given kind, with the schema created."""
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        url, options, schema = f"sqlite:///{path}", {}, None
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url, options = PG_URL, {"connect_args": {"options": f"-c search_path={schema}"}}
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "SQLALCHEMY_ENGINE_OPTIONS": {**options, "pool_size": 20}})
    with app.app_context():
        db.create_all()
        try:
            yield app, (path if kind == "sqlite" else schema)
        finally:
            db.session.remove()
            db.engine.dispose()
            if kind == "sqlite":
                for suffix in ("", "-wal", "-shm"):
                    Path(str(path) + suffix).unlink(missing_ok=True)
            else:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def wait_until_serving(port: int, tries: int = 150) -> None:
    """Wait until a server on this port answers /healthz with 200."""
    import http.client

    for _ in range(tries):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"nothing answers /healthz on port {port}")


def machine() -> str:
    """One paragraph on the machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import sqlite3

    pg = "unknown"
    try:
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            pg = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    except Exception:  # noqa: BLE001
        pass
    cli = subprocess.run(["sqlite3", "--version"], capture_output=True, text=True).stdout.split()[:1]
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB memory, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, SQLite "
            f"{sqlite3.sqlite_version} (CLI {' '.join(cli)}), PostgreSQL {pg}")


RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(marker: str, section: str) -> None:
    """Put a script's section into RESULTS.md in place of its earlier one: from its
    marker to the next section's marker (or the end), leaving the others alone."""
    current = RESULTS_MD.read_text() if RESULTS_MD.exists() else "# Benchmark results\n"
    if marker in current:
        before, rest = current.split(marker, 1)
        after = rest[rest.index("<!-- "):] if "<!-- " in rest else ""
    else:
        before, after = current, ""
    body = section if section.startswith(marker) else marker + "\n" + section
    RESULTS_MD.write_text(before.rstrip() + "\n\n" + body.rstrip() + "\n" + ("\n" + after if after else ""))
