"""`Idempotency-Key` on POST /api/edits: a retried add gets its first result; nothing is saved twice.

Invariants:
- a key is per user; it is stored in the transaction that saves the edit (db.idempotency), so a saved edit
  always has its key and a refused or failed request leaves none (its retry is tried again, as new);
- the same key and body again: the first result (the edit and the edits it changed, as they are now, and the
  conflicts reported then) with 200 and `Idempotency-Replayed: true`, nothing written;
- the same key with another body: 422 (KeyReused), nothing written;
- of two concurrent first uses of one key, the database lets one commit; the other (its save refused by
  the unique key, or its prompt then a duplicate) finds the stored key and replays it.
"""

from __future__ import annotations

from fastapi import Response

from core.errors import InvalidInput
from db.idempotency import IdempotencyKey, StoredKey, clean_key, fingerprint
from services.services import Services


class KeyReused(InvalidInput):
    """An idempotency key sent again with a different request body (422); nothing was saved."""


def first_use(
    services: Services, actor: str, header: str | None, body: dict, response: Response
) -> IdempotencyKey | dict | None:
    """None without a key; the replayed first result (dict) when the key was used before with this body;
    else the key to store with this request's edit. KeyReused when the key was used with another body."""
    if header is None:
        return None
    key = IdempotencyKey(clean_key(header), fingerprint(body))
    stored = services.repository.idempotent_result(actor, key.key)
    return key if stored is None else _replay(services, key, stored, response)


def after_failure(services: Services, actor: str, key: IdempotencyKey | None, response: Response) -> dict | None:
    """After this request failed: the first result when a concurrent request with the same key saved it."""
    stored = None if key is None else services.repository.idempotent_result(actor, key.key)
    return None if stored is None else _replay(services, key, stored, response)


def _replay(services: Services, key: IdempotencyKey, stored: StoredKey, response: Response) -> dict:
    if stored.fingerprint != key.fingerprint:
        what = (
            f"edit #{stored.edit_id}" if stored.edit_id else "a change of " + ", ".join(f"#{i}" for i in stored.changed)
        )
        raise KeyReused(
            f"Idempotency-Key {key.key!r} was already used for another request ({what}) with a different body; "
            "send a new key for a new edit"
        )
    response.status_code = 200
    response.headers["Idempotency-Replayed"] = "true"
    edit = services.repository.get(stored.edit_id) if stored.edit_id is not None else None
    return {
        "edit": edit.to_dict() if edit else None,
        "changed": [e.to_dict() for e in services.repository.get_many(list(stored.changed))],
        "conflicts": stored.detail,
    }
