"""The portal's closed sets of words: roles, statuses, formats, channels and transports,
and the range of each kind of row id.

Plain values with no database behind them, so the models, the API schemas and the
command line (which must start quickly) all take them from here.
"""

from __future__ import annotations

import enum

# The largest id each kind of key holds: pools, users, stores and API keys have 32-bit
# ids (PostgreSQL's integer), the tables that grow without end (codes, redemptions,
# jobs, ...) 64-bit ones (models.BigId). A larger number names no row, and PostgreSQL
# refuses to compare it with the column: the URL converters and the commands stop it.
ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1


class Role(enum.StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    CASHIER = "cashier"


class PoolStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class CodeStatus(enum.StrEnum):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    REDEEMED = "redeemed"
    CANCELED = "canceled"


class BarcodeFormat(enum.StrEnum):
    QR = "qr"
    CODE128 = "code128"
    EAN13 = "ean13"
    NONE = "none"


class ApiScope(enum.StrEnum):
    POS = "pos"
    INTEGRATION = "integration"


class Channel(enum.StrEnum):
    """A way a pool reaches its customers in stage 4, with a message the marketer sets
    up there (a `ChannelSetting`)."""

    EMAIL = "email"
    SMS = "sms"
    PAGE = "page"
    EXPORT = "export"


class Transport(enum.StrEnum):
    """How a send hands each message over; a send job targets one transport."""

    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class ConsentSource(enum.StrEnum):
    """How a customer's consent to a channel came to change."""

    LIST = "list"  # a customer list uploaded by a marketer
    API = "api"
    UNSUBSCRIBE = "unsubscribe"  # the customer: the email's one-click link or its page
    SMS_STOP = "sms_stop"  # the customer: STOP answered to an SMS
    ADMIN = "admin"  # a marketer or admin in the portal


CONSENT_CHANNELS = (Transport.EMAIL.value, Transport.SMS.value)


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # for a delivery's retry time
    DONE = "done"
    FAILED = "failed"


# The states of a job that is not finished: something still has to run it.
JOB_UNDER_WAY = (JobState.QUEUED, JobState.RUNNING, JobState.WAITING)


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class BatchState(enum.StrEnum):
    """Where a batch of new codes is: its codes count only once it is live."""

    LOADING = "loading"  # codes being written in steps, invisible
    LIVE = "live"
    DISCARDING = "discarding"  # a load that failed or died, its codes being removed


class JobKind(enum.StrEnum):
    SEND = "send"  # a campaign send on one transport
    IMPORT = "import"  # a large code file
    ASSIGN = "assign"  # a large customer list
