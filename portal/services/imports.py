"""Filling a pool from a partner's file (stage 2 of a campaign)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import BatchState, ImportBatch, ImportRejection
from . import formats, jobs, loading, pools
from .actor import SYSTEM, Actor
from .codes import MAX_LENGTH, check
from .errors import NotFound
from .filereader import TableFile, header_key, open_table
from .staging import Row
from .times import parse_moment

LISTED_REJECTIONS = 1000

CODE_HEADERS = {
    header_key(name)
    for name in (
        "code", "codes", "coupon", "coupon code", "coupon_code", "couponcode", "voucher",
        "voucher code", "vouchercode", "voucher number", "promo", "promo code", "promocode",
        "promotion code", "discount code", "gift code", "redemption code", "unique code",
        "code value", "serial", "pin",
    )
}
EXPIRY_HEADERS = {
    header_key(name)
    for name in (
        "expires_at", "expires at", "expires", "expires on", "expiry", "expiry date",
        "expiration", "expiration date", "exp date", "valid until", "valid to", "end date",
    )
}


@dataclass(frozen=True)
class Rejection:
    line: int
    value: str
    reason: str


@dataclass
class ImportResult:
    batch_id: int
    lines: int
    imported: int
    rejected: int
    by_reason: dict[str, int]
    rejections: list[Rejection]
    counts: pools.Counts
    # When this very file went into this pool before: the earlier import's time.
    previously_imported_at: datetime | None = None
    notes: list[str] = field(default_factory=list)


def _candidates(table: TableFile, barcode_format: str) -> Iterator[Row]:
    """Staging rows for every non-blank line: valid ones with their normalized code.
    A code the pool's barcode format cannot draw is refused (formats.code_refusal)."""
    misfit = formats.code_refusal(barcode_format)
    code_col = table.columns["code"]
    expiry_col = table.columns.get("expires_at")
    expiries: dict[str, datetime | str] = {}
    for line, cells in table.rows():
        code = cells[code_col].strip() if code_col < len(cells) else ""
        normalized, reason = check(code)
        if reason is None and misfit is not None:
            reason = misfit(code)
        if reason:
            yield line, code[: MAX_LENGTH * 4], None, None, reason
            continue
        expires_at = None
        if expiry_col is not None and expiry_col < len(cells) and cells[expiry_col].strip():
            raw = cells[expiry_col]
            expires_at = expiries.get(raw)
            if expires_at is None:
                try:
                    expires_at = parse_moment(raw, end_of_day=True)
                except ValueError:
                    expires_at = "invalid_expiry"
                if len(expiries) > 10_000:  # partner files repeat a few dates; stay bounded
                    expiries.clear()
                expiries[raw] = expires_at
            if expires_at == "invalid_expiry":
                yield line, code, None, None, "invalid_expiry"
                continue
        yield line, code, normalized, expires_at, None


def _stage(load: loading.Load, table: TableFile, barcode_format: str) -> int:
    """Stage every non-blank line of the file; returns how many. While the file is plain
    (one column, no expiry, no barcode format to check against), whole blocks of it are
    checked in SQL; any other line is checked here (_candidates)."""
    lines = 0
    if "expires_at" not in table.columns and formats.code_refusal(barcode_format) is None:
        for first_line, block in table.plain_blocks():
            lines += load.stage_block(first_line, block)
    return lines + load.stage(_candidates(table, barcode_format))


def import_codes(
    pool_id: int, stream: BinaryIO, *, source: str = "", actor: Actor = SYSTEM,
    job: jobs.Claim | None = None, wait: float = loading.WAIT_IN_REQUEST,
) -> ImportResult:
    """Import a CSV or text file of codes into the pool, all of it or none of it.

    Valid new codes go in as available; every other line is counted by reason, and
    the first lines of each reason are kept with their number and value. A malformed
    file raises MalformedFile and changes nothing. The codes are written in short steps
    and count only once the whole file is in (services/loading.py). A background job's
    claim marks that job done in the same final transaction.
    """
    barcode_format = pools.load_pool_for_codes(db.session, pool_id).barcode_format
    table = open_table(stream, {"code": CODE_HEADERS, "expires_at": EXPIRY_HEADERS}, "code")
    with loading.Load(pool_id, "import", source, actor, job=job, wait=wait) as load:
        lines = _stage(load, table, barcode_format)
        imported = load.write_staged()
        by_reason = load.rejection_counts()
        load.save_rejections()
        notes: list[str] = []
        found: dict = {}

        def finish(session: Session, batch: ImportBatch) -> None:
            found["previous"] = session.scalar(
                select(ImportBatch.created_at)
                .where(ImportBatch.pool_id == pool_id, ImportBatch.sha256 == table.sha256,
                       ImportBatch.id != batch.id, ImportBatch.state == BatchState.LIVE.value)
                .order_by(ImportBatch.id)
                .limit(1)
            )
            batch.sha256 = table.sha256
            batch.lines = lines
            batch.imported = imported
            batch.rejected = sum(by_reason.values())
            batch.rejected_by_reason = by_reason
            notes.extend(_notes(table, found["previous"], imported, lines, by_reason))
            jobs.finish_in(session, job, {"batch_id": batch.id, "notes": notes})
            # Counters last: on PostgreSQL their row locks are held only until commit.
            pools.adjust_counts(session, pool_id, available=imported)

        load.go_live(finish)
    return ImportResult(
        batch_id=load.batch_id,
        lines=lines,
        imported=imported,
        rejected=sum(by_reason.values()),
        by_reason=by_reason,
        rejections=rejections(load.batch_id, limit=LISTED_REJECTIONS),
        counts=pools.counts(pool_id),
        previously_imported_at=found["previous"],
        notes=notes,
    )


def _notes(table: TableFile, previous: datetime | None, imported: int, lines: int,
           by_reason: dict[str, int]) -> list[str]:
    notes = []
    if not table.has_header and table.columns_seen > 1:
        notes.append(f"The file has {table.columns_seen} columns and no header, so only the first "
                     "was read, as the code. To import expiry dates too, add a header line such "
                     "as “code,expires_at”.")
    if previous is not None:
        notes.append(
            f"This file was already imported into this pool on {previous:%Y-%m-%d %H:%M} UTC; "
            "codes already in the pool were not added again."
        )
    elif imported == 0 and lines and set(by_reason) == {"already_in_pool"}:
        notes.append("Every code in this file is already in this pool.")
    if by_reason.get(formats.NOT_EAN13):
        notes.append(f"{formats.EAN13_RULE} {by_reason[formats.NOT_EAN13]:,} lines were not, and were "
                     "left out.")
    if any(count > loading.KEPT_REJECTIONS for count in by_reason.values()):
        notes.append(f"Every rejected line is counted, but only the first "
                     f"{loading.KEPT_REJECTIONS:,} lines of each reason are kept for the report.")
    return notes


def result_of(batch_id: int, notes: list[str] | None = None) -> ImportResult:
    """An earlier import's summary, as import_codes returned it (a background import)."""
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"There is no import {batch_id}.", reason="unknown_import")
    return ImportResult(batch_id=batch.id, lines=batch.lines, imported=batch.imported,
                        rejected=batch.rejected, by_reason=dict(batch.rejected_by_reason),
                        rejections=rejections(batch.id, limit=LISTED_REJECTIONS),
                        counts=pools.counts(batch.pool_id), notes=list(notes or []))


def rejections(batch_id: int, *, limit: int | None = None, offset: int = 0) -> list[Rejection]:
    """The batch's rejected lines in file order (all of them when limit is None)."""
    query = (
        select(ImportRejection.line, ImportRejection.value, ImportRejection.reason)
        .where(ImportRejection.batch_id == batch_id)
        .order_by(ImportRejection.line)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [Rejection(*row) for row in db.session.execute(query)]


def batch_pool(batch_id: int) -> int | None:
    """The pool an import went into, or None for no such import."""
    return db.session.scalar(select(ImportBatch.pool_id).where(ImportBatch.id == batch_id))
