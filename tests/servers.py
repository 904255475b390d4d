"""Real servers the tests start: an SMTP server (aiosmtpd) and an HTTP receiver for the
SMS provider and webhooks. Both keep what they received for the test to read."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse: str | None = None  # an SMTP reply such as "451 4.3.0 try later"
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        if self.refuse:
            return self.refuse
        if self.delay:
            time.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free local port; stop() and start() make it go away and come back."""

    def __init__(self) -> None:
        self.handler = MailHandler()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def config(self) -> dict:
        return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port, "SMTP_SECURITY": "none",
                "MAIL_FROM": "Vouchers <vouchers@shop.example>"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A local HTTP server that records POSTs and answers with `status` (or a queue of
    statuses, one per request)."""

    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    status: int = 200

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    if status < 300:
                        receiver.requests.append(Received(self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b'{"error": "busy"}')

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class FileServer:
    """A local HTTP server publishing one file the way a partner's system would: with an
    ETag (answering 304 to If-None-Match), optionally behind a bearer token or basic
    sign-in, and able to fail (`status`) or hang (`delay` seconds)."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    etag: bool = True
    token: str | None = None
    basic: tuple[str, str] | None = None
    redirect: str | None = None  # answer 302 to this address instead
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        import base64
        import hashlib

        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                files.requests.append({**self.headers, "path": self.path})
                if files.redirect and self.path != "/moved":
                    self.send_response(302)
                    self.send_header("Location", files.redirect)
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                if files.delay:
                    time.sleep(files.delay)
                auth = self.headers.get("Authorization", "")
                if files.token and auth != f"Bearer {files.token}":
                    return self._answer(401)
                if files.basic:
                    expected = base64.b64encode(":".join(files.basic).encode()).decode()
                    if auth != f"Basic {expected}":
                        return self._answer(401)
                if files.status != 200:
                    return self._answer(files.status)
                tag = '"' + hashlib.sha256(files.body).hexdigest()[:16] + '"'
                if files.etag and self.headers.get("If-None-Match") == tag:
                    return self._answer(304)
                self.send_response(200)
                self.send_header("Content-Type", "text/csv")
                self.send_header("Content-Length", str(len(files.body)))
                if files.etag:
                    self.send_header("ETag", tag)
                self.end_headers()
                try:
                    self.wfile.write(files.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout test)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/export/codes.csv"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
