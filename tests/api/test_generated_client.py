"""The API the way integrators use it: a client generated with openapi-python-client from
the document the server serves, without a warning, drives a whole campaign; every answer
comes back as the documented model, errors included."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from portal.services import accounts

# The generator reads no text/csv or text/plain body on its own; it is told to send the
# raw file as bytes with its own content_type_overrides setting.
CONFIG = """\
content_type_overrides:
  text/csv: application/octet-stream
  text/plain: application/octet-stream
"""
PACKAGE = "portal_client"


def fixed_templates(into: Path) -> Path:
    """The generator's endpoint template with its known bug fixed (upstream issue 1451, an
    operation with several body types is written with `| Unset` it never imports), so
    that the import of codes, which takes three, loads. Fails loudly if the template
    changes."""
    import openapi_python_client

    name = "endpoint_macros.py.jinja"
    template = (Path(openapi_python_client.__file__).parent / "templates" / name).read_text()
    for old, new in (
        ("{% elif endpoint.bodies | length > 1 %}\nbody:",
         "{% elif endpoint.bodies | length > 1 %}\n{% set ns = namespace(required=true) %}\nbody:"),
        ("{% set body_required = body_required and body.prop.required %}",
         "{% set ns.required = ns.required and body.prop.required %}"),
        ("{% if not body_required %} | Unset", "{% if not ns.required %} | Unset"),
    ):
        assert template.count(old) == 1, old
        template = template.replace(old, new)
    into.mkdir()
    (into / name).write_text(template)
    return into


@pytest.fixture
def generated(served, tmp_path):
    """The generated package, imported; removed from sys.modules afterwards."""
    (tmp_path / "config.yml").write_text(CONFIG)
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--url", f"{served}/api/v1/openapi.json",
         "--meta", "none", "--output-path", PACKAGE, "--config", "config.yml", "--fail-on-warning",
         "--custom-template-path", str(fixed_templates(tmp_path / "templates"))],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        # ruff (a test dependency) formats the generated code.
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "warning" not in said.lower() and "error" not in said.lower(), said
    sys.path.insert(0, str(tmp_path))
    try:
        yield __import__(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_a_generated_client_runs_a_whole_campaign(generated, served, keys):
    from portal_client.api.default import (
        assign,
        create_pool,
        customer_vouchers,
        customer_vouchers_by_query,
        generate_codes,
        get_customer_by_query,
        get_pool,
        import_codes,
        list_pools,
        patch_pool,
        redeem,
        redeem_batch,
        rollback,
        set_consent_by_query,
        validate,
    )
    from portal_client.models import (
        BatchReason,
        BatchRedeem,
        ConsentIn,
        ConsentInChannel,
        CustomerIn,
        CustomerVouchers,
        Generate,
        PoolCreate,
        PoolPatch,
        PoolPatchStatus,
        Redeem,
        RedeemResponse409,
        RedeemResponse409Error,
        Rollback,
        Validate,
    )
    from portal_client.models.error_code import ErrorCode
    from portal_client.types import File

    accounts.create_store("S1", "Main street")
    client = generated.AuthenticatedClient(base_url=served, token=keys["integration"],
                                           raise_on_unexpected_status=True)

    pool = create_pool.sync(client=client, body=PoolCreate(name="Spring", benefit="10% off"))
    assert (pool.name, pool.status.value, pool.counts.total) == ("Spring", "active", 0)
    imported = import_codes.sync(pool.id, client=client, body=File(
        payload=io.BytesIO(b"code\nFILE-0001\nFILE-0002\nnot a code!\n"), mime_type="text/plain"))
    assert (imported.imported, imported.rejected) == (2, 1)
    made = generate_codes.sync(pool.id, client=client, body=Generate(count=20, pattern="GEN-####"))
    assert made.generated == 20 and made.counts.available == 22
    assert [p.id for p in list_pools.sync(client=client).pools] == [pool.id]

    # Customers whose ids a path cannot carry, read back through the query form.
    hard = ["A/B", "..", "50% off", "Zażółć"]
    given = {customer_id: assign.sync(pool.id, client=client, body=CustomerIn(customer_id=customer_id)).code
             for customer_id in hard}
    for customer_id, code in given.items():
        held = customer_vouchers_by_query.sync(client=client, customer_id=customer_id)
        assert isinstance(held, CustomerVouchers), customer_id
        assert [v.code for v in held.vouchers] == [code]
    assert customer_vouchers.sync("50% off", client=client).vouchers[0].code == given["50% off"]
    changed = set_consent_by_query.sync(client=client, customer_id="A/B",
                                        body=ConsentIn(channel=ConsentInChannel.EMAIL, consent=True))
    assert changed.consent_history[0].source.value == "api"
    assert get_customer_by_query.sync(client=client, customer_id="..").customer_id == ".."

    checked = validate.sync(client=client, body=Validate(code=given["A/B"]))
    assert checked.valid and checked.reason is None and checked.voucher.customer_id == "A/B"
    done = redeem.sync(client=client, body=Redeem(code=given["A/B"], store="S1", order_ref="O-1"),
                       idempotency_key="till-1")
    assert (done.code, done.store, done.customer_id) == (given["A/B"], "S1", "A/B")
    again = redeem.sync(client=client, body=Redeem(code=given["A/B"]))
    assert isinstance(again, RedeemResponse409)
    assert again.error == RedeemResponse409Error.ALREADY_REDEEMED
    assert (again.store, again.redeemed_at) == ("S1", done.redeemed_at)

    batch = redeem_batch.sync(client=client, idempotency_key="basket-1", body=BatchRedeem(items=[
        Redeem(code=given[".."]), Redeem(code="NOPE-NOPE"), Redeem(code=given["A/B"])]))
    assert (batch.redeemed, batch.refused) == (1, 2)
    assert [r.error for r in batch.results] == [None, BatchReason.UNKNOWN_CODE, BatchReason.ALREADY_REDEEMED]
    assert batch.results[0].redemption.customer_id == ".."

    back = rollback.sync(done.id, client=client, body=Rollback(reason="returned"))
    assert back.code_status.value == "assigned" and back.rollback_reason == "returned"
    paused = patch_pool.sync(pool.id, client=client, body=PoolPatch(status=PoolPatchStatus.PAUSED))
    assert paused.status.value == "paused"
    assert get_pool.sync(pool.id, client=client).counts.redeemed == 1

    stranger = generated.AuthenticatedClient(base_url=served, token="not-a-key")
    refused = list_pools.sync_detailed(client=stranger)
    assert refused.status_code == 401 and refused.parsed.error.value == ErrorCode.UNAUTHORIZED.value
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
