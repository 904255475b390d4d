"""Campaigns built through the real services, for the report's and the dashboard's tests:
codes imported, customers given codes, a send through the test SMTP server, voucher
pages opened, codes redeemed at stores."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from portal import queue
from portal.extensions import db
from portal.models import Code, CodeStatus, Store, utcnow
from portal.services import accounts, assignment, imports, pools, redemption, replenishment
from portal.services.customers import CustomerData
from portal.services.links import VOUCHER, make_token
from tests.helpers import run_queue, upload


@dataclass
class Campaign:
    pool_id: int
    opened_twice: list[int]  # code ids whose voucher page was opened twice on one day
    opened_once: list[int]
    redeemed: dict[str, list[str]]  # store name → codes redeemed there


def store(code: str, name: str) -> int:
    found = db.session.scalar(select(Store).where(Store.code == code))
    return found.id if found else accounts.create_store(code, name).id


def spring_sale(open_page) -> Campaign:  # noqa: ANN001
    """40 codes, 20 customers given one (18 agreed to email: 2 are skipped by the send),
    the email sent, 5 voucher pages opened (3 of them twice), 4 codes redeemed: 3 at Main
    street, 1 at Harbour mall. `open_page(path)` opens a voucher page as a customer."""
    main, harbour = store("S1", "Main street"), store("S2", "Harbour mall")
    pool_id = pools.create_pool("Spring sale", benefit="10% off shoes").id
    imports.import_codes(pool_id, upload("\n".join(f"SPRING-{i:04d}" for i in range(1, 41))))
    crowd = [CustomerData(customer_id=f"C{i}", email=f"c{i}@example.com", first_name=f"Ann {i}",
                          email_consent=i > 2) for i in range(1, 21)]
    assignment.assign_many(pool_id, list(enumerate(crowd, start=2)), now=True)
    queue.start_send(pool_id, "email")
    run_queue()
    held = db.session.scalars(select(Code).where(Code.pool_id == pool_id, Code.status == CodeStatus.ASSIGNED)
                              .order_by(Code.id)).all()
    sent_to = [code for code in held if code.customer.email_consent]
    twice, once = [c.id for c in sent_to[:3]], [c.id for c in sent_to[3:5]]
    for code_id in twice + once + twice:
        assert open_page(f"/v/{make_token(VOUCHER, code_id)}") == 200
    redeemed = {"Main street": [c.code for c in sent_to[:3]], "Harbour mall": [sent_to[5].code]}
    for name, codes in redeemed.items():
        for code in codes:
            redemption.redeem(code, store_id=main if name == "Main street" else harbour)
    return Campaign(pool_id, twice, once, redeemed)


def needing_attention(smtp) -> dict[str, int]:  # noqa: ANN001
    """A pool for each thing the dashboard warns about; returns their ids by concern."""
    low = pools.create_pool("Low on codes", low_stock_threshold=10).id
    imports.import_codes(low, upload("LOW-0001\nLOW-0002\n"))
    dry = pools.create_pool("Ran dry").id  # no threshold, but every code is given out
    imports.import_codes(dry, upload("DRY-0001\n"))
    assignment.assign_code(dry, CustomerData("D1"))
    ending = pools.create_pool("Ending soon", valid_until=utcnow() + timedelta(days=3)).id
    imports.import_codes(ending, upload("END-0001\nEND-0002\n"))
    assignment.assign_code(ending, CustomerData("E1"))
    failing = pools.create_pool("Mail refused").id
    imports.import_codes(failing, upload("FAIL-0001\nFAIL-0002\n"))
    assignment.assign_code(failing, CustomerData("F1", email="f1@example.com", email_consent=True))
    smtp.handler.refuse = "550 5.1.1 no such mailbox"
    queue.start_send(failing, "email")
    run_queue()
    smtp.handler.refuse = None
    refill = pools.create_pool("Refill broken").id
    imports.import_codes(refill, upload("REF-0001\n"))
    # An address the server may not fetch from: the run fails, as a partner's outage would.
    replenishment.configure(refill, url="http://localhost:9/codes.csv")
    replenishment.run_now(refill)
    quiet = pools.create_pool("All fine").id
    imports.import_codes(quiet, upload("OK-0001\nOK-0002\n"))
    return {"low": low, "dry": dry, "ending": ending, "failing": failing, "refill": refill, "quiet": quiet}
