"""Configuration read from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .services import times
from .services.addresses import parse_networks


def database_url(instance_path: str) -> str:
    """The DATABASE_URL, defaulting to an SQLite file in the instance folder."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "portal.sqlite3")
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the short way."""
    for short in ("postgres://", "postgresql://"):
        if url.startswith(short):
            return "postgresql+psycopg://" + url[len(short) :]
    return url


def secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else one generated once and kept on disk."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if key:
        return key
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting together must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def rate_limit_storage() -> str:
    """Where rate limits are counted: Redis with REDIS_URL, else this process's memory."""
    return os.environ.get("REDIS_URL", "").strip() or "memory://"


def unshared_limits_warning(processes: int) -> str | None:
    """What to say at start-up when several processes would each count rate limits alone."""
    if processes < 2 or not _flag(os.environ.get("RATELIMIT_ENABLED", "true")):
        return None
    if not rate_limit_storage().startswith("memory://"):
        return None
    return (f"RATE LIMITS ARE NOT SHARED: {processes} worker processes each count in their own "
            f"memory, so every limit (unknown codes, sign-ins, redemptions) lets up to {processes} "
            "times as many requests through. Set REDIS_URL to share them, or run one worker.")


def trusted_proxies() -> int:
    """How many reverse proxies in front of the portal to believe X-Forwarded-* from."""
    value = os.environ.get("TRUSTED_PROXIES", "").strip() or "0"
    if not value.isdigit():
        raise ValueError(f"TRUSTED_PROXIES must be a whole number of proxies (0 for none), not {value!r}")
    return int(value)


def phone_region() -> str:
    """The country (ISO 3166 code, such as PL) of phone numbers written without one."""
    import phonenumbers  # only when the app is built, not for `portal --help`

    value = os.environ.get("DEFAULT_PHONE_REGION", "").strip().upper()
    if value and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"DEFAULT_PHONE_REGION must be a two-letter country code such as PL, "
                         f"not {value!r}")
    return value


def inbound_fields(value: str) -> dict[str, str]:
    """SMS_INBOUND_FIELDS, "from=msisdn,text=message": the names another SMS provider
    gives the sender and the text of an inbound message (`a.b` for a nested one)."""
    names = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        ours, _, theirs = part.partition("=")
        if ours.strip() not in ("from", "text") or not theirs.strip():
            raise ValueError(f"SMS_INBOUND_FIELDS must look like from=msisdn,text=message, not {value!r}")
        names[ours.strip()] = theirs.strip()
    return names


def portal_timezone() -> str:
    """The IANA zone the portal's own pages show times in, and stores without their own."""
    value = os.environ.get("PORTAL_TIMEZONE", "").strip() or times.DEFAULT_ZONE
    check_timezone(value)
    return value


def check_timezone(value: str) -> None:
    """Stop the start on a PORTAL_TIMEZONE that is not an IANA zone name."""
    if not times.is_zone(value):
        raise ValueError(f"PORTAL_TIMEZONE must be an IANA time zone name such as Europe/Warsaw "
                         f"or UTC, not {value!r}")


def from_environment(instance_path: str) -> dict:
    """All settings the app reads from the environment."""
    return {
        "SECRET_KEY": secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        # How passwords are hashed (werkzeug's method string). Not read from the
        # environment: only the tests' own configuration picks a cheaper one.
        "PASSWORD_HASH_METHOD": "scrypt",
        "SQLITE_BUSY_TIMEOUT_MS": int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "30000")),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_BYTES", str(512 * 1024 * 1024))),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
        "API_GENERATE_MAX": int(os.environ.get("API_GENERATE_MAX", "1000000")),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "TRUSTED_PROXIES": trusted_proxies(),
        "DEFAULT_PHONE_REGION": phone_region(),
        "PORTAL_TIMEZONE": portal_timezone(),
        "RATELIMIT_ENABLED": _flag(os.environ.get("RATELIMIT_ENABLED", "true")),
        "RATELIMIT_STORAGE_URI": rate_limit_storage(),
        "RATELIMIT_HEADERS_ENABLED": True,
        "RATE_LIMIT_REDEMPTION": os.environ.get("RATE_LIMIT_REDEMPTION", "600/minute"),
        # Failed sign-ins: per account and address (tight), per account from anywhere
        # (gentle: it can lock the owner out too), and per address across accounts.
        "RATE_LIMIT_SIGN_IN": os.environ.get("RATE_LIMIT_SIGN_IN", "5/minute;20/hour"),
        "RATE_LIMIT_SIGN_IN_ACCOUNT": os.environ.get("RATE_LIMIT_SIGN_IN_ACCOUNT", "100/hour"),
        "RATE_LIMIT_SIGN_IN_ADDRESS": os.environ.get("RATE_LIMIT_SIGN_IN_ADDRESS", "30/minute"),
        # A cashier's session ends after this long without a request (0: never). A till
        # sees a voucher now and then, not every few minutes: a short timeout would ask
        # for the password in the middle of a queue; eight hours still ends a session
        # left signed in overnight or after a shift.
        "CASHIER_IDLE_MINUTES": int(os.environ.get("CASHIER_IDLE_MINUTES", "480")),
        "RATE_LIMIT_TILL_UNKNOWN": os.environ.get("RATE_LIMIT_TILL_UNKNOWN", "5/minute;30/hour"),
        "RATE_LIMIT_UNKNOWN_CODE": os.environ.get("RATE_LIMIT_UNKNOWN_CODE", "30/minute;300/hour"),
        # The job queue: an SQLite file in the instance folder, or Redis when REDIS_URL is set.
        "QUEUE_STORAGE": os.environ.get("QUEUE_STORAGE")
        or ("redis" if os.environ.get("REDIS_URL") else "sqlite"),
        "QUEUE_NAME": os.environ.get("QUEUE_NAME", "portal"),
        "WORKER_THREADS": int(os.environ.get("WORKER_THREADS", "4")),
        # Uploads larger than this are imported or assigned by a worker, off the request.
        "BACKGROUND_FILE_BYTES": int(os.environ.get("BACKGROUND_FILE_BYTES", str(4 * 1024 * 1024))),
        "JOB_LEASE_SECONDS": int(os.environ.get("JOB_LEASE_SECONDS", "120")),
        "DELIVERY_ATTEMPTS": int(os.environ.get("DELIVERY_ATTEMPTS", "3")),
        "DELIVERY_RETRY_SECONDS": float(os.environ.get("DELIVERY_RETRY_SECONDS", "60")),
        # Replenishment: the folder partners drop files into, and how long a file must
        # sit unchanged (without a .done marker) before it counts as complete.
        "DROP_FOLDER": os.environ.get("DROP_FOLDER", ""),
        "DROP_SETTLE_SECONDS": float(os.environ.get("DROP_SETTLE_SECONDS", "30")),
        "REPLENISH_TIMEOUT": float(os.environ.get("REPLENISH_TIMEOUT", "30")),
        # Inside networks (loopback, private, …) partners' servers may be in; none by
        # default. Checked here so that a typo stops the start, not the first fetch.
        "REPLENISH_ALLOWED_NETWORKS": _networks(os.environ.get("REPLENISH_ALLOWED_NETWORKS", "")),
        # Channels.
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT") or "25"),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_SECURITY": os.environ.get("SMTP_SECURITY", "none").strip().lower(),
        # Sign in over an unencrypted connection to a server that is not this machine.
        "SMTP_ALLOW_PLAIN_AUTH": _opt_in(os.environ.get("SMTP_ALLOW_PLAIN_AUTH", "")),
        "MAIL_FROM": os.environ.get("MAIL_FROM", ""),
        "MAIL_REPLY_TO": os.environ.get("MAIL_REPLY_TO", ""),
        "UNSUBSCRIBE_MAILTO": os.environ.get("UNSUBSCRIBE_MAILTO", "").strip(),
        "SMS_INBOUND_TOKEN": os.environ.get("SMS_INBOUND_TOKEN", ""),
        "SMS_INBOUND_FIELDS": inbound_fields(os.environ.get("SMS_INBOUND_FIELDS", "")),
        "SMS_URL": os.environ.get("SMS_URL", ""),
        "SMS_TOKEN": os.environ.get("SMS_TOKEN", ""),
        "SMS_BODY": os.environ.get("SMS_BODY", ""),
        "WEBHOOK_URL": os.environ.get("WEBHOOK_URL", ""),
        "WEBHOOK_SECRET": webhook_secret(),
        # Sending: SMTP connections one email send uses at once; how long a send lets a
        # provider that answers 429/503 with Retry-After hold it before failing the rest;
        # and each channel's most messages per second across every worker (0: no limit).
        "SMTP_CONNECTIONS": _whole("SMTP_CONNECTIONS", "4", least=1),
        "PROVIDER_MAX_WAIT": _whole("PROVIDER_MAX_WAIT", "3600", least=0),
        "SMTP_MAX_PER_SECOND": _per_second("SMTP_MAX_PER_SECOND"),
        "SMS_MAX_PER_SECOND": _per_second("SMS_MAX_PER_SECOND"),
        "WEBHOOK_MAX_PER_SECOND": _per_second("WEBHOOK_MAX_PER_SECOND"),
        # Event webhooks for integrations: the first retry's wait (doubling up to an hour),
        # and the failures in a row after which an endpoint is paused.
        "EVENT_RETRY_SECONDS": float(os.environ.get("EVENT_RETRY_SECONDS", "10")),
        "EVENT_PAUSE_AFTER": _whole("EVENT_PAUSE_AFTER", "10", least=1),
        # The bearer token a Prometheus scraper sends to /metrics; without it, no /metrics.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", "").strip(),
    }


def webhook_secret() -> str:
    """WEBHOOK_SECRET, checked now: a `whsec_` secret that is not base64 stops the start."""
    from .services.webhooks import key

    value = os.environ.get("WEBHOOK_SECRET", "").strip()
    if value:
        key(value)
    return value


def _whole(name: str, default: str, least: int) -> int:
    value = os.environ.get(name, "").strip() or default
    if not value.isdigit() or int(value) < least:
        raise ValueError(f"{name} must be a whole number of at least {least}, not {value!r}")
    return int(value)


def _per_second(name: str) -> float:
    """A rate in messages per second: a whole number, or a fraction below 1 (0.5 is one
    message every two seconds); empty or 0 for no limit."""
    value = os.environ.get(name, "").strip() or "0"
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if rate < 0 or (rate > 1 and not rate.is_integer()):
        raise ValueError(f"{name} must be a whole number of messages per second, or a fraction "
                         f"below 1, not {value!r}")
    return rate


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "off")


def _opt_in(value: str) -> bool:
    """A setting that weakens a protection is on only when it says so: an empty or
    misspelt value leaves the protection in place."""
    return value.strip().lower() in ("1", "true", "yes", "on")


def _networks(value: str) -> str:
    parse_networks(value)  # raises ValueError naming the entry that is not a network
    return value
