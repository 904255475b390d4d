"""Campaign sending rate against a local SMTP server, beside the rate of the same number
of plain connections to it.

    .venv/bin/python bench/sending.py            # 10,000 emails, 3 runs; writes its section of RESULTS.md
    .venv/bin/python bench/sending.py --quick    # 1,000, one run, prints only

The SMTP server is aiosmtpd's own command (its Sink handler) in a process of its own,
as a real server would be. The floor is SMTP_CONNECTIONS plain smtplib connections,
each in a thread, handing it pre-built messages of the same shape (text and HTML parts)
in a loop: what that many connections can deliver from Python. Ours is a whole
campaign send as the worker runs it, over the same number of connections — codes
assigned from the pool a hundred customers at a time, then on each connection every
delivery row claimed and committed, the message rendered, handed over and recorded —
on SQLite and on PostgreSQL, to customers who hold no code yet. The same send over one
connection shows what the connections add. Each figure is the median of the runs, and
each run measures all of them, so that a busy moment of the machine touches every row.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import fresh_app, machine, write_section  # noqa: E402
from portal import queue  # noqa: E402
from portal.services import assignment, generation, pools, sending  # noqa: E402
from portal.services.customers import CustomerData  # noqa: E402
from tests.servers import free_port  # noqa: E402

MARK = "<!-- sending benchmark -->"
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


def floor(port: int, n: int, connections: int) -> float:
    """Messages per second from `connections` plain smtplib loops, each in a thread."""
    body = "Hello Maria,\n\nhere is your voucher: 10% off.\n\nYour code: ABCDEFGHJK\n" * 2
    messages = []
    for i in range(n):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "shop@example.com", f"c{i}@example.com", "Hi"
        message.set_content(body)
        message.add_alternative(f"<html><body><p>{body}</p></body></html>" * 3, subtype="html")
        messages.append(message)

    def loop(share: list[EmailMessage]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for message in share:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    n = 1_000 if args.quick else 10_000
    runs = args.runs or (1 if args.quick else 3)
    port = free_port()
    server = start_server(port)
    measured: dict[str, list[float]] = {}
    names = ("floor", "sqlite", "postgresql", "sqlite, 1", "postgresql, 1")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(runs):
                for name in names:
                    kind, _, one = name.partition(", ")
                    rate = (floor(port, n, CONNECTIONS) if kind == "floor"
                            else ours(kind, port, n, Path(tmp), 1 if one else CONNECTIONS))
                    measured.setdefault(name, []).append(rate)
                    print(f"run {run + 1}: {name}: {rate:,.0f}/s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    rate = {name: statistics.median(samples) for name, samples in measured.items()}
    base = rate["floor"]
    rows = [f"| {CONNECTIONS} plain smtplib connections (the floor) | {base:,.0f}/s | 1.00× |"]
    for kind in ("sqlite", "postgresql"):
        rows.append(f"| campaign send, {kind}, {CONNECTIONS} connections | {rate[kind]:,.0f}/s | "
                    f"{rate[kind] / base:.2f}× |")
    for kind in ("sqlite", "postgresql"):
        rows.append(f"| campaign send, {kind}, 1 connection | {rate[kind + ', 1']:,.0f}/s | "
                    f"{rate[kind + ', 1'] / base:.2f}× |")
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
        "assigned to 100 customers per transaction, then on each connection (`SMTP_CONNECTIONS`) "
        "one message at a time — claim its delivery row (one commit), render and hand over the "
        "message, record it as sent with the next claim.",
        "",
        "| what | messages per second | vs the floor |",
        "| --- | --- | --- |",
        *rows,
        "",
        f"Target: at least 0.7× the floor on both databases — {'met' if met else 'not met'}. "
        f"The runs ranged: {spread}.",
        "",
    ])
    print(section)
    if not args.quick:
        write_section(MARK, section)


if __name__ == "__main__":
    main()
