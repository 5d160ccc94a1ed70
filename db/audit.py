"""The append-only audit log with a hash chain: each row's hash covers its content and the previous row's hash.

Invariants:
- rows are only ever inserted (the app has no update or delete path for them);
- row_hash = sha256 of the canonical JSON of (prev_hash, at, actor, action, edit_id, before, after, reason);
- the first row's prev_hash is GENESIS; so editing, deleting or reordering any row in the database
  file breaks `verify_chain` at that row.
Appends must run inside db.engine.write_transaction so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from db.models import audit_log

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    edit_id: int | None
    before: dict | None
    after: dict | None
    reason: str | None


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    problem: str | None = None
    mismatches: tuple[str, ...] = ()  # db.replay: the tables against the audit rows, and a kept head


def canonical_json(value: dict | None) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def utc(at: datetime) -> datetime:
    """As an aware UTC datetime (SQLite gives back naive values, PostgreSQL aware ones)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def row_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    edit_id: int | None,
    before: str | None,
    after: str | None,
    reason: str | None,
) -> str:
    stamp = utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = json.dumps([prev_hash, stamp, actor, action, edit_id, before, after, reason], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def append(
    conn: sa.Connection,
    actor: str,
    action: str,
    edit_id: int | None,
    before: dict | None,
    after: dict | None,
    reason: str | None = None,
) -> None:
    """Add one row at the end of the chain (call inside a write transaction)."""
    append_many(conn, last_hash(conn), [(actor, action, edit_id, before, after, reason)])


def append_many(conn: sa.Connection, prev_hash: str, rows: list[tuple]) -> str:
    """Chain several (actor, action, edit_id, before, after, reason) rows after prev_hash; returns the last hash."""
    at = datetime.now(UTC)
    values = []
    for actor, action, edit_id, before, after, reason in rows:
        b, a = canonical_json(before), canonical_json(after)
        h = row_hash(prev_hash, at, actor, action, edit_id, b, a, reason)
        values.append(
            dict(
                at=at,
                actor=actor,
                action=action,
                edit_id=edit_id,
                before=b,
                after=a,
                reason=reason,
                prev_hash=prev_hash,
                row_hash=h,
            )
        )
        prev_hash = h
    if values:
        conn.execute(audit_log.insert(), values)
    return prev_hash


def last_hash(conn: sa.Connection) -> str:
    return conn.execute(sa.select(audit_log.c.row_hash).order_by(audit_log.c.id.desc()).limit(1)).scalar() or GENESIS


def verify_chain(conn: sa.Connection) -> ChainCheck:
    """Recompute every row's hash in id order; report the first row that does not match."""
    expected_prev, count = GENESIS, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)):
        count += 1
        if row.prev_hash != expected_prev:
            return ChainCheck(
                False, count, row.id, "prev_hash does not match the previous row (row removed or reordered)"
            )
        h = row_hash(row.prev_hash, row.at, row.actor, row.action, row.edit_id, row.before, row.after, row.reason)
        if h != row.row_hash:
            return ChainCheck(False, count, row.id, "content does not match its hash (row altered)")
        expected_prev = row.row_hash
    return ChainCheck(True, count)


def entry_from_row(row) -> AuditEntry:
    return AuditEntry(
        row.id,
        utc(row.at),
        row.actor,
        row.action,
        row.edit_id,
        json.loads(row.before) if row.before else None,
        json.loads(row.after) if row.after else None,
        row.reason,
    )
