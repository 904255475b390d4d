"""Who is acting: a signed-in user, an API key, or the system (CLI, jobs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user_id: int | None = None
    api_key_id: int | None = None
    store_id: int | None = None


SYSTEM = Actor()
