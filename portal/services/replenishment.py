"""Keeping pools filled: a partner's URL fetched on a schedule, a watched drop folder,
and a top-up by generation when a pool runs low.

Every source goes through the core's own import, all of a file or none of it. A file
whose content this pool has imported before is not imported again (its sha256), and a
server that says nothing changed (ETag / Last-Modified) is not even downloaded. One
run per pool at a time, whichever worker or command starts it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import socket
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import or_, select, update

from ..extensions import db
from ..models import (
    Alert,
    ImportBatch,
    Pool,
    PoolStatus,
    Replenishment,
    ReplenishmentRun,
    utcnow,
)
from . import alerts, generation, imports, pools
from .errors import Conflict, DomainError, InvalidInput, NotFound
from .tx import write_transaction
from .urls import without_credentials

FETCH_TIMEOUT = 30
RUN_LEASE = timedelta(minutes=30)
LISTED_REJECTIONS = 1000
# Carrier-grade NAT space, where some clouds keep their metadata service (100.100.100.200).
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_table = Replenishment.__table__


# --- settings ---------------------------------------------------------------------------------

def _fernet() -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"voucher-portal replenishment secrets").derive(
        current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(value: str | None) -> str | None:
    return _fernet().encrypt(value.encode()).decode() if value else None


def _open(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:
        return None  # SECRET_KEY changed: the marketer enters the secret again


def get(pool_id: int) -> Replenishment | None:
    return db.session.get(Replenishment, pool_id, populate_existing=True)


def next_run(rep: Replenishment, after: datetime) -> datetime | None:
    """When the URL is fetched next: every N hours, or daily at HH:MM UTC."""
    if not rep.url:
        return None
    if rep.daily_at:
        hour, minute = map(int, rep.daily_at.split(":"))
        today = datetime.combine(after.date(), time(hour, minute), tzinfo=after.tzinfo)
        return today if today > after else today + timedelta(days=1)
    return after + timedelta(hours=rep.every_hours or 24)


FIELDS = ("url", "bearer_token", "username", "password", "every_hours", "daily_at", "drop_folder",
          "top_up_count", "top_up_cap")


def _check(values: dict) -> None:
    url = values.get("url")
    if url:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises for a port that is not a number
        except ValueError as exc:
            raise InvalidInput("The address is not a valid URL.", field="url") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
            raise InvalidInput("The address must be an http:// or https:// URL.", field="url")
        if parts.username or parts.password:
            raise InvalidInput("Put the user name and password in their own fields (the "
                               "password is stored encrypted), not in the address.", field="url")
    hours = values.get("every_hours")
    if hours is not None and not (isinstance(hours, int) and 1 <= hours <= 720):
        raise InvalidInput("every_hours is a whole number from 1 to 720.", field="every_hours")
    daily = values.get("daily_at")
    if daily and not _DAILY.fullmatch(daily):
        raise InvalidInput("daily_at is a time of day as HH:MM (UTC), e.g. 06:30.", field="daily_at")
    if hours and daily:
        raise InvalidInput("Choose every N hours or daily at a time, not both.", field="daily_at")
    count = values.get("top_up_count")
    if count is not None and not (isinstance(count, int) and 0 <= count <= generation.MAX_COUNT):
        raise InvalidInput(f"top_up_count is from 0 to {generation.MAX_COUNT:,}.", field="top_up_count")
    cap = values.get("top_up_cap")
    if cap is not None and not (isinstance(cap, int) and cap >= 0):
        raise InvalidInput("top_up_cap is a whole number, 0 or more.", field="top_up_cap")
    if values.get("drop_folder") and not current_app.config.get("DROP_FOLDER"):
        raise InvalidInput("No drop folder is set up on this server (DROP_FOLDER).", field="drop_folder")
    for name in ("username", "bearer_token", "password"):
        if values.get(name) is not None and len(values[name]) > 1000:
            raise InvalidInput(f"{name} is too long.", field=name)


def checked(values: dict) -> dict:
    """The settings trimmed, or InvalidInput naming the wrong field; changes nothing."""
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown replenishment fields: {', '.join(sorted(unknown))}.")
    values = dict(values)
    for name in ("url", "username", "daily_at"):
        if isinstance(values.get(name), str):
            values[name] = values[name].strip() or None
    _check(values)
    return values


def configure(pool_id: int, **values: object) -> Replenishment:
    """Change a pool's replenishment settings. A secret left out (None) stays as it was;
    an empty string removes it. A URL with no schedule is fetched every 24 hours."""
    values = checked(values)
    with write_transaction() as session:
        if session.get(Pool, pool_id) is None:
            raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
        rep = session.get(Replenishment, pool_id, populate_existing=True)
        if rep is None:
            rep = Replenishment(pool_id=pool_id, drop_folder=False, top_up_count=0)
            session.add(rep)
        schedule_changed = False
        for name, value in values.items():
            if name in ("bearer_token", "password"):
                if value is not None:
                    setattr(rep, name + "_enc", _seal(value))
                continue
            if name in ("url", "every_hours", "daily_at") and getattr(rep, name) != value:
                schedule_changed = True
            setattr(rep, name, value)
        if "daily_at" in values and values["daily_at"]:
            rep.every_hours = None
        elif "every_hours" in values and values["every_hours"]:
            rep.daily_at = None
        if schedule_changed:
            rep.etag = rep.last_modified = None
            rep.next_run_at = next_run(rep, utcnow())
        rep.updated_at = utcnow()
    return rep


def drop_path(pool_id: int) -> str | None:
    """Where the partner drops this pool's files: pool-<id>-<anything> in DROP_FOLDER."""
    folder = current_app.config.get("DROP_FOLDER")
    return str(Path(folder) / f"pool-{pool_id}-*.csv") if folder else None


# --- runs -------------------------------------------------------------------------------------

@dataclass
class Fetched:
    path: Path | None
    etag: str | None
    last_modified: str | None


def _claim(pool_id: int, *, scheduled: bool) -> Replenishment | None:
    """Take the pool's replenishment for this process; None when another run has it (or,
    for a scheduled run, when it is not due). The due time moves on at once, so two
    workers looking at the same schedule run it once."""
    now = utcnow()
    with write_transaction() as session:
        rep = session.get(Replenishment, pool_id, populate_existing=True)
        if rep is None:
            return None
        conditions = [_table.c.pool_id == pool_id,
                      or_(_table.c.running_until.is_(None), _table.c.running_until < now)]
        values = {"running_until": now + RUN_LEASE}
        if scheduled:
            conditions.append(_table.c.next_run_at <= now)
            values["next_run_at"] = next_run(rep, now)
        taken = session.execute(update(_table).where(*conditions).values(values)).rowcount
    return get(pool_id) if taken else None


def _release(pool_id: int) -> None:
    with write_transaction() as session:
        session.execute(update(_table).where(_table.c.pool_id == pool_id).values(running_until=None))


def _record(pool_id: int, source: str, outcome: str, detail: str = "", *, batch_id: int | None = None,
            error: str | None = None, generated: int = 0) -> ReplenishmentRun:
    with write_transaction() as session:
        run = ReplenishmentRun(pool_id=pool_id, source=source, outcome=outcome, detail=detail[:500],
                               error=error, generated=generated, at=utcnow())
        if batch_id is not None:
            batch = session.get(ImportBatch, batch_id)
            run.batch_id, run.imported, run.rejected = batch.id, batch.imported, batch.rejected
            run.rejected_by_reason = dict(batch.rejected_by_reason)
        session.add(run)
        if source != "top_up":
            _failure_state(session, pool_id, source, outcome, error)
    return run


def _failure_state(session, pool_id: int, source: str, outcome: str, error: str | None) -> None:  # noqa: ANN001
    """A failing source alerts the owner once; the next good run re-arms it."""
    now = utcnow()
    if outcome != "failed":
        session.execute(update(_table).where(_table.c.pool_id == pool_id).values(failing_since=None))
        return
    first = session.execute(update(_table).where(
        _table.c.pool_id == pool_id, _table.c.failing_since.is_(None)).values(failing_since=now)).rowcount
    if first:
        session.add(Alert(pool_id=pool_id, kind="replenish", created_at=now,
                          details={"source": source, "error": (error or "")[:500]}))
        session.info[alerts.PENDING_FLAG] = True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def _seen(pool_id: int, sha: str) -> bool:
    return db.session.scalar(select(ImportBatch.id).where(
        ImportBatch.pool_id == pool_id, ImportBatch.sha256 == sha).limit(1)) is not None


def _import(pool_id: int, path: Path, source: str, detail: str) -> ReplenishmentRun:
    """Import one file with the core's rules, unless the pool has had this content."""
    if _seen(pool_id, _sha256(path)):
        return _record(pool_id, source, "unchanged", detail)
    try:
        with open(path, "rb") as stream:
            result = imports.import_codes(pool_id, stream, source=f"{source}: {detail}")
    except DomainError as exc:
        return _record(pool_id, source, "failed", detail, error=exc.message)
    return _record(pool_id, source, "imported", detail, batch_id=result.batch_id)


def _refused_address(host: str) -> str | None:
    """Why the server must not fetch from this host, or None. Link-local addresses (a
    cloud's metadata service among them), multicast and unspecified ones are refused;
    private and loopback ones are allowed, since partners' systems are often internal."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return f"the name {host} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
        if (address.is_link_local or address.is_multicast or address.is_unspecified
                or address.is_reserved or address in _SHARED):
            return f"{host} is {address}, an address the portal does not fetch from"
    return None


def _get(url: str, headers: dict, auth: tuple | None, timeout: float) -> requests.Response:
    """GET with redirects followed by hand (five at most), each hop's host checked, and
    credentials dropped when a redirect leaves the original host."""
    origin = urlsplit(url).hostname
    for _ in range(6):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DomainError(f"{without_credentials(url)} is not an http(s) address.", reason="fetch_failed")
        refusal = _refused_address(parts.hostname)
        if refusal:
            raise DomainError(f"Not fetched: {refusal}.", reason="fetch_failed")
        if parts.hostname != origin:
            headers = {k: v for k, v in headers.items() if k != "Authorization"}
            auth = None
        try:
            response = requests.get(url, headers=headers, auth=auth, timeout=timeout, stream=True,
                                    allow_redirects=False)
        except requests.RequestException as exc:
            raise DomainError(f"Could not fetch {without_credentials(url)}: {type(exc).__name__}.",
                              reason="fetch_failed") from exc
        if response.status_code not in (301, 302, 303, 307, 308) or "Location" not in response.headers:
            return response
        response.close()
        url = urljoin(url, response.headers["Location"])
    raise DomainError(f"{without_credentials(url)} redirects too often.", reason="fetch_failed")


def _fetch(rep: Replenishment) -> Fetched:
    """Download the URL to a temporary file, asking whether it changed; path None when
    the server says it did not. Raises DomainError for any failure."""
    headers = {}
    if rep.etag:
        headers["If-None-Match"] = rep.etag
    if rep.last_modified:
        headers["If-Modified-Since"] = rep.last_modified
    token, password = _open(rep.bearer_token_enc), _open(rep.password_enc)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    auth = (rep.username, password or "") if rep.username and not token else None
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    timeout = current_app.config.get("REPLENISH_TIMEOUT", FETCH_TIMEOUT)
    response = _get(rep.url, headers, auth, timeout)
    with response:
        if response.status_code == 304:
            return Fetched(None, rep.etag, rep.last_modified)
        if response.status_code != 200:
            raise DomainError(f"{without_credentials(rep.url)} answered HTTP {response.status_code}.",
                              reason="fetch_failed")
        handle, name = tempfile.mkstemp(prefix="replenish-", suffix=".csv")
        size = 0
        try:
            with os.fdopen(handle, "wb") as out:
                for chunk in response.iter_content(1024 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise DomainError(f"{without_credentials(rep.url)} is larger than {limit:,} bytes.",
                                          reason="fetch_failed")
                    out.write(chunk)
        except requests.RequestException as exc:
            Path(name).unlink(missing_ok=True)
            raise DomainError(f"The download from {without_credentials(rep.url)} broke off: "
                              f"{type(exc).__name__}.", reason="fetch_failed") from exc
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Fetched(Path(name), response.headers.get("ETag"), response.headers.get("Last-Modified"))


def _from_url(rep: Replenishment) -> ReplenishmentRun:
    detail = without_credentials(rep.url) or ""
    try:
        fetched = _fetch(rep)
    except DomainError as exc:
        return _record(rep.pool_id, "url", "failed", detail, error=exc.message)
    if fetched.path is None:
        return _record(rep.pool_id, "url", "unchanged", detail)
    try:
        run = _import(rep.pool_id, fetched.path, "url", detail)
    finally:
        fetched.path.unlink(missing_ok=True)
    if run.outcome != "failed":
        with write_transaction() as session:
            session.execute(update(_table).where(_table.c.pool_id == rep.pool_id).values(
                etag=fetched.etag, last_modified=fetched.last_modified))
    return run


def _ready(path: Path, settle: float, now: float) -> bool:
    """A dropped file is complete when its .done marker exists, or when nothing has
    written to it for `settle` seconds."""
    if Path(str(path) + ".done").exists():
        return True
    try:
        return now - path.stat().st_mtime >= settle
    except FileNotFoundError:
        return False


def _report(path: Path, run: ReplenishmentRun) -> None:
    lines = [f"file: {path.name}", f"outcome: {run.outcome}", f"at: {run.at.isoformat()}"]
    if run.error:
        lines.append(f"error: {run.error}")
    if run.batch_id:
        lines += [f"imported: {run.imported}", f"rejected: {run.rejected}"]
        lines += [f"  {reason}: {n}" for reason, n in sorted(run.rejected_by_reason.items())]
        rejected = imports.rejections(run.batch_id, limit=LISTED_REJECTIONS)
        if rejected:
            lines.append("rejected lines (line, reason, value):")
            lines += [f"  {r.line}\t{r.reason}\t{r.value}" for r in rejected]
    Path(str(path) + ".report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _from_drop_folder(pool_id: int) -> list[ReplenishmentRun]:
    folder = Path(current_app.config["DROP_FOLDER"])
    settle = float(current_app.config.get("DROP_SETTLE_SECONDS", 30))
    runs = []
    clock = datetime.now().timestamp()
    working = folder / "processing"
    # This run holds the pool, so a file of the pool left in processing/ is from a run
    # that crashed: put it back (an import it finished is recognised by its content).
    for stranded in working.glob(f"pool-{pool_id}-*") if working.is_dir() else ():
        os.replace(stranded, folder / stranded.name)
    for path in sorted(folder.glob(f"pool-{pool_id}-*")):
        # Regular files only: a symbolic link could make the server read any file it can.
        if path.is_symlink() or not path.is_file() or path.name.endswith(
                (".done", ".part", ".tmp", ".report.txt")):
            continue
        if not _ready(path, settle, clock):
            continue  # still being written: the next scan looks again
        working.mkdir(exist_ok=True)
        taken = working / path.name
        try:
            os.rename(path, taken)  # atomic: of two workers, one gets the file
        except FileNotFoundError:
            continue
        Path(str(path) + ".done").unlink(missing_ok=True)
        if not stat.S_ISREG(os.lstat(taken).st_mode):  # swapped for a link after the check
            (folder / "failed").mkdir(exist_ok=True)
            os.replace(taken, folder / "failed" / path.name)
            continue
        run = _import(pool_id, taken, "drop_folder", path.name)
        target = folder / ("failed" if run.outcome == "failed" else "processed")
        target.mkdir(exist_ok=True)
        final = target / path.name
        os.replace(taken, final)
        _report(final, run)
        runs.append(run)
    return runs


def _top_up(pool_id: int) -> ReplenishmentRun | None:
    """Generate the pool's top-up once per low-stock crossing, within its cap."""
    rep, pool = get(pool_id), db.session.get(Pool, pool_id, populate_existing=True)
    if rep is None or not rep.top_up_count or pool is None or pool.status != PoolStatus.ACTIVE:
        return None
    crossing = pool.low_stock_alerted_at
    if crossing is None:
        return None
    with write_transaction() as session:
        answered = session.execute(update(_table).where(
            _table.c.pool_id == pool_id,
            or_(_table.c.topped_up_for.is_(None), _table.c.topped_up_for != crossing))
            .values(topped_up_for=crossing)).rowcount
    if not answered:
        return None  # this crossing has had its top-up
    count = rep.top_up_count
    if rep.top_up_cap is not None:
        count = min(count, max(0, rep.top_up_cap - pools.counts(pool_id).total))
    if count == 0:
        return _record(pool_id, "top_up", "skipped", f"cap of {rep.top_up_cap:,} codes reached")
    spec = generation.Spec(**(pool.generation_spec or {}))
    try:
        result = generation.generate_codes(pool_id, count, spec)
    except DomainError as exc:
        return _record(pool_id, "top_up", "failed", spec.describe(), error=exc.message)
    return _record(pool_id, "top_up", "generated", spec.describe(), generated=result.generated)


def run_now(pool_id: int) -> list[ReplenishmentRun]:
    """Every source of the pool, now (the CLI, the API, the Run now button)."""
    if db.session.get(Pool, pool_id) is None:
        raise NotFound(f"There is no pool {pool_id}.", reason="unknown_pool")
    rep = _claim(pool_id, scheduled=False)
    if rep is None:
        if get(pool_id) is None:
            raise InvalidInput("This pool has no replenishment set up.", reason="not_configured")
        raise Conflict("A replenishment of this pool is running now; try again shortly.",
                       reason="replenishment_running")
    return _run(rep, url=bool(rep.url))


def _run(rep: Replenishment, *, url: bool) -> list[ReplenishmentRun]:
    runs: list[ReplenishmentRun] = []
    try:
        if url:
            runs.append(_from_url(rep))
        if rep.drop_folder and current_app.config.get("DROP_FOLDER"):
            runs += _from_drop_folder(rep.pool_id)
        topped = _top_up(rep.pool_id)
        if topped is not None:
            runs.append(topped)
    finally:
        _release(rep.pool_id)
    return runs


def run_due() -> list[ReplenishmentRun]:
    """What the worker does every minute: fetch the URLs that are due, scan the drop
    folder, and answer low-stock crossings with a top-up."""
    now = utcnow()
    runs: list[ReplenishmentRun] = []
    rows = db.session.execute(select(Replenishment, Pool.low_stock_alerted_at)
                              .join(Pool, Pool.id == Replenishment.pool_id)
                              .where(Pool.status == PoolStatus.ACTIVE.value)).all()
    for rep, crossing in rows:
        due = bool(rep.url and rep.next_run_at and rep.next_run_at <= now)
        wants_top_up = bool(rep.top_up_count and crossing and crossing != rep.topped_up_for)
        if not (due or rep.drop_folder or wants_top_up):
            continue
        claimed = _claim(rep.pool_id, scheduled=True) if due else _claim(rep.pool_id, scheduled=False)
        if claimed is not None:
            runs += _run(claimed, url=due)
    return runs


def history(pool_id: int, limit: int = 50) -> list[ReplenishmentRun]:
    """The pool's runs, newest first."""
    return list(db.session.scalars(select(ReplenishmentRun).where(ReplenishmentRun.pool_id == pool_id)
                                   .order_by(ReplenishmentRun.id.desc()).limit(limit)))


def top_up_pools(pool_ids: set[int]) -> None:
    """Right after a low-stock crossing: the top-up, without waiting for the minute."""
    for pool_id in pool_ids:
        rep = get(pool_id)
        if rep is None or not rep.top_up_count:
            continue
        claimed = _claim(pool_id, scheduled=False)
        if claimed is not None:
            try:
                _top_up(pool_id)
            finally:
                _release(pool_id)
