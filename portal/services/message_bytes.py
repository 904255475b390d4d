"""An email as it goes over SMTP: its bytes (headers, then a multipart/alternative body
with a plain-text and an HTML part, each UTF-8 in base64), and the envelope's addresses.

Written out directly rather than through `email.mime` and its generator, which took
most of the time a send spends on each message; the result is what those classes
write (the tests parse every message with `email.policy.default` and find no defect).
"""

from __future__ import annotations

import base64
import random
import re
import smtplib
from collections.abc import Iterable, Sequence
from email.header import Header

CRLF = "\r\n"
# RFC 5322 2.1.1: lines SHOULD be no longer than 78 characters.
LINE = 78


def fold(name: str, value: str) -> str:
    """One header field, folded at spaces into lines of at most 78 characters where the
    words allow it. A value folded already (an encoded word's lines) keeps its folds."""
    if len(name) + 2 + len(value) <= LINE and "\n" not in value:
        return f"{name}: {value}"  # most fields: one short line
    if "\n" in value:
        lines = [line.strip() for line in value.replace("\r\n", "\n").split("\n")]
        return f"{name}: " + (CRLF + " ").join(line for line in lines if line)
    lines, line, words = [], f"{name}:", 0
    for word in value.split(" "):
        if words and len(line) + 1 + len(word) > LINE:
            lines.append(line)
            line = ""
        line, words = line + " " + word, words + 1
    lines.append(line)
    return CRLF.join(lines)


def unstructured(value: str, name: str = "Subject") -> str:
    """A header's free text (a subject) as it is written: as it is when it is plain
    printable ASCII that folds into short lines and reads back the same (no space at
    either end), else in RFC 2047 encoded words."""
    if (value.isascii() and value.isprintable() and "=?" not in value and value == value.strip()
            and all(len(word) <= LINE - 10 for word in value.split(" "))):
        return value
    return Header(value, "utf-8", header_name=name).encode()  # its first line after "Subject: "


def _part(kind: str, text: str) -> str:
    encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", CRLF)
    return (f'Content-Type: text/{kind}; charset="utf-8"{CRLF}MIME-Version: 1.0{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{encoded}")


def build(headers: Iterable[tuple[str, str]], text: str, html: str) -> bytes:
    """The message: `headers` as they are written (ASCII: addresses and words encoded
    already), then the two parts."""
    # "=_" never occurs in base64 lines, so the boundary cannot either. It need only be
    # unlikely to repeat, not secret (email.generator draws it the same way).
    boundary = f"=_{random.getrandbits(128):032x}"
    head = CRLF.join(fold(name, value) for name, value in headers)
    return (f"{head}{CRLF}MIME-Version: 1.0{CRLF}"
            f'Content-Type: multipart/alternative; boundary="{boundary}"{CRLF}{CRLF}'
            f"--{boundary}{CRLF}{_part('plain', text)}"
            f"--{boundary}{CRLF}{_part('html', html)}"
            f"--{boundary}--{CRLF}").encode("ascii")


# A plain ASCII addr-spec: email.utils.parseaddr gives it back unchanged, and smtplib
# writes it into the envelope as <address>.
_BARE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def bare(address: str) -> bool:
    """Whether `address` is a plain ASCII address with no display name."""
    return _BARE.fullmatch(address) is not None


class _Envelope:
    """smtplib's client, writing a plain address into MAIL FROM and RCPT TO as it is
    rather than parsing it again (email.utils.parseaddr, twice a message, took a tenth
    of a send's time). Any other address goes through smtplib's own quoting."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if not bare(sender) or any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)
        self.putcmd("mail", f"FROM:<{sender}>{self._options(options)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if not bare(recip):
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"TO:<{recip}>{self._options(options)}")
        return self.getreply()

    def _options(self, options: Sequence[str]) -> str:
        return " " + " ".join(options) if options and self.does_esmtp else ""


class SMTP(_Envelope, smtplib.SMTP):
    pass


class SMTP_SSL(_Envelope, smtplib.SMTP_SSL):  # noqa: N801 - smtplib's name
    pass
