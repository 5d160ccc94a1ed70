"""Idempotency keys of API adds (`Idempotency-Key` on POST /api/edits): a retried add returns its first result.

A key belongs to one user (two users may pick the same key). It is written in the same transaction as the
edit it created (or the edits it changed), with the request's fingerprint (sha256 of the request body as
parsed) and the conflicts reported then, so a crash leaves either both or neither.

Invariants:
- (actor, key) is unique in the table: of two concurrent first uses, one commits and the other's transaction
  fails on the constraint, writing nothing (the caller then finds the stored key and replays it);
- a stored key is never changed or deleted by the app;
- a key is 1..255 visible ASCII characters; anything else is InvalidInput.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from core.errors import InvalidInput
from db.models import idempotency_keys

MAX_KEY = 255


@dataclass(frozen=True)
class IdempotencyKey:
    """A key sent with a write: its text, the request's fingerprint, and what to report again on a replay."""

    key: str
    fingerprint: str
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StoredKey:
    fingerprint: str
    edit_id: int | None  # the edit created (None when the request changed other edits instead)
    changed: tuple[int, ...]
    detail: dict


def clean_key(value: object) -> str:
    """The key as sent, or InvalidInput saying what a key may be."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY or not all("!" <= c <= "~" for c in value):
        raise InvalidInput(f"Idempotency-Key must be 1 to {MAX_KEY} visible ASCII characters (e.g. a UUID)")
    return value


def fingerprint(body: dict) -> str:
    """sha256 of the request body as parsed (key order and spacing do not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def lookup(conn: sa.Connection, actor: str, key: str) -> StoredKey | None:
    row = conn.execute(
        sa.select(idempotency_keys).where(idempotency_keys.c.actor == actor, idempotency_keys.c.key == key)
    ).first()
    if row is None:
        return None
    return StoredKey(row.fingerprint, row.edit_id, tuple(json.loads(row.changed)), json.loads(row.detail))


def record(
    conn: sa.Connection, actor: str, key: IdempotencyKey | None, edit_id: int | None, changed: Sequence[int] = ()
) -> None:
    """Store a key with what its request wrote, inside the caller's write transaction (no-op without a key)."""
    if key is None:
        return
    conn.execute(
        idempotency_keys.insert().values(
            actor=actor,
            key=key.key,
            fingerprint=key.fingerprint,
            edit_id=edit_id,
            changed=json.dumps(list(changed)),
            detail=json.dumps(key.detail, ensure_ascii=False),
            created_at=datetime.now(UTC),
        )
    )
