"""Idempotent adds: the key table (db/idempotency.py) on SQLite and PostgreSQL, and `Idempotency-Key` on
POST /api/edits against the running server (tests/live_server.py): a retry with the same key and body gets the
first result with 200 and saves nothing; the same key with another body is 422; concurrent retries of one key
save one edit; bad keys are a clear 422."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from core.types import EditDraft
from db.idempotency import IdempotencyKey, clean_key, fingerprint
from db.repository import EditRepository
from tests.threads import run_together


def test_a_key_is_stored_with_its_edit_and_a_second_first_use_writes_nothing(fresh_db_url):
    url = fresh_db_url()
    first, second = EditRepository(url), EditRepository(url)  # two app instances on one database
    key = IdempotencyKey("k-1", fingerprint({"prompt": "a"}), {"summary": "no conflicts"})
    (edit,) = first.add_edits([EditDraft("The capital of Veltria is", "Osmund")], "alice", "add", keys=[key])
    stored = second.idempotent_result("alice", "k-1")
    assert (stored.edit_id, stored.fingerprint, stored.detail) == (edit.id, key.fingerprint, key.detail)
    assert second.idempotent_result("bob", "k-1") is None  # keys are per user
    with pytest.raises(sa.exc.IntegrityError):  # the race a second instance can lose: the constraint refuses it
        second.add_edits([EditDraft("The capital of Veltria is", "Osmund")], "alice", "add", keys=[key])
    assert second.count_edits() == 1 and second.verify_audit().ok


def test_a_settled_conflict_stores_its_key_with_the_changed_edits(any_db_url):
    repo = EditRepository(any_db_url)
    repo.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")
    key = IdempotencyKey("replace-1", fingerprint({"target": "Brenn"}))
    added, changed = repo.resolve(EditDraft("The capital of Veltria is", "Brenn"), "alice", replace=[1], key=key)
    stored = repo.idempotent_result("alice", "replace-1")
    assert added is None and (stored.edit_id, stored.changed) == (None, (1,)) and changed[0].target == "Brenn"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve", "tab\tkey", 7])
def test_a_malformed_key_is_refused(key):
    with pytest.raises(InvalidInput, match="Idempotency-Key must be 1 to 255 visible ASCII characters"):
        clean_key(key)


def test_fingerprints_ignore_key_order_only():
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1}) != fingerprint({"a": 1, "b": "y"})


@pytest.fixture
def api(live_server):
    headers = {"Authorization": f"Bearer {live_server.curator_token}"}
    with httpx.Client(base_url=live_server.url, timeout=120, headers=headers) as client:
        yield client


def _total(api) -> int:
    return api.get("/api/edits").json()["total"]


@pytest.mark.models
def test_a_retried_add_returns_its_first_result_and_saves_nothing(api):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"prompt": "The harbour master of Ostrel is", "target": "Wenna Pike", "notes": "retried"}
    first = api.post("/api/edits", json=body, headers=key)
    assert first.status_code == 201, first.text
    total = _total(api)
    again = api.post("/api/edits", json=dict(reversed(body.items())), headers=key)  # same body, other key order
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json() == first.json() and _total(api) == total
    other = api.post("/api/edits", json=body | {"target": "Ivo Pike"}, headers=key)
    assert other.status_code == 422 and _total(api) == total
    detail = other.json()["detail"]
    assert f"was already used for another request (edit #{first.json()['edit']['id']})" in detail
    assert "send a new key for a new edit" in detail
    bad = api.post("/api/edits", json=body | {"target": "Ivo Pike"}, headers={"Idempotency-Key": "with space"})
    assert bad.status_code == 422 and "visible ASCII" in bad.json()["detail"] and _total(api) == total


@pytest.mark.models
def test_concurrent_retries_of_one_key_save_one_edit(api):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = {"prompt": "The lighthouse keeper of Dunmore is", "target": "Tamsin Roe"}
    total = _total(api)
    responses = run_together(lambda _: api.post("/api/edits", json=body, headers=key), 4)
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [r.text for r in responses]
    assert len({r.json()["edit"]["id"] for r in responses}) == 1 and _total(api) == total + 1
