"""Typed SQLAlchemy models: the tables and the invariants the database enforces, one
module per area; everything is importable from here."""

from ..vocabulary import (  # noqa: F401 (re-exported: the models' words)
    CONSENT_CHANNELS,
    JOB_UNDER_WAY,
    ApiScope,
    BarcodeFormat,
    BatchState,
    Channel,
    CodeStatus,
    ConsentSource,
    DeliveryState,
    JobKind,
    JobState,
    PoolStatus,
    Role,
    Transport,
)
from .base import COUNTER_SHARDS, BigId, UTCDateTime, utcnow  # noqa: F401
from .campaigns import Alert, ChannelSetting, Delivery, Job, Replenishment, ReplenishmentRun  # noqa: F401
from .codes import (  # noqa: F401
    Code,
    CodeEvent,
    ImportBatch,
    ImportRejection,
    Pool,
    PoolCounter,
    Redemption,
    RedemptionBatch,
)
from .customers import Audience, ConsentChange, Customer  # noqa: F401
from .integrations import EventDelivery, EventEndpoint, OutboxEvent, TransportSetting  # noqa: F401
from .people import ApiKey, Brand, Store, User  # noqa: F401
from .reports import VoucherView  # noqa: F401
