"""The `portal` command: each voucher command, its output and its exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from flask_migrate import check
from sqlalchemy import inspect, select

from portal import create_app
from portal.__main__ import PortalGroup
from portal.commands.exits import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_NOT_FOUND
from portal.extensions import db
from portal.models import ApiKey, Pool, User
from portal.services import accounts, pools
from tests.conftest import DATA


def invoke(runner, *args: str, input: str | None = None):
    return runner.invoke(args=list(args), input=input)


def test_init_creates_the_schema_from_migrations_and_is_idempotent(database_url, tmp_path):
    url, engine_options = database_url
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
                      "SECRET_KEY": "t"})
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init"])
        assert result.exit_code == 0, result.output
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
        assert {"pool", "code", "customer", "redemption", "code_event", "pool_counter"} <= tables
        check()  # raises if the models and the migrated schema differ
        db.engine.dispose()


def test_create_pool_prints_its_id_last(runner):
    result = invoke(runner, "create-pool", "Spring", "--per-customer-limit", "2",
                    "--valid-from", "2026-01-01", "--valid-until", "2027-06-30",
                    "--low-stock-threshold", "10")
    assert result.exit_code == 0, result.output
    pool_id = int(result.output.strip().splitlines()[-1])
    pool = db.session.get(Pool, pool_id)
    assert (pool.per_customer_limit, pool.low_stock_threshold) == (2, 10)
    assert pool.valid_until.isoformat() == "2027-06-30T23:59:59+00:00"
    again = invoke(runner, "create-pool", "Spring")
    assert again.exit_code == EXIT_CONFLICT
    assert "already exists" in again.output


def test_create_pool_with_a_bad_time_is_a_usage_error(runner):
    result = invoke(runner, "create-pool", "P", "--valid-until", "next week")
    assert result.exit_code == 2
    assert "ISO 8601" in result.output
    assert pools.list_pools() == []


def test_import_and_generate_print_summaries(runner):
    pool_id = pools.create_pool("Spring").id
    result = invoke(runner, "import-codes", str(pool_id), str(DATA / "codes-partner-export.csv"))
    assert result.exit_code == 0, result.output
    assert "imported: 200" in result.output
    assert "line 204: too_short: 'AB'" in result.output
    result = invoke(runner, "generate-codes", str(pool_id), "--count", "50",
                    "--pattern", "GIFT-####", "--charset", "numeric")
    assert result.exit_code == 0, result.output
    assert "generated: 50" in result.output
    assert pools.counts(pool_id).available == 250


def test_import_of_a_binary_file_exits_with_bad_input(runner, tmp_path):
    pool_id = pools.create_pool("Spring").id
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02" * 100)
    result = invoke(runner, "import-codes", str(pool_id), str(junk))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "binary" in result.output
    assert invoke(runner, "import-codes", "999", str(junk)).exit_code == EXIT_NOT_FOUND


def test_generate_refuses_a_too_small_code_space(runner):
    pool_id = pools.create_pool("Tiny").id
    result = invoke(runner, "generate-codes", str(pool_id), "--count", "60", "--length", "2",
                    "--charset", "numeric", "--prefix", "Z")
    assert result.exit_code == 1
    assert "code_space_too_small" in result.output


def test_assign_codes_from_a_customer_file(runner):
    pool_id = pools.create_pool("Spring").id
    invoke(runner, "generate-codes", str(pool_id), "--count", "200")
    result = invoke(runner, "assign-codes", str(pool_id), str(DATA / "customers.csv"))
    assert result.exit_code == 0, result.output
    assert "assigned: 120" in result.output and "already assigned: 1" in result.output


def test_users_stores_and_keys(runner):
    assert invoke(runner, "create-store", "S1", "Main street").exit_code == 0
    result = invoke(runner, "create-user", "Till@Example.com", "--role", "cashier", "--store",
                    "S1", "--password-stdin", input="correct horse battery\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "till@example.com"))
    assert user.store.code == "S1" and user.password_hash != "correct horse battery"
    assert accounts.check_password("till@example.com", "correct horse battery") is not None
    assert accounts.check_password("till@example.com", "wrong") is None
    short = invoke(runner, "create-user", "a@example.com", "--role", "admin", "--password-stdin",
                   input="short\n")
    assert short.exit_code == EXIT_BAD_INPUT
    no_store = invoke(runner, "create-user", "b@example.com", "--role", "cashier",
                      "--password-stdin", input="long enough password\n")
    assert no_store.exit_code == EXIT_BAD_INPUT

    result = invoke(runner, "create-api-key", "Till 4", "--scope", "pos")
    assert result.exit_code == 0
    secret = result.output.strip().splitlines()[-1]
    key = db.session.scalar(select(ApiKey))
    assert secret.startswith("vpk_") and secret not in (key.key_hash, key.prefix)
    assert accounts.find_api_key(secret).id == key.id
    accounts.revoke_api_key(key.id)
    assert accounts.find_api_key(secret) is None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_console_script_runs_against_the_instance_folder(database_url, tmp_path):
    """`portal` as installed: init, then create a pool and read its id off the last line."""
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)
    script = Path(sys.executable).parent / "portal"
    run = lambda *args: subprocess.run([str(script), *args], env=env, capture_output=True,  # noqa: E731
                                       text=True, timeout=120)
    assert run("init").returncode == 0
    assert "(head)" in run("db", "current").stdout  # Flask-Migrate's group, reached without the app
    created = run("create-pool", "Spring")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().splitlines()[-1].isdigit()
    assert (tmp_path / "instance" / "portal.sqlite3").exists()
    key_file = tmp_path / "instance" / "secret_key"
    assert len(key_file.read_text()) == 64 and oct(key_file.stat().st_mode)[-3:] == "600"
    first = key_file.read_text()
    run("init")
    assert key_file.read_text() == first  # generated once, then kept
    # The data commands run on an app without pages or API, and still do their whole job.
    pool_id = created.stdout.strip().splitlines()[-1]
    generated = run("generate-codes", pool_id, "--count", "5")
    assert generated.returncode == 0, generated.stderr
    customers = tmp_path / "list.csv"
    customers.write_text("customer_id,email\nA1,a1@example.com\nA2,a2@example.com\n")
    assigned = run("assign-codes", pool_id, str(customers))
    assert assigned.returncode == 0, assigned.stderr
    assert "assigned: 2" in assigned.stdout and "failed: 0" in assigned.stdout


def test_data_commands_get_an_app_without_its_surfaces(monkeypatch):
    """import-codes, generate-codes and assign-codes build no blueprints; others do."""
    import click

    from portal import __main__ as cli

    built = []
    monkeypatch.setattr(cli, "create_app", lambda surfaces: built.append(surfaces))
    for name, surfaces in (("assign-codes", False), ("import-codes", False), ("generate-codes", False),
                           ("send", True), ("routes", True)):
        with click.Context(click.Command(name), info_name=name):
            cli.app_for_command()
        assert built.pop() is surfaces, name



@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_help_lists_what_flask_would_list_without_building_the_app(app):
    """`portal --help` is Flask's own help for the built app, word for word, but the
    portal's group gets there without building one."""

    def no_app():
        raise AssertionError("portal --help built the app")

    about = "Run and manage the voucher portal."
    ours = CliRunner().invoke(PortalGroup(create_app=no_app, help=about), ["--help"], prog_name="portal")
    flasks = CliRunner().invoke(FlaskGroup(create_app=lambda: app, help=about), ["--help"],
                                prog_name="portal")
    assert ours.exit_code == 0, ours.output
    assert ours.output == flasks.output
    for name in ("create-pool", "db", "routes", "worker"):
        assert f"\n  {name} " in ours.output


def test_loading_the_command_line_imports_no_service():
    """Services, models, the queue and alembic load when a command runs, not for --help."""
    code = ("import sys\nfrom portal.__main__ import main\nsys.argv = ['portal', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = ('portal.services', 'portal.models', 'portal.queue', 'huey', 'alembic')\n"
            "print('loaded:', sorted(m for m in sys.modules if m.startswith(heavy)), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Commands:" in done.stdout
    assert done.stderr.strip() == "loaded: []"

def test_send_wait_sends_and_prints_the_counts(runner, app, smtp):
    from portal.services import assignment, generation
    from portal.services.customers import CustomerData

    app.config.update(smtp.config())
    pool_id = pools.create_pool("Mail").id
    generation.generate_codes(pool_id, 10)
    crowd = [CustomerData(customer_id=f"M{i}", email=f"m{i}@example.com", email_consent=i != 0)
             for i in range(4)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
    result = invoke(runner, "send", str(pool_id), "--channel", "email", "--wait")
    assert result.exit_code == 0, result.output
    assert "sent: 3" in result.output and "no_consent: 1" in result.output
    assert len(smtp.messages) == 3
    again = invoke(runner, "send", str(pool_id), "--channel", "email", "--wait")
    assert "sent: 0" in again.output and len(smtp.messages) == 3


def test_send_on_an_unconfigured_channel_is_bad_input(runner):
    pool_id = pools.create_pool("Quiet").id
    result = invoke(runner, "send", str(pool_id), "--channel", "sms")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "channel_not_configured" in result.output


def test_assign_codes_on_send_only_adds_to_the_campaign(runner):
    pool_id = pools.create_pool("Deferred").id
    invoke(runner, "generate-codes", str(pool_id), "--count", "200")
    result = invoke(runner, "assign-codes", str(pool_id), str(DATA / "customers.csv"), "--on-send")
    assert result.exit_code == 0, result.output
    assert "added to the campaign: 121" in result.output and "assigned: 0" in result.output
    assert pools.counts(pool_id).assigned == 0


def test_serve_runs_a_worker_beside_the_web_server(tmp_path, smtp):
    """The README's run command: one `portal serve`, and campaign sends still go out."""
    import requests

    from portal import queue
    from portal.services import assignment, generation
    from portal.services.customers import CustomerData
    from tests.servers import free_port

    instance = tmp_path / "instance"
    port = free_port()
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance), "SMTP_HOST": "127.0.0.1",
           "SMTP_PORT": str(smtp.port), "MAIL_FROM": "shop@example.com", "QUEUE_STORAGE": "sqlite"}
    for name in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL"):
        env.pop(name, None)
    script = Path(sys.executable).parent / "portal"
    server = subprocess.Popen([str(script), "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "portal serve did not start"
            time.sleep(0.2)
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'portal.sqlite3'}",
                          "SECRET_KEY": (instance / "secret_key").read_text(), "QUEUE_STORAGE": "sqlite",
                          **smtp.config()})
        app.instance_path = str(instance)
        queue.init_queue(app)
        with app.app_context():
            pool_id = pools.create_pool("Served").id
            generation.generate_codes(pool_id, 5)
            assignment.assign_code(pool_id, CustomerData(customer_id="S1", email="s1@example.com",
                                                         email_consent=True))
            job, _ = queue.start_send(pool_id, "email")
            while db.session.get(type(job), job.id, populate_existing=True).state != "done":
                assert time.monotonic() < deadline + 60, "the worker did not send"
                time.sleep(0.2)
                db.session.rollback()
            db.engine.dispose()
        assert [m["To"] for m in smtp.messages] == ["s1@example.com"]
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "worker ready" in output


def test_replenish_prints_what_it_did(runner, app):
    from portal.services import replenishment
    from tests.servers import FileServer

    app.config["REPLENISH_ALLOWED_NETWORKS"] = "127.0.0.0/8"  # the test's partner is this machine
    files = FileServer(body=b"code\nCLIREFILL01\nCLIREFILL02\n")
    try:
        pool_id = pools.create_pool("Refill").id
        nothing = invoke(runner, "replenish", str(pool_id))
        assert nothing.exit_code == EXIT_BAD_INPUT and "not_configured" in nothing.output
        replenishment.configure(pool_id, url=files.url)
        result = invoke(runner, "replenish", str(pool_id))
        assert result.exit_code == 0, result.output
        assert "url: imported" in result.output and "imported 2" in result.output
        assert "pool now has 2 available codes" in result.output
        again = invoke(runner, "replenish", str(pool_id))
        assert "url: unchanged" in again.output
        files.status = 500
        failed = invoke(runner, "replenish", str(pool_id))
        assert failed.exit_code == 1 and "HTTP 500" in failed.output
    finally:
        files.close()
