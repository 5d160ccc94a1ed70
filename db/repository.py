"""EditRepository: the edit log, the source of truth for every edit and its history.

Invariants:
- the repository migrates the database when it is created;
- every change to an edit and its audit row commit in one transaction, or neither does;
- a bulk add is all-or-nothing: one bad draft rejects the whole batch and writes nothing;
- input is validated (core.text.clean_field) before anything is written;
- a new edit's embedding (when the writer computed it) commits with the edit (db.edit_vectors).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict, UnknownEdit
from core.text import clean_field
from core.types import Edit, EditDraft, RoutingRecord
from db import audit, audit_check, edit_vectors, idempotency, probe_prompts, replay
from db.edit_vectors import Embeddings
from db.engine import create_engine, read_transaction, write_transaction
from db.idempotency import IdempotencyKey, StoredKey
from db.migrations import migrate
from db.models import audit_log, edits, probe_log, settings

MAX_EDIT_ID = 2**63 - 1  # ids are 64-bit integers in every backend; larger ones cannot exist
EDIT_FIELDS = ("prompt", "target", "subject", "notes", "status")


class EditRepository:
    def __init__(
        self,
        url: str,
        max_chars: int = 4096,
        statement_timeout_ms: int | None = None,
        lock_timeout_ms: int | None = None,
    ):
        self.url, self.max_chars = url, max_chars
        self.timeouts = (statement_timeout_ms, lock_timeout_ms)
        self.engine = create_engine(url, statement_timeout_ms, lock_timeout_ms)
        migrate(self.engine)

    # ---- writes -------------------------------------------------------------------------
    def add_edit(self, draft: EditDraft, actor: str) -> Edit:
        return self.add_edits([draft], actor, action="add")[0]

    def add_edits(
        self,
        drafts: Sequence[EditDraft],
        actor: str,
        action: str = "import",
        reason: str | None = None,
        probes: Sequence[Sequence[tuple[str, str]]] | None = None,
        keys: Sequence[IdempotencyKey | None] | None = None,
        embeddings: Embeddings | None = None,
    ) -> list[Edit]:
        """Insert a batch of edits, their audit rows, (per edit) their (prompt, expect) probe prompts, idempotency
        keys and the embeddings of their prompts (db.edit_vectors; those `embeddings` holds) in one transaction."""
        actor = self._actor(actor)
        clean = [self.clean_draft(d) for d in drafts]
        if probes is not None and len(probes) != len(clean):
            raise InvalidInput(f"{len(clean)} edits but probe prompts for {len(probes)}")
        probe_rows = [[probe_prompts.clean_probe(p, x, self.max_chars) for p, x in group] for group in probes or ()]
        with write_transaction(self.engine) as conn:
            added = self._insert(conn, clean, actor, action, reason, probe_rows, embeddings)
            for edit, key in zip(added, keys or ()):
                idempotency.record(conn, actor, key, edit.id)
            return added

    def resolve(
        self,
        draft: EditDraft,
        actor: str,
        retire: Sequence[int] = (),
        replace: Sequence[int] = (),
        reason: str | None = None,
        probes: Sequence[tuple[str, str]] = (),
        key: IdempotencyKey | None = None,
        embeddings: Embeddings | None = None,
    ) -> tuple[Edit | None, list[Edit]]:
        """A new edit's conflicts settled in one transaction: retire the `retire` edits and add the draft (with
        its (prompt, expect) probe prompts), or give the `replace` edits the draft's target (no new edit);
        every change audited with `reason`, the idempotency key stored with them. Returns (the added edit or
        None, the changed edits). Nothing is written if any step is refused."""
        actor, clean = self._actor(actor), self.clean_draft(draft)
        probe_rows = [probe_prompts.clean_probe(p, x, self.max_chars) for p, x in probes]
        reason = clean_field("reason", reason, self.max_chars, required=False)
        with write_transaction(self.engine) as conn:
            changed = [
                self._update_in(conn, i, actor, "retire", {"status": "retired"}, reason, "active") for i in retire
            ]
            changed += [
                self._update_in(conn, i, actor, "change", {"target": clean.target}, reason, "active") for i in replace
            ]
            added = None if replace else self._insert(conn, [clean], actor, "add", reason, [probe_rows], embeddings)[0]
            idempotency.record(conn, actor, key, added.id if added else None, [e.id for e in changed])
        return added, changed

    def retire(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        return self._transition(edit_id, actor, "retire", "active", "retired", reason)

    def restore(self, edit_id: int, actor: str, reason: str | None = None) -> Edit:
        return self._transition(edit_id, actor, "restore", "retired", "active", reason)

    def change_target(self, edit_id: int, target: str, actor: str, reason: str | None = None) -> Edit:
        target = clean_field("target", target, self.max_chars)
        return self._update(edit_id, actor, "change", {"target": target}, reason)

    def set_setting(
        self, key: str, value: object, actor: str, reason: str | None = None, default: object = None
    ) -> None:
        """Store a setting (as text) and audit it. The audit row keeps the values as given (a threshold as a
        number); its "before" is the stored value, or `default` (what served until now) when none was stored."""
        actor = self._actor(actor)
        with write_transaction(self.engine) as conn:
            old = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()
            values = dict(value=str(value), updated_at=_now(), updated_by=actor)
            if old is None:
                conn.execute(settings.insert().values(key=key, **values))
            else:
                conn.execute(settings.update().where(settings.c.key == key).values(**values))
            before = default if old is None else type(value)(old) if isinstance(value, (int, float)) else old
            audit.append(conn, actor, "setting", None, None if before is None else {key: before}, {key: value}, reason)

    def log_probes(self, records: Sequence[RoutingRecord], actor: str) -> None:
        """Keep asked queries' routing records in the probe log (opt-in: SeracConfig.log_probes)."""
        actor, now = self._actor(actor), _now()
        with write_transaction(self.engine) as conn:
            conn.execute(probe_log.insert(), [_probe_log_row(r, actor, now) for r in records])

    # ---- reads --------------------------------------------------------------------------
    def get(self, edit_id: int) -> Edit:
        with read_transaction(self.engine) as conn:
            return self._get(conn, edit_id)

    def list_edits(
        self,
        status: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Edit]:
        """Edits filtered by status and by text in their prompt, target, subject or notes; oldest first
        unless newest_first (the UI's table)."""
        order = edits.c.id.desc() if newest_first else edits.c.id
        query = self._filtered(sa.select(edits), status, search).order_by(order).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with read_transaction(self.engine) as conn:
            return [_edit(r._mapping) for r in conn.execute(query)]

    def count_edits(self, status: str | None = None, search: str | None = None) -> int:
        query = self._filtered(sa.select(sa.func.count()).select_from(edits), status, search)
        with read_transaction(self.engine) as conn:
            return int(conn.execute(query).scalar())

    def active_edits(self) -> list[Edit]:
        return self.list_edits(status="active")

    def get_many(self, edit_ids: Sequence[int]) -> list[Edit]:
        """The edits with these ids that exist, in id order."""
        with read_transaction(self.engine) as conn:
            rows = conn.execute(sa.select(edits).where(edits.c.id.in_(list(edit_ids))).order_by(edits.c.id))
            return [_edit(r._mapping) for r in rows]

    def changes_since(self, head: str | None) -> tuple[str | None, set[int], bool] | None:
        """What changed after the audit row named by `head` ('ID:HASH' as db.replay.head_of gives, None: the empty
        log): (the newest row's head, edit ids touched, whether a setting changed). None when that row is no longer
        there with that hash: the log was replaced (restored from a backup) and must be read again whole."""
        row_id = replay.parse_head(head)[0] if head else 0
        query = sa.select(audit_log.c.id, audit_log.c.row_hash, audit_log.c.edit_id, audit_log.c.action)
        with read_transaction(self.engine) as conn:
            if head and replay.check_head(conn, head) is not None:
                return None
            rows = conn.execute(query.where(audit_log.c.id > row_id).order_by(audit_log.c.id)).all()
        if not rows:
            return head, set(), False
        ids = {r.edit_id for r in rows if r.edit_id is not None}
        return f"{rows[-1].id}:{rows[-1].row_hash}", ids, any(r.action == "setting" for r in rows)

    def idempotent_result(self, actor: str, key: str) -> StoredKey | None:
        """What an earlier request of this actor with this idempotency key wrote, or None."""
        with read_transaction(self.engine) as conn:
            return idempotency.lookup(conn, actor, key)

    def get_setting(self, key: str) -> str | None:
        with read_transaction(self.engine) as conn:
            return conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).scalar()

    def audit_entries(
        self,
        edit_id: int | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[audit.AuditEntry]:
        """Audit rows, newest first, filtered by edit, actor and time."""
        query = sa.select(audit_log).order_by(audit_log.c.id.desc())
        for column, value, op in (
            (audit_log.c.edit_id, edit_id, "eq"),
            (sa.func.lower(audit_log.c.actor), actor.lower() if actor else None, "eq"),  # names match any case
            (audit_log.c.at, since, "ge"),
            (audit_log.c.at, until, "le"),
        ):
            if value is not None:
                query = query.where(
                    column == value if op == "eq" else column >= value if op == "ge" else column <= value
                )
        if limit is not None:
            query = query.limit(limit)
        with read_transaction(self.engine) as conn:
            return [audit.entry_from_row(r) for r in conn.execute(query)]

    def verify_audit(self, head: str | None = None, parts: int | None = None, started=None) -> audit.ChainCheck:
        """The hash chain, a head kept elsewhere ('ID:HASH', db.replay.head_of) and the replay of the audit rows
        against the edits, probe prompts and settings; ok only if all agree. A large log is checked in `parts`
        id ranges side by side (db.audit_check; None: by its size and the CPUs); `started` gets their processes."""
        return audit_check.verify(self.engine, head, parts, started, self.timeouts)

    def audit_head(self) -> str | None:
        """'ID:HASH' of the newest audit row, to keep outside the database (None while the log is empty)."""
        with read_transaction(self.engine) as conn:
            return replay.head_of(conn)

    def counts(self) -> dict:
        """Edits by status and audit rows by action, from one read snapshot."""
        with read_transaction(self.engine) as conn:
            by_status = dict(conn.execute(sa.select(edits.c.status, sa.func.count()).group_by(edits.c.status)).all())
            by_action = dict(
                conn.execute(sa.select(audit_log.c.action, sa.func.count()).group_by(audit_log.c.action)).all()
            )
        return {
            "edits": {
                "total": sum(by_status.values()),
                "active": by_status.get("active", 0),
                "retired": by_status.get("retired", 0),
            },
            "audit": {"rows": sum(by_action.values()), "by_action": dict(sorted(by_action.items()))},
        }

    def recent_probes(self, limit: int = 50) -> list[dict]:
        query = sa.select(probe_log).order_by(probe_log.c.id.desc()).limit(limit)
        with read_transaction(self.engine) as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ---- helpers ------------------------------------------------------------------------
    def clean_draft(self, draft: EditDraft) -> EditDraft:
        """The draft with its fields validated and stripped; InvalidInput says which field is wrong."""
        return EditDraft(
            clean_field("prompt", draft.prompt, self.max_chars),
            clean_field("target", draft.target, self.max_chars),
            clean_field("subject", draft.subject, self.max_chars, required=False),
            clean_field("notes", draft.notes, self.max_chars, required=False),
        )

    def _transition(
        self, edit_id: int, actor: str, action: str, from_status: str, to_status: str, reason: str | None
    ) -> Edit:
        return self._update(edit_id, actor, action, {"status": to_status}, reason, expect_status=from_status)

    def _update(
        self, edit_id: int, actor: str, action: str, changes: dict, reason: str | None, expect_status: str | None = None
    ) -> Edit:
        actor = self._actor(actor)
        reason = clean_field("reason", reason, self.max_chars, required=False)
        with write_transaction(self.engine) as conn:
            return self._update_in(conn, edit_id, actor, action, changes, reason, expect_status)

    def _update_in(
        self,
        conn: sa.Connection,
        edit_id: int,
        actor: str,
        action: str,
        changes: dict,
        reason: str | None,
        expect_status: str | None = None,
    ) -> Edit:
        """One edit's change and its audit row, inside the caller's transaction (actor and reason clean)."""
        before = self._get(conn, edit_id)
        if expect_status and before.status != expect_status:
            raise StateConflict(f"edit {edit_id} is {before.status}; cannot {action} it")
        if all(getattr(before, k) == v for k, v in changes.items()):
            raise StateConflict(f"edit {edit_id} already has " + ", ".join(f"{k} {v!r}" for k, v in changes.items()))
        now = _now()
        conn.execute(edits.update().where(edits.c.id == edit_id).values(**changes, updated_at=now, updated_by=actor))
        after = self._get(conn, edit_id)
        audit.append(conn, actor, action, edit_id, _snapshot(before), _snapshot(after), reason)
        return after

    def _insert(
        self,
        conn: sa.Connection,
        clean: Sequence[EditDraft],
        actor: str,
        action: str,
        reason: str | None,
        probe_rows: Sequence[Sequence[tuple[str, str]]],
        embeddings: Embeddings | None = None,
    ) -> list[Edit]:
        """Clean drafts as new active edits with their audit rows, probe prompts and embeddings, in the caller's
        transaction."""
        now = _now()
        rows = [
            dict(
                prompt=d.prompt,
                target=d.target,
                subject=d.subject,
                notes=d.notes,
                status="active",
                created_at=now,
                created_by=actor,
                updated_at=now,
                updated_by=actor,
            )
            for d in clean
        ]
        inserted = conn.execute(edits.insert().returning(edits.c.id, sort_by_parameter_order=True), rows)
        added = [_edit(dict(row, id=r.id)) for row, r in zip(rows, inserted)]
        audit.append_many(
            conn, audit.last_hash(conn), [(actor, action, e.id, None, _snapshot(e), reason) for e in added]
        )
        probe_prompts.insert_imported(
            conn, [(e.id, p, x) for e, group in zip(added, probe_rows) for p, x in group], actor, now
        )
        edit_vectors.store_new(conn, embeddings, added)
        return added

    @staticmethod
    def _get(conn: sa.Connection, edit_id: int) -> Edit:
        if not isinstance(edit_id, int) or isinstance(edit_id, bool):
            raise InvalidInput(f"edit id must be an integer, got {edit_id!r}")
        if not 1 <= edit_id <= MAX_EDIT_ID:
            raise UnknownEdit(f"no edit with id {edit_id}")
        row = conn.execute(sa.select(edits).where(edits.c.id == edit_id)).first()
        if row is None:
            raise UnknownEdit(f"no edit with id {edit_id}")
        return _edit(row._mapping)

    @staticmethod
    def _filtered(query, status: str | None, search: str | None):
        if status is not None:
            if status not in ("active", "retired"):
                raise InvalidInput(f"status must be 'active' or 'retired', got {status!r}")
            query = query.where(edits.c.status == status)
        if search:
            pattern = f"%{search.strip()}%"
            query = query.where(
                sa.or_(
                    edits.c.prompt.ilike(pattern),
                    edits.c.target.ilike(pattern),
                    edits.c.subject.ilike(pattern),
                    edits.c.notes.ilike(pattern),
                )
            )
        return query

    def _actor(self, actor: str) -> str:
        return clean_field("actor", actor, 128)


def _now() -> datetime:
    return datetime.now(UTC)


def _edit(row) -> Edit:
    return Edit(
        id=row["id"],
        prompt=row["prompt"],
        target=row["target"],
        subject=row["subject"],
        notes=row["notes"],
        status=row["status"],
        created_at=audit.utc(row["created_at"]),
        created_by=row["created_by"],
        updated_at=audit.utc(row["updated_at"]),
        updated_by=row["updated_by"],
    )


def _probe_log_row(record: RoutingRecord, actor: str, at: datetime) -> dict:
    d = record.to_dict()
    return dict(
        at=at,
        actor=actor,
        query=record.query,
        route=record.route,
        chosen_edit_id=record.chosen_edit.id if record.chosen_edit else None,
        top_score=d["candidates"][0]["score"] if d["candidates"] else None,
        threshold=record.decision.threshold,
        candidates=json.dumps(d["candidates"]),
        base_answer=record.base_answer,
        edited_answer=record.edited_answer,
        timings=json.dumps(d["timings_ms"]),
    )


def _snapshot(edit: Edit) -> dict:
    return {k: getattr(edit, k) for k in EDIT_FIELDS}
