"""An EAN-13 pool holds only EAN-13 codes: generated with their check digit, imported only
when valid, and a pool with other codes is not switched to EAN-13. Check digits are
checked with python-stdnum, which nobody here wrote."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from stdnum import ean

from portal.extensions import db
from portal.models import Code
from portal.services import generation, imports, pools
from portal.services.errors import InvalidInput
from tests.helpers import pool_with_codes, upload

DIGITS_12 = generation.Spec(length=12, charset="numeric")


def test_generated_codes_all_have_valid_check_digits(app):
    pool = pools.create_pool("Shelf", barcode_format="ean13")
    generation.generate_codes(pool.id, 1000, DIGITS_12)
    generation.generate_codes(pool.id, 1000, generation.Spec(length=6, charset="numeric", prefix="590123"))
    codes = db.session.scalars(select(Code.code).where(Code.pool_id == pool.id)).all()
    assert len(codes) == 2000
    assert all(len(code) == 13 and ean.is_valid(code) for code in codes)
    assert sum(code.startswith("590123") for code in codes) >= 1000


@pytest.mark.parametrize("spec", [generation.Spec(), generation.Spec(length=13, charset="numeric"),
                                  generation.Spec(length=8, charset="numeric", prefix="AB-4")])
def test_generation_that_cannot_make_ean13_codes_is_refused(app, spec):
    pool = pools.create_pool("Shelf", barcode_format="ean13")
    with pytest.raises(InvalidInput) as refused:
        generation.generate_codes(pool.id, 10, spec)
    assert refused.value.reason == "not_ean13" and "12 digits" in refused.value.message
    assert pools.counts(pool.id).total == 0


def test_an_import_refuses_lines_that_are_not_ean13(app):
    pool = pools.create_pool("Shelf", barcode_format="ean13")
    result = imports.import_codes(pool.id, upload(
        "code\n"
        "4006381333931\n"     # 2 valid
        "4006381333932\n"     # 3 wrong check digit
        "40063813339AB\n"     # 4 letters
        "400638133393\n"      # 5 twelve digits, without the check digit
        "4006-381-333931\n"   # 6 valid digits, written with hyphens
        "5901234123457\n"     # 7 valid
        "x\n"                 # 8 too short, a reason of its own
    ))
    assert {r.line: r.reason for r in result.rejections} == {
        3: "not_ean13", 4: "not_ean13", 5: "not_ean13", 6: "not_ean13", 8: "too_short"}
    assert result.imported == 2 and result.by_reason == {"not_ean13": 4, "too_short": 1}
    assert any("13 digits" in note and "4 lines" in note for note in result.notes)
    held = db.session.scalars(select(Code.code).where(Code.pool_id == pool.id).order_by(Code.code)).all()
    assert held == ["4006381333931", "5901234123457"]


def test_a_pool_with_other_codes_is_not_switched_to_ean13(app):
    pool_id = pool_with_codes("Spring", n=3)
    with pytest.raises(InvalidInput) as refused:
        pools.update_pool(pool_id, barcode_format="ean13")
    assert refused.value.reason == "not_ean13" and "3 of this pool's codes" in refused.value.message
    assert pools.get_pool(pool_id).barcode_format == "qr"
    valid = pools.create_pool("Valid", barcode_format="code128")
    imports.import_codes(valid.id, upload("4006381333931\n"))
    assert pools.update_pool(valid.id, barcode_format="ean13").barcode_format == "ean13"
