"""Real servers the tests start: an SMTP server (aiosmtpd) and an HTTP receiver for the
SMS provider and webhooks. Both keep what they received for the test to read."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def certificate(folder: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate (cert.pem, key.pem in the folder) for these host names
    or IP addresses; a client trusts it when SSL_CERT_FILE names cert.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def alternative(name: str) -> x509.GeneralName:
        try:
            return x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            return x509.DNSName(name)

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([alternative(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class MailHandler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse: str | None = None  # an SMTP reply such as "451 4.3.0 try later"
        self.delay = 0.0
        self.peers: set[tuple] = set()  # the client ends of the connections messages came over
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs) of each message

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        if self.refuse:
            return self.refuse
        if self.delay:
            time.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.peers.add(session.peer)
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
    statuses, one per request), adding `answer_headers` to an answer of 300 or more.
    `arrivals` has every request's (time.monotonic(), status), refused ones too."""

    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    status: int = 200
    answer_headers: dict[str, str] = field(default_factory=dict)
    arrivals: list[tuple[float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    receiver.arrivals.append((time.monotonic(), status))
                    if status < 300:
                        receiver.requests.append(Received(self.path, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for name, value in (receiver.answer_headers.items() if status >= 300 else ()):
                    self.send_header(name, value)
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
    sign-in, and able to fail (`status`) or hang (`delay` seconds). With `tls`, the same
    port also answers HTTPS (a connection that starts with a TLS handshake gets it), so
    a redirect can change the scheme and nothing else."""

    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    etag: bool = True
    token: str | None = None
    basic: tuple[str, str] | None = None
    redirect: str | None = None  # answer 302 to this address instead
    content_type: str = "text/csv"
    tls: ssl.SSLContext | None = None
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        import base64
        import hashlib

        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                files.requests.append({**self.headers, "path": self.path,
                                       "tls": isinstance(self.connection, ssl.SSLSocket)})
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
                self.send_header("Content-Type", files.content_type)
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

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):  # noqa: ANN202
                sock, address = super().get_request()
                if files.tls is not None and sock.recv(1, socket.MSG_PEEK) == b"\x16":
                    sock = files.tls.wrap_socket(sock, server_side=True)
                return sock, address

            def handle_error(self, request, client_address) -> None:  # noqa: ANN001
                pass  # a client that refused the certificate (the mismatch test)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/export/codes.csv"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
