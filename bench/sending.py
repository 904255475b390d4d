"""Campaign sending rate against a local SMTP server, beside the rate of the same number
of plain connections to it.

    .venv/bin/python bench/sending.py            # 10,000 emails, 3 runs; writes its section of RESULTS.md
    .venv/bin/python bench/sending.py --quick    # 1,000, one run, prints only
    .venv/bin/python bench/sending.py --before acbde01   # also the send of that revision

The SMTP server is aiosmtpd's own command (its Sink handler) in a process of its own,
as a real server would be. The floor is SMTP_CONNECTIONS plain smtplib connections,
each in a thread, handing it pre-built messages of the same shape (text and HTML parts)
in a loop: what that many connections can deliver from Python. Ours is a whole
campaign send as the worker runs it, over the same number of connections — codes
assigned from the pool a hundred customers at a time, then on each connection every
delivery row claimed and committed, the message rendered, handed over and recorded —
on SQLite and on PostgreSQL, to customers who hold no code yet. With `--before`, an
earlier revision's send (exported with `git archive`, run in a process of its own) is
measured in the same runs. Each figure is the median of the runs, and each run
measures all of them, so that a busy moment of the machine touches every row.
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `--code-from DIR` measures the send of another revision of the portal, exported there.
sys.path.insert(0, sys.argv[sys.argv.index("--code-from") + 1] if "--code-from" in sys.argv else str(ROOT))

from bench.common import fresh_app, machine, write_section  # noqa: E402
from portal import queue  # noqa: E402
from portal.services import assignment, generation, pools, sending  # noqa: E402
from portal.services.customers import CustomerData  # noqa: E402
from tests.servers import free_port  # noqa: E402

MARK = "<!-- sending benchmark -->"
WHY = ('What the send pays for beyond the floor, per message: its row marked `sending` in a '
       'durable commit before it goes and recorded after, so that a crash leaves at most one '
       'message per connection in doubt. Each connection records and claims on a database '
       'connection of its own, through the driver with the statements compiled once '
       '(`deliveries.Line`): on PostgreSQL the record of one message and the claim of the next are '
       'one autocommit statement, on SQLite one transaction. The email\'s HTML is drawn once per '
       'send with a marker for each value and filled in for each customer; its code is chosen for a '
       'hundred customers at a time in a few statements (`give_each`). What binds the send on 2 '
       'cores is CPU, not the database (a PostgreSQL commit here costs about 0.2 ms): aiosmtpd (one '
       'asyncio process) takes about half a core, and the send\'s four connections are threads of '
       'one process, taking turns at its interpreter. Of the send\'s Python time on PostgreSQL, '
       'choosing codes is about a third, the driver\'s round trip a sixth and handing the message '
       'to smtplib a quarter (py-spy, GIL samples). Spreading the connections over two processes '
       'was tried and was slower here. The floor\'s `send_message` writes each EmailMessage out '
       'again, which the portal does not (it writes an email\'s bytes directly); the row written to '
       'bytes beforehand is the tighter floor. `--before acbde01` is the send as it was when the '
       'deliverability issue was filed: one connection, codes assigned one customer at a time.')
CONNECTIONS = 4


def start_server(port: int) -> subprocess.Popen:
    """aiosmtpd's command on a local port, discarding what it receives."""
    server = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                               "-c", "aiosmtpd.handlers.Sink"])
    for _ in range(100):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
                smtp.noop()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the SMTP server did not start")


def floor(port: int, n: int, connections: int, flattened: bool = False) -> float:
    """Messages per second from `connections` plain smtplib loops, each in a thread,
    handing over EmailMessage objects (`send_message`), or with `flattened` their bytes
    written out beforehand (`sendmail`)."""
    body = "Hello Maria,\n\nhere is your voucher: 10% off.\n\nYour code: ABCDEFGHJK\n" * 2
    messages = []
    for i in range(n):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "shop@example.com", f"c{i}@example.com", "Hi"
        message.set_content(body)
        message.add_alternative(f"<html><body><p>{body}</p></body></html>" * 3, subtype="html")
        messages.append(message.as_bytes(policy=SMTP) if flattened else message)

    def loop(share: list) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i, message in enumerate(share):
                if flattened:
                    smtp.sendmail("shop@example.com", [f"c{i}@example.com"], message)
                else:
                    smtp.send_message(message)

    threads = [threading.Thread(target=loop, args=(messages[k::connections],)) for k in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return n / (time.perf_counter() - start)


def ours(kind: str, port: int, n: int, workdir: Path, connections: int) -> float:
    """Messages per second for a campaign send of n customers."""
    with fresh_app(kind, workdir) as (app, _):
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, MAIL_FROM="shop@example.com",
                          QUEUE_STORAGE="memory", PUBLIC_BASE_URL="https://shop.example",
                          SMTP_CONNECTIONS=connections)
        pool_id = pools.create_pool("Bench", benefit="10% off").id
        generation.generate_codes(pool_id, n + n // 10)
        crowd = [CustomerData(customer_id=f"C{i:06d}", first_name="Maria", email=f"c{i}@example.com",
                              email_consent=True) for i in range(n)]
        assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=False)
        job, _ = sending.start_send(pool_id, "email")
        start = time.perf_counter()
        while queue.send_now(job.id) is not None:
            pass
        elapsed = time.perf_counter() - start
        report = sending.progress(job.id)
        assert report.sent == n, report
    return n / elapsed


def before(revision: str, kind: str, port: int, n: int, folder: Path) -> float:
    """The send of another revision (exported into `folder` once), in a process of its own."""
    if not (folder / "portal").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    done = subprocess.run([sys.executable, __file__, "--code-from", str(folder), "--one", kind,
                           "--port", str(port), "-n", str(n)], check=True, capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--before", metavar="REVISION", help="also measure this revision's send")
    parser.add_argument("--code-from", help=argparse.SUPPRESS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one send of the revision in --code-from, for before()
        with tempfile.TemporaryDirectory() as tmp:
            print(ours(args.one, args.port, args.n, Path(tmp), CONNECTIONS))
        return
    n = 1_000 if args.quick else 10_000
    runs = args.runs or (1 if args.quick else 3)
    port = free_port()
    server = start_server(port)
    measured: dict[str, list[float]] = {}
    names = ["floor", "floor, bytes", "sqlite", "postgresql"]
    names += ["sqlite, before", "postgresql, before"] if args.before else []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(runs):
                for name in names:
                    kind, _, variant = name.partition(", ")
                    if kind == "floor":
                        rate = floor(port, n, CONNECTIONS, flattened=variant == "bytes")
                    elif variant == "before":
                        rate = before(args.before, kind, port, n, Path(tmp) / "before")
                    else:
                        rate = ours(kind, port, n, Path(tmp), CONNECTIONS)
                    measured.setdefault(name, []).append(rate)
                    print(f"run {run + 1}: {name}: {rate:,.0f}/s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    rate = {name: statistics.median(samples) for name, samples in measured.items()}
    base = rate["floor"]
    rows = [f"| {CONNECTIONS} plain smtplib connections (the floor) | {base:,.0f}/s | 1.00× | |",
            f"| {CONNECTIONS} plain smtplib connections, messages written to bytes beforehand | "
            f"{rate['floor, bytes']:,.0f}/s | {rate['floor, bytes'] / base:.2f}× | |"]
    for kind in ("sqlite", "postgresql"):
        was = rate.get(f"{kind}, before")
        rows.append(f"| campaign send, {kind}, {CONNECTIONS} connections | {rate[kind]:,.0f}/s | "
                    f"{rate[kind] / base:.2f}× | {f'{rate[kind] / was:.2f}×' if was else ''} |")
    if args.before:
        for kind in ("sqlite", "postgresql"):
            was = rate[f"{kind}, before"]
            rows.append(f"| campaign send, {kind}, at `{args.before}` (one connection) | {was:,.0f}/s | "
                        f"{was / base:.2f}× | 1.00× |")
    spread = ", ".join(f"{name} {min(s):,.0f}–{max(s):,.0f}/s" for name, s in measured.items())
    met = all(rate[kind] >= 0.7 * base for kind in ("sqlite", "postgresql"))
    section = "\n".join([
        MARK,
        "## Sending a campaign by email",
        "",
        f"`bench/sending.py`: {n:,} emails to aiosmtpd's own server (its Sink handler, in a "
        f"process of its own) on a local port, median of {runs} runs, on {machine()}. The "
        f"floor is {CONNECTIONS} plain smtplib connections, a thread each, handing the server "
        "pre-built messages of the same shape in a loop. The send is the worker's own: codes "
        "chosen for 100 customers per transaction, then on each connection (`SMTP_CONNECTIONS`) "
        "one message at a time — claim its delivery row (committed), render and hand over the "
        "message, record it as sent together with the next claim.",
        "",
        "| what | messages per second | vs the floor | vs before |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Target: at least 0.7× the floor on both databases — {'met' if met else 'not met'}. "
        f"The runs ranged: {spread}.",
        "",
        WHY,
        "",
    ])
    print(section)
    if not args.quick:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
