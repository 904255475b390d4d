"""Giving codes to customers (stage 3 of a campaign): one at a time through the API
(`giving`), a whole list in a few statements (`lists`), read from a file (`reading`)."""

from .giving import (  # noqa: F401
    HELD,
    Assignment,
    assign_code,
    assign_to,
    consent_source,
    givable,
    give_each,
    holdings,
    usable_pool,
)
from .lists import BulkResult, Failure, Withdrawn, assign_file, assign_many  # noqa: F401
from .reading import CUSTOMER_COLUMNS, read_customer_file  # noqa: F401
