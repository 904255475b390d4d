"""Reading a customer list: a CSV or spreadsheet with a customer_id column."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from ..customers import CustomerData, parse_consent
from ..errors import DomainError, InvalidInput
from ..filereader import header_key, open_table

CUSTOMER_COLUMNS = {
    "customer_id": {"customer id", "customer", "customer number", "external id", "id"},
    "email": {"email", "e mail", "email address"},
    "phone": {"phone", "mobile", "phone number", "msisdn"},
    "first_name": {"first name", "firstname", "given name"},
    "last_name": {"last name", "lastname", "surname", "family name"},
    "email_consent": {"email consent", "email opt in", "email optin"},
    "sms_consent": {"sms consent", "sms opt in", "sms optin"},
}
CUSTOMER_COLUMNS = {name: {header_key(s) for s in spellings}
                    for name, spellings in CUSTOMER_COLUMNS.items()}

def read_customer_file(stream: BinaryIO) -> Iterable[tuple[int, CustomerData | DomainError]]:
    """(line, customer) for each row of a customer CSV, or the line's error."""
    table = open_table(stream, CUSTOMER_COLUMNS, "customer_id")
    cols = table.columns

    def cell(cells: list[str], name: str) -> str | None:
        index = cols.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    for line, cells in table.rows():
        customer_id = (cell(cells, "customer_id") or "").strip()
        try:
            yield line, CustomerData(
                customer_id=customer_id,
                email=cell(cells, "email"),
                phone=cell(cells, "phone"),
                first_name=cell(cells, "first_name"),
                last_name=cell(cells, "last_name"),
                email_consent=parse_consent(cell(cells, "email_consent"), "email_consent"),
                sms_consent=parse_consent(cell(cells, "sms_consent"), "sms_consent"),
            )
        except InvalidInput as exc:
            exc.details["customer_id"] = customer_id
            yield line, exc
