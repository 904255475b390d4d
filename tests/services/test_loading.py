"""Codes written in steps: invisible until the batch goes live, removed when the load
fails or dies, and a big import that leaves the till free to redeem on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import BatchState, Code, ImportBatch, ImportRejection
from portal.services import assignment, generation, imports, loading, pools, redemption
from portal.services.actor import SYSTEM
from portal.services.customers import CustomerData
from portal.services.errors import Conflict
from tests.conftest import postgres_schema
from tests.helpers import real_counts, upload

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool_id(app) -> int:
    return pools.create_pool("Spring").id


def _rows(codes: list[str]):
    return ((line, code, code.upper(), None, None) for line, code in enumerate(codes, start=1))


def test_a_loading_batch_counts_nowhere_until_it_goes_live(pool_id):
    generation.generate_codes(pool_id, 3)
    with loading.Load(pool_id, "import", "test", SYSTEM) as load:
        load.stage(_rows(["NEW0001", "NEW0002"]))
        assert load.write_staged() == 2
        db.session.rollback()
        # The rows are in `code`, but nothing sees them yet.
        assert db.session.scalar(select(func.count()).select_from(Code)) == 5
        assert redemption.validate("NEW0001").reason == "unknown_code"
        assert pools.counts(pool_id).available == 3
        given = [assignment.assign_code(pool_id, CustomerData(customer_id=f"C{i}")).code
                 for i in range(3)]
        assert not {"NEW0001", "NEW0002"} & set(given)
        with pytest.raises(Exception, match="no codes left"):
            assignment.assign_code(pool_id, CustomerData(customer_id="C9"))
        load.go_live(lambda session, batch: pools.adjust_counts(session, pool_id, available=2))
    assert redemption.validate("NEW0001").reason == "not_assigned"  # found now
    assert assignment.assign_code(pool_id, CustomerData(customer_id="C9")).code in {"NEW0001", "NEW0002"}
    assert db.session.get(ImportBatch, load.batch_id).state == BatchState.LIVE


def test_a_load_that_fails_part_way_leaves_nothing(pool_id):
    class Broken(Exception):
        pass

    with pytest.raises(Broken), loading.Load(pool_id, "import", "test", SYSTEM) as load:
        load.stage(_rows([f"FAIL{i:05d}" for i in range(5000)]))
        load.write_staged()
        raise Broken
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Code)) == 0
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    # The code space is free again.
    assert imports.import_codes(pool_id, upload("FAIL00001\n")).imported == 1


def test_a_second_load_waits_for_the_first_and_then_says_so(pool_id):
    with loading.Load(pool_id, "import", "first", SYSTEM):
        started = time.monotonic()
        with pytest.raises(Conflict) as refused:
            imports.import_codes(pool_id, upload("WAITS001\n"), wait=0.5)
        assert refused.value.reason == "codes_being_loaded"
        assert time.monotonic() - started >= 0.5
    assert imports.import_codes(pool_id, upload("WAITS001\n"), wait=0.5).imported == 1


def test_a_load_taken_for_dead_stops_and_its_codes_are_removed(pool_id):
    with pytest.raises(Conflict) as stopped, loading.Load(pool_id, "import", "slow", SYSTEM) as load:
        load.stage(_rows([f"SLOW{i:05d}" for i in range(3000)]))
        # Another process decides this load is dead (say, after a long pause).
        assert loading.recover(silence=timedelta(seconds=-1)) == [load.batch_id]
        load.write_staged()
    assert stopped.value.reason == "job_taken_over"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Code)) == 0
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_rejections_are_all_counted_but_only_the_first_of_each_reason_kept(pool_id):
    many = loading.KEPT_REJECTIONS + 25
    text = "".join(f"X{i % 10}\n" for i in range(many)) + "GOOD0001\nGOOD0001\n"
    result = imports.import_codes(pool_id, upload(text))
    assert result.imported == 1
    assert result.by_reason == {"too_short": many, "duplicate_in_file": 1}
    kept = dict(db.session.execute(
        select(ImportRejection.reason, func.count()).where(ImportRejection.batch_id == result.batch_id)
        .group_by(ImportRejection.reason)).all())
    assert kept == {"too_short": loading.KEPT_REJECTIONS, "duplicate_in_file": 1}
    assert max(r.line for r in imports.rejections(result.batch_id)) == many + 2
    assert any("first 10,000 lines of each reason" in note for note in result.notes)


def test_generation_is_loaded_the_same_way(pool_id):
    result = generation.generate_codes(pool_id, 7000)
    assert result.generated == 7000
    assert real_counts(pool_id)["available"] == 7000
    batch = db.session.get(ImportBatch, result.batch_id)
    assert (batch.state, batch.loader, batch.imported) == (BatchState.LIVE, None, 7000)


# A real process killed in the middle of an import.

@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request, tmp_path, monkeypatch):
    """(app, env): an app, and the environment a `portal` process needs to share its database."""
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "shared"}
    if request.param == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'portal.sqlite3'}"
        yield from _shared_app(env, env["DATABASE_URL"], {}, monkeypatch)
        return
    with postgres_schema("l") as (url, schema):
        env["DATABASE_URL"] = f"{url}?options=-csearch_path%3D{schema}"
        yield from _shared_app(env, url, {"connect_args": {"options": f"-c search_path={schema}"}},
                               monkeypatch)


def _shared_app(env: dict, url: str, options: dict, monkeypatch):  # noqa: ANN001, ANN202
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", env["PORTAL_INSTANCE_PATH"])
    app = create_app({"SECRET_KEY": "shared", "SQLALCHEMY_DATABASE_URI": url,
                      "SQLALCHEMY_ENGINE_OPTIONS": options, "QUEUE_STORAGE": "memory",
                      **_fast_busy_timeout(url)})
    with app.app_context():
        db.create_all()
        yield app, env
        db.session.remove()
        db.engine.dispose()


def _fast_busy_timeout(url: str) -> dict:
    return {"SQLITE_BUSY_TIMEOUT_MS": 3000} if url.startswith("sqlite") else {}


def _portal(env: dict, *args: str, **kwargs) -> subprocess.Popen:  # noqa: ANN003
    return subprocess.Popen([sys.executable, "-m", "portal", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kwargs)


def _code_file(path: Path, count: int, prefix: str = "BIG") -> Path:
    with path.open("w") as out:
        out.write("code\n")
        for i in range(count):
            out.write(f"{prefix}{i:09d}\n")
    return path


def _codes_in_table() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Code))


def test_an_import_killed_midway_adds_nothing_and_its_rows_are_removed(shared, tmp_path):
    app, env = shared
    pool_id = pools.create_pool("Spring").id
    generation.generate_codes(pool_id, 10)
    path = _code_file(tmp_path / "codes.csv", 120_000)
    process = _portal(env, "import-codes", str(pool_id), str(path))
    # Wait until the import is writing (SQLite: some steps in; PostgreSQL: its batch exists).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        db.session.rollback()  # a fresh snapshot each time
        loading_now = db.session.scalar(select(func.count()).select_from(ImportBatch)
                                        .where(ImportBatch.state == BatchState.LOADING.value))
        if loading_now and (db.engine.dialect.name == "postgresql" or _codes_in_table() > 10):
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stdout.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()

    # Whatever rows it wrote, nobody sees them.
    assert pools.counts(pool_id).available == 10
    assert redemption.validate("BIG000000001").reason == "unknown_code"
    # The next load (or the worker's minute task) finds the dead one and removes it.
    assert len(loading.recover()) == 1
    assert _codes_in_table() == 10
    assert db.session.scalar(select(func.count()).select_from(ImportBatch)) == 1  # the generation
    # And the same file then goes in whole.
    done = _portal(env, "import-codes", str(pool_id), str(path))
    out, _ = done.communicate(timeout=300)
    assert done.returncode == 0, out.decode()
    assert "imported: 120,000" in out.decode()
    db.session.rollback()
    assert real_counts(pool_id)["available"] == 120_010


@pytest.mark.parametrize("shared", ["sqlite"], indirect=True)
def test_redemptions_keep_working_while_a_big_import_runs(shared, tmp_path):
    """With SQLite's busy timeout at 3 s, an import written in one transaction made
    redemptions fail with "database is locked"; written in steps, none fails. (On
    PostgreSQL an import never blocked a redemption: rows lock, not the database.)"""
    app, env = shared
    env = {**env, "SQLITE_BUSY_TIMEOUT_MS": "3000"}
    pool_id = pools.create_pool("Spring").id
    generation.generate_codes(pool_id, 400)
    codes = [assignment.assign_code(pool_id, CustomerData(customer_id=f"C{i}")).code
             for i in range(400)]
    path = _code_file(tmp_path / "codes.csv", 250_000)
    process = _portal(env, "import-codes", str(pool_id), str(path))
    failures: list[str] = []
    redeemed = 0

    def till() -> None:
        nonlocal redeemed
        with app.app_context():
            for code in codes:
                if process.poll() is not None:
                    return
                try:
                    redemption.redeem(code)
                    redeemed += 1
                except Exception as exc:  # noqa: BLE001 (any failure is the finding)
                    failures.append(repr(exc))
                time.sleep(0.02)

    thread = threading.Thread(target=till)
    thread.start()
    out, _ = process.communicate(timeout=600)
    thread.join()
    assert process.returncode == 0, out.decode()
    assert failures == []
    assert redeemed > 20  # the till was busy during the import, not after it
    db.session.rollback()
    assert real_counts(pool_id) == {"available": 250_000, "assigned": 400 - redeemed,
                                    "redeemed": redeemed, "canceled": 0}
