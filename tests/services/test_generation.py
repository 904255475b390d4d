"""Generation: shapes, character sets, uniqueness across the workspace, code space."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Code
from portal.services import generation, imports, pools
from portal.services.errors import CodeSpaceTooSmall, InvalidInput
from portal.services.generation import Spec
from tests.helpers import kept_counts, real_counts, upload


@pytest.fixture
def pool_id(app) -> int:
    return pools.create_pool("Generated").id


def all_codes(pool_id: int) -> list[str]:
    return list(db.session.scalars(select(Code.code).where(Code.pool_id == pool_id)))


def test_default_codes_avoid_look_alikes(pool_id):
    result = generation.generate_codes(pool_id, 2000)
    codes = all_codes(pool_id)
    assert result.generated == len(codes) == len(set(codes)) == 2000
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{10}", c) for c in codes)
    assert len(result.sample) == 10 and set(result.sample) <= set(codes)
    assert kept_counts(pool_id) == real_counts(pool_id)
    assert result.counts.available == 2000


def test_pattern_prefix_postfix(pool_id):
    spec = Spec(pattern="SUMMER-####-####", charset="numeric", prefix="X", postfix="-EU")
    generation.generate_codes(pool_id, 500, spec)
    codes = all_codes(pool_id)
    assert all(re.fullmatch(r"XSUMMER-\d{4}-\d{4}-EU", c) for c in codes)
    stored = db.session.scalar(select(Code.normalized).where(Code.pool_id == pool_id).limit(1))
    assert "-" not in stored


@pytest.mark.parametrize("charset, pattern", [
    ("alphabetic", r"[A-Z]{8}"), ("numeric", r"\d{8}"), ("hex", r"[0-9A-F]{8}"),
    ("xyz9", r"[XYZ9]{8}"),
])
def test_charsets(pool_id, charset, pattern):
    generation.generate_codes(pool_id, 300, Spec(length=8, charset=charset))
    assert all(re.fullmatch(pattern, c) for c in all_codes(pool_id))


def test_characters_are_drawn_evenly():
    codes = generation.candidates(Spec(length=10, charset="numeric"), 20_000)
    counts = Counter("".join(codes))
    # 200,000 digits: each of ten should be near 20,000 (a modulo bias would skew 0-5).
    assert set(counts) == set("0123456789")
    assert all(18_500 < n < 21_500 for n in counts.values()), counts


def test_generated_codes_never_collide_with_codes_anywhere(app):
    # A tiny space (two hex digits after a prefix: 256 codes) mostly taken already.
    other = pools.create_pool("Other").id
    taken = [f"AB{i:02X}" for i in range(0, 100)]
    imports.import_codes(other, upload("\n".join(taken)))
    target = pools.create_pool("Target").id
    generation.generate_codes(target, 70, Spec(pattern="AB##", charset="hex"))
    codes = set(all_codes(target))
    assert len(codes) == 70
    assert not codes & set(taken)
    assert db.session.scalar(select(func.count(Code.id))) == 170


def test_refuses_more_than_half_the_remaining_space_and_says_how_much_is_left(pool_id):
    with pytest.raises(CodeSpaceTooSmall) as info:
        generation.generate_codes(pool_id, 51, Spec(length=2, charset="numeric", prefix="Q"))
    assert info.value.reason == "code_space_too_small"
    assert info.value.details == {"requested": 51, "remaining": 100, "allowed": 50}
    assert "100" in info.value.message and "50" in info.value.message
    generation.generate_codes(pool_id, 50, Spec(length=2, charset="numeric", prefix="Q"))
    with pytest.raises(CodeSpaceTooSmall) as info:
        generation.generate_codes(pool_id, 26, Spec(length=2, charset="numeric", prefix="Q"))
    assert info.value.reason == "code_space_too_small" and info.value.details["remaining"] == 50
    assert kept_counts(pool_id)["available"] == 50


@pytest.mark.parametrize("spec, field, reason", [
    (Spec(length=0), "length", "invalid_request"),
    (Spec(length=65), "length", "invalid_request"),
    (Spec(pattern="NOHASH"), "pattern", "invalid_request"),
    (Spec(pattern="BAD #"), "pattern", "invalid_request"),
    # What a field alone cannot show has its own reason (the API answers it with 422).
    (Spec(charset="a"), "charset", "charset_too_small"),
    (Spec(charset="aA"), "charset", "charset_too_small"),
    (Spec(charset="AB-C"), "charset", "invalid_request"),
    (Spec(prefix="sp ace"), "prefix", "invalid_request"),
    (Spec(prefix="P" * 60, length=10), "length", "invalid_code_length"),
    (Spec(length=2, postfix="-"), "length", "invalid_code_length"),
])
def test_bad_specs_are_refused_naming_the_field(pool_id, spec, field, reason):
    with pytest.raises(InvalidInput) as info:
        generation.generate_codes(pool_id, 5, spec)
    assert (info.value.reason, info.value.details["field"]) == (reason, field)
    assert kept_counts(pool_id)["available"] == 0


@pytest.mark.parametrize("count", [0, -1, generation.MAX_COUNT + 1])
def test_bad_counts_are_refused(pool_id, count):
    with pytest.raises(InvalidInput) as info:
        generation.generate_codes(pool_id, count)
    assert (info.value.reason, info.value.details["field"]) == ("invalid_request", "count")


def test_room_and_preview_store_nothing(pool_id):
    spec = Spec(pattern="GIFT-###", charset="numeric")
    assert generation.room(spec).remaining == 1000
    assert len(generation.preview(spec, 5)) == 5
    generation.generate_codes(pool_id, 100, spec)
    room = generation.room(spec)
    assert (room.space, room.used, room.allowed) == (1000, 100, 450)
