"""Checking, redeeming (one code or a basket of them) and rolling back, for tills and
checkouts (the `pos` scope)."""

from __future__ import annotations

from flask import current_app, g, request

from .. import guessing
from ..extensions import limiter
from ..services import accounts, redemption, redemption_batch
from ..services.errors import DomainError
from . import answers
from . import redemption_schemas as shapes
from .auth import key_identity
from .errors import ApiError
from .spec import operation, refused


def _limit(name: str):
    return lambda: current_app.config[name]


def _batch_size() -> int:
    """What a batch costs of the redemption limit: one per item, as many requests would."""
    body = request.get_json(silent=True)
    items = body.get("items") if isinstance(body, dict) else None
    return min(len(items), redemption_batch.MAX_ITEMS) if isinstance(items, list) and items else 1


def _guarded(cost=1) -> tuple:  # noqa: ANN001
    """The operations where codes get guessed share one budget of answers per key and per
    address (validate, redeem and each item of a batch); unknown-code answers also count
    against the much tighter allowance in portal.guessing, which the till and stage 5 share."""
    return (
        limiter.shared_limit(_limit("RATE_LIMIT_REDEMPTION"), scope="redemption-key",
                             key_func=key_identity, cost=cost),
        limiter.shared_limit(_limit("RATE_LIMIT_REDEMPTION"), scope="redemption-address", cost=cost),
    )


def _idempotency_key() -> str | None:
    """The Idempotency-Key header, scoped to the calling API key."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (0 < len(key) <= 150):
        raise ApiError(400, "invalid_request", "Idempotency-Key must be 1–150 characters.",
                       fields=[{"field": "Idempotency-Key", "message": "1–150 characters"}])
    return f"{g.api_key.id}:{key}" if key else None


@operation("POST", "/redemptions/validate", summary="Check whether a code can be redeemed now",
           scope="pos", body=shapes.Validate, responses={200: shapes.Validation},
           decorators=_guarded())
def validate(body: shapes.Validate):
    """Whether the code can be redeemed now, and if not exactly why (the till's reasons)."""
    with guessing.lookup(guessing.api_key(key_identity())) as answer:
        verdict = redemption.validate(body.code)
        answer.reason = verdict.reason
    return shapes.Validation(valid=verdict.valid, reason=verdict.reason,
                             voucher=answers.voucher(verdict.code) if verdict.code else None), 200


# The refusals of a known code (redemption.REASONS) that are neither 404 nor 409.
NOT_NOW = tuple(reason for reason in redemption.REASONS if reason not in ("unknown_code", "already_redeemed"))
KEY_REUSED = (redemption_batch.KEY_REUSED, redemption_batch.KEY_ROLLED_BACK)
IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Repeat a redemption safely: the same key returns the first result.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 150},
}


@operation("POST", "/redemptions", summary="Redeem a code, exactly once", scope="pos",
           body=shapes.Redeem, responses={201: shapes.Redemption},
           parameters=[IDEMPOTENCY_HEADER], decorators=_guarded(),
           errors={404: refused("No such code.", "unknown_code"),
                   409: refused("Already redeemed (with `redeemed_at` and `store`), or the "
                                "Idempotency-Key was used for another code or rolled back.",
                                "already_redeemed", *KEY_REUSED),
                   422: refused("Cannot be redeemed now, or no such store.", *NOT_NOW,
                                redemption_batch.UNKNOWN_STORE)})
def redeem(body: shapes.Redeem):
    """Redeem the code once; the same Idempotency-Key again returns the first result."""
    key = _idempotency_key()
    store_id = None
    if body.store:
        try:
            store_id = accounts.find_store(body.store).id
        except DomainError as exc:
            raise ApiError(422, redemption_batch.UNKNOWN_STORE, exc.message) from exc
    with guessing.lookup(guessing.api_key(key_identity())):
        done = redemption.redeem(body.code, store_id=store_id, actor=g.actor, order_ref=body.order_ref,
                                 idempotency_key=key)
    return answers.redemption(done), 201


def _item(outcome: redemption_batch.Outcome, index: int, code: str) -> shapes.BatchItemResult:
    done = outcome.redemption
    return shapes.BatchItemResult(
        index=index, code=code, status=outcome.status, error=outcome.reason, message=outcome.message,
        redemption=answers.redemption(done) if done else None, **outcome.details)


@operation("POST", "/redemptions/batch", summary="Redeem up to 100 codes in one call", scope="pos",
           body=shapes.BatchRedeem, responses={200: shapes.BatchResult},
           parameters=[{**IDEMPOTENCY_HEADER, "description": (
               "Repeat a batch safely: the same key with the same body returns the first answer.")}],
           decorators=_guarded(cost=_batch_size),
           errors={409: refused("The Idempotency-Key was used for another batch, or a redemption "
                                "it made was rolled back since.", *KEY_REUSED)})
def redeem_batch(body: shapes.BatchRedeem):
    """One result per item, in order, each with a single redemption's reasons; the batch
    counts one per item against the redemption rate limit."""
    caller = guessing.api_key(key_identity())
    result = redemption_batch.redeem_batch(
        [redemption_batch.Item(item.code, item.store, item.order_ref) for item in body.items],
        all_or_nothing=body.all_or_nothing, actor=g.actor, idempotency_key=_idempotency_key(),
        guard=lambda: guessing.lookup_in_batch(caller))
    return shapes.BatchResult(
        all_or_nothing=result.all_or_nothing,
        redeemed=result.count(redemption_batch.STATUS_REDEEMED),
        refused=result.count(redemption_batch.STATUS_REFUSED),
        results=[_item(outcome, index, item.code)
                 for index, (outcome, item) in enumerate(zip(result.outcomes, body.items, strict=True))],
    ), 200


@operation("POST", "/redemptions/<bigid:redemption_id>/rollback", summary="Undo a redemption",
           scope="pos", body=shapes.Rollback, responses={200: shapes.RolledBack},
           errors={404: refused("No such redemption.", "unknown_redemption"),
                   409: refused("Already rolled back.", "already_rolled_back")})
def rollback(redemption_id: int, body: shapes.Rollback):
    """Undo a redemption, saying why: the code can be redeemed again."""
    done = redemption.rollback(redemption_id, body.reason, actor=g.actor)
    base = answers.redemption(done).model_dump()
    return shapes.RolledBack(**base, rolled_back_at=done.rolled_back_at,
                             rollback_reason=done.rollback_reason,
                             code_status=done.code.status), 200
