"""Filling a pool with generated codes, unique across the workspace."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Code, ImportBatch, PoolCounter
from . import formats, loading, pools
from .actor import SYSTEM, Actor
from .codes import CHARACTERS, MAX_LENGTH, MIN_LENGTH, normalize
from .errors import CodeSpaceTooSmall, InvalidInput

CHARSETS = {
    # Without the look-alikes 0 O 1 I L, so codes read aloud or typed are not misread.
    "alphanumeric": "23456789ABCDEFGHJKMNPQRSTUVWXYZ",
    "alphabetic": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "numeric": "0123456789",
    "hex": "0123456789ABCDEF",
}
RANDOM = "#"
CHUNK = 1_000_000
# How many codes one call generates: the CLI up to MAX_COUNT, a web or API request up to
# REQUEST_MAX_COUNT (a server may lower the API's further with API_GENERATE_MAX).
MAX_COUNT = 10_000_000
REQUEST_MAX_COUNT = 1_000_000
# Random characters when no pattern is given; a prefix or postfix may bring the code to
# codes.MIN_LENGTH, and the whole code (pattern, prefix, postfix) is at most MAX_LENGTH.
LENGTH_MIN, LENGTH_MAX = 1, MAX_LENGTH
DEFAULT_LENGTH = 10
_LITERAL = re.compile(f"[{CHARACTERS}]*")
_CUSTOM = re.compile(r"[A-Z0-9_.]+")
# What the API's document says of each field alone (the rules above, as JSON Schema
# patterns); what it cannot say (two distinct characters, the whole code's length) the
# API refuses with 422 and the reason given below.
LITERAL_PATTERN = f"^[{CHARACTERS}]*$"
PATTERN_PATTERN = f"^[{CHARACTERS}{RANDOM}]*{RANDOM}[{CHARACTERS}{RANDOM}]*$"
CHARSET_PATTERN = r"^[A-Za-z0-9_.]+$"  # a name above, or characters _CUSTOM takes in any case


@dataclass(frozen=True)
class Spec:
    """What to generate: `pattern` (with # for a random character) wins over `length`."""

    length: int = DEFAULT_LENGTH
    charset: str = "alphanumeric"
    pattern: str | None = None
    prefix: str = ""
    postfix: str = ""
    # The pool's barcode format, when it asks something of the codes (EAN-13: a check
    # digit after the template's 12 digits); generate_codes sets it from the pool.
    barcode_format: str = ""

    @property
    def alphabet(self) -> str:
        if self.charset in CHARSETS:
            return CHARSETS[self.charset]
        custom = "".join(dict.fromkeys(self.charset.upper()))
        if len(custom) < 2 or not _CUSTOM.fullmatch(custom):
            raise InvalidInput(
                "A custom character set needs at least two of A–Z, 0–9, “_” and “.”; "
                f"or name one of: {', '.join(CHARSETS)}.",
                field="charset",
                # Allowed characters, but fewer than two different ones: its own reason.
                reason="charset_too_small" if _CUSTOM.fullmatch(custom) else InvalidInput.reason,
            )
        return custom

    @property
    def template(self) -> str:
        """The whole code with # for each random character."""
        if self.pattern:
            if len(self.pattern) > MAX_LENGTH:
                raise InvalidInput(f"A pattern is at most {MAX_LENGTH} characters.", field="pattern")
            body = self.pattern
        else:
            if not isinstance(self.length, int) or not LENGTH_MIN <= self.length <= LENGTH_MAX:
                raise InvalidInput(f"Length must be a whole number from {LENGTH_MIN} to {LENGTH_MAX}.",
                                   field="length")
            body = RANDOM * self.length
        for name, part in (("prefix", self.prefix), ("postfix", self.postfix)):
            if len(part) > MAX_LENGTH:
                raise InvalidInput(f"The {name} is at most {MAX_LENGTH} characters.", field=name)
            if not _LITERAL.fullmatch(part):
                raise InvalidInput(f"The {name} may only use A–Z, a–z, 0–9, “-”, “_” and “.”.",
                                   field=name)
        if not _LITERAL.fullmatch(body.replace(RANDOM, "")):
            raise InvalidInput(
                "A pattern may only use # (a random character), A–Z, a–z, 0–9, “-”, “_” and “.”.",
                field="pattern",
            )
        if RANDOM not in body:
            raise InvalidInput("A pattern needs at least one # for a random character.",
                               field="pattern")
        whole = self.prefix + body + self.postfix
        if len(whole) > MAX_LENGTH or len(normalize(whole)) < MIN_LENGTH:
            raise InvalidInput(
                f"Generated codes must be {MIN_LENGTH}–{MAX_LENGTH} characters; "
                f"these would be {len(whole)}.",
                field="pattern" if self.pattern else "length", reason="invalid_code_length",
            )
        problem = formats.generation_problem(self.barcode_format, whole, self.alphabet, RANDOM)
        if problem:
            raise InvalidInput(problem, field="charset", reason=formats.NOT_EAN13)
        return whole

    @property
    def check_digit(self) -> bool:
        return formats.adds_check_digit(self.barcode_format)

    @property
    def random_positions(self) -> int:
        return self.template.count(RANDOM)

    @property
    def space(self) -> int:
        """How many different codes this spec can make."""
        return len(self.alphabet) ** self.random_positions

    def describe(self) -> str:
        return f"{self.template}{' and a check digit' if self.check_digit else ''} from {self.charset}"

    def for_pool(self, barcode_format: str) -> Spec:
        """This spec for a pool of the given barcode format."""
        return replace(self, barcode_format=barcode_format)


@dataclass(frozen=True)
class Room:
    space: int
    used: int

    @property
    def remaining(self) -> int:
        return max(self.space - self.used, 0)

    @property
    def allowed(self) -> int:
        """The most codes one request may take: half of what is left."""
        return self.remaining // 2


@dataclass
class GenerationResult:
    batch_id: int
    generated: int
    sample: list[str]
    counts: pools.Counts


def random_strings(alphabet: str, count: int, size: int) -> list[str]:
    """`count` strings of `size` characters drawn uniformly from `alphabet` by the OS CSPRNG.

    Random bytes are mapped to characters with bytes.translate, dropping the bytes
    above the largest multiple of the alphabet's size so every character is equally
    likely: the same source as `secrets`, without a Python call per character.
    """
    width = len(alphabet)
    limit = 256 - 256 % width
    table = bytes(ord(alphabet[i % width]) for i in range(256))
    drop = bytes(range(limit, 256))
    need = count * size
    pool = bytearray()
    while len(pool) < need:
        missing = need - len(pool)
        pool += os.urandom(missing * 256 // limit + 64).translate(table, drop)
    chars = pool[:need].decode("ascii")
    return [chars[i : i + size] for i in range(0, need, size)]


def candidates(spec: Spec, count: int) -> list[str]:
    """`count` codes made from the spec (not yet checked against the database)."""
    template = spec.template
    fmt = template.replace("{", "{{").replace("}", "}}").replace(RANDOM, "{}")
    randoms = random_strings(spec.alphabet, count, template.count(RANDOM))
    made = [fmt.format(*r) for r in randoms]
    if spec.check_digit:
        return [code + formats.check_digit(code) for code in made]
    return made


def room(spec: Spec) -> Room:
    """The spec's code space and how much of it codes already in the workspace use."""
    shape = normalize(spec.template).replace("\\", "\\\\").replace("%", "\\%")
    shape = shape.replace("_", "\\_").replace(RANDOM, "_") + ("_" if spec.check_digit else "")
    used = db.session.scalar(
        select(func.count()).select_from(Code).where(Code.normalized.like(shape, escape="\\"))
    )
    return Room(space=spec.space, used=int(used or 0))


def stored_codes() -> int:
    """Every live code in the workspace, from the pools' counters (no scan of codes)."""
    return int(db.session.scalar(select(func.coalesce(func.sum(
        PoolCounter.available + PoolCounter.assigned + PoolCounter.redeemed
        + PoolCounter.canceled), 0))))


def preview(spec: Spec, count: int = 10) -> list[str]:
    """Sample codes for the marketer to look at; nothing is stored."""
    return candidates(spec, count)


def generate_codes(
    pool_id: int, count: int, spec: Spec = Spec(), *, actor: Actor = SYSTEM,
    wait: float = loading.WAIT_IN_REQUEST,
) -> GenerationResult:
    """Generate `count` new codes into the pool, all of them or none.

    Refuses with CodeSpaceTooSmall when the request would take more than half of
    the code space that is left, so later codes stay hard to guess and quick to find.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise InvalidInput("Count must be a positive whole number.", field="count")
    if count > MAX_COUNT:
        raise InvalidInput(f"At most {MAX_COUNT:,} codes at a time.", field="count")
    spec = spec.for_pool(pools.get_pool(pool_id).barcode_format)
    template = spec.template  # validates the spec before anything is written
    with loading.Load(pool_id, "generate", spec.describe(), actor, wait=wait) as load:
        # However many of the workspace's codes have this shape, at most all of them do:
        # when even that leaves room, the codes of this shape need not be counted.
        space = Room(space=spec.space, used=stored_codes())
        if count > space.allowed:
            space = room(spec)
        if count > space.allowed:
            raise CodeSpaceTooSmall(
                f"{count:,} codes would use more than half of the room left for "
                f"“{template}”: {space.remaining:,} codes are left, so at most "
                f"{space.allowed:,} can be generated. Use a longer pattern or a larger "
                "character set.",
                requested=count, remaining=space.remaining, allowed=space.allowed,
            )
        generated = 0
        rounds = 0
        while generated < count:
            rounds += 1
            if rounds > 50:
                raise CodeSpaceTooSmall("Could not find enough unused codes; "
                                        "use a longer pattern.", requested=count)
            # Codes already in the workspace (or drawn twice) are left out by the unique
            # index; the next round draws as many again.
            made = candidates(spec, min(count - generated, CHUNK))
            load.stage_block(1, "\n".join(made))
            del made
            generated += load.write_staged(find_conflicts=False)
            load.reset()

        def finish(session: Session, batch: ImportBatch) -> None:
            batch.imported = generated
            pools.load_pool(session, pool_id).generation_spec = asdict(spec)  # what a top-up reuses
            pools.adjust_counts(session, pool_id, available=generated)

        load.go_live(finish)
    batch_id = load.batch_id
    # The batch's codes are those above its floor: found by the primary key.
    sample = list(
        db.session.scalars(
            select(Code.code).where(Code.id > load.floor, Code.batch_id == batch_id)
            .order_by(Code.id).limit(10)
        )
    )
    return GenerationResult(batch_id, generated, sample, pools.counts(pool_id))
