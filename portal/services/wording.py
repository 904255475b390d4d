"""How every surface words an answer about a code: the one map the API, the till, stage
5's check and the customer's voucher page all read (through redemption.Verdict.wording)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Wording:
    """How every surface words one answer: the till's headline, its tone, the sentence a
    cashier or an API client reads, what the customer's own voucher page says, and what
    the till adds to the headline (VALID — press Redeem).

    Tones: `ready` (can be redeemed: not done yet), `done` (redeemed), `undone`, `warn`
    and `bad`. The till gives each its own colour and icon, so ready and done never look
    alike."""

    word: str
    tone: str
    message: str
    customer: str = ""
    prompt: str = ""


# The one map from a refusal's reason to its words: the API's message, the till, the
# marketer's check in stage 5 and the customer's voucher page all read it.
REFUSALS = {
    "unknown_code": Wording("UNKNOWN CODE", "bad", "There is no such code; check it and try again.",
                            "There is no such voucher."),
    "canceled": Wording("CANCELED", "bad", "This code was canceled and can no longer be used.",
                        "This voucher was canceled and can no longer be used."),
    "already_redeemed": Wording("ALREADY REDEEMED", "bad", "This code was already redeemed.",
                                "This voucher was already used."),
    "pool_inactive": Wording("CAMPAIGN PAUSED", "warn", "This campaign is not running at the moment.",
                             "This offer is paused at the moment."),
    "not_yet_valid": Wording("NOT YET VALID", "warn", "This code is not valid yet.",
                             "This voucher is not valid yet."),
    "expired": Wording("EXPIRED", "bad", "This code has expired.", "This voucher has expired."),
    "not_assigned": Wording("NOT ASSIGNED", "warn", "This code was never given to a customer.",
                            "This voucher was never given out."),
}
REASONS = tuple(REFUSALS)
VALID = Wording("VALID", "ready", "Valid: this code can be redeemed.",
                "Ready to use. Show this screen at the till.", prompt="press Redeem")
# What the till says after its own actions.
REDEEMED = Wording("REDEEMED", "done", "Redeemed: the benefit can be given.",
                   "This voucher was used.", prompt="done")
UNDONE = Wording("UNDONE", "undone", "The redemption was undone: the code can be redeemed again.")

# Why a line of a file was left out, as the pages say it: a code file's lines, and a
# customer list's. The reasons stay machine-readable everywhere else (the API, the CSV of
# rejected lines, the history).
LINE_REASONS = {
    "too_short": "too short",
    "too_long": "too long",
    "invalid_characters": "with characters a code may not have",
    "duplicate_in_file": "twice in the file",
    "already_in_pool": "already in this pool",
    "in_other_pool": "already in another pool",
    "invalid_expiry": "with an expiry date that cannot be read",
    "not_ean13": "not an EAN-13 code",
    "invalid_email": "with an email address that is not one",
    "invalid_phone": "with a phone number that is not one",
    "missing_customer_id": "without a customer_id",
    "pool_exhausted": "with no code left to give",
}


def line_reason(reason: str) -> str:
    """A left-out line's reason in words (an unknown one with its underscores as spaces)."""
    return LINE_REASONS.get(reason, reason.replace("_", " "))
