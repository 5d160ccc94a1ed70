"""Schema migrations: named functions, applied in list order, each recorded in `_migrations`.

Rules: a shipped migration is never edited; change the schema by appending a new function to
MIGRATIONS (and updating db/models.py). Each migration declares the tables it creates itself
(never imports db.models), so it keeps meaning what it meant when it shipped. Migrations run in one
serialised write transaction, so concurrent starts apply each migration exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from db.engine import write_transaction


def m001_initial(conn: sa.Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "edits",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("notes", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Index("ix_edits_status", "status"),
    )
    sa.Table(
        "audit_log",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id")),
        sa.Column("before", sa.Text),
        sa.Column("after", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.Index("ix_audit_edit", "edit_id"),
    )
    sa.Table(
        "settings",
        md,
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    md.create_all(conn)


def m002_probe_log(conn: sa.Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "probe_log",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("chosen_edit_id", sa.Integer),
        sa.Column("top_score", sa.Float),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
        sa.Column("base_answer", sa.Text),
        sa.Column("edited_answer", sa.Text, nullable=False),
        sa.Column("timings", sa.Text, nullable=False),
    )
    md.create_all(conn)


def m003_probe_prompts(conn: sa.Connection) -> None:
    md = sa.MetaData()
    sa.Table("edits", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "probe_prompts",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), nullable=False),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("expect", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Index("ix_probe_prompts_edit", "edit_id"),
    )
    md.tables["probe_prompts"].create(conn)


def m004_accounts(conn: sa.Connection) -> None:
    """UI/API users and their API tokens (hashes only), shared by every instance and the CLI."""
    md = sa.MetaData()
    sa.Table(
        "users",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    sa.Table(
        "api_tokens",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("label", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Index("ix_api_tokens_hash", "token_hash", unique=True),
        sa.Index("ix_api_tokens_user", "user_id"),
    )
    md.create_all(conn)


def m005_idempotency_keys(conn: sa.Connection) -> None:
    """Idempotency keys of API adds: (actor, key) unique, stored with what the request wrote."""
    md = sa.MetaData()
    sa.Table("edits", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "idempotency_keys",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id")),
        sa.Column("changed", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("actor", "key", name="uq_idempotency_actor_key"),
    )
    md.tables["idempotency_keys"].create(conn)


def m006_edit_vectors(conn: sa.Connection) -> None:
    """Each edit's embedding (float32 bytes) beside it, tagged with the embedder that made it, so a restart need
    not embed the log again (db.edit_vectors)."""
    md = sa.MetaData()
    sa.Table("edits", md, sa.Column("id", sa.Integer, primary_key=True))
    sa.Table(
        "edit_vectors",
        md,
        sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), primary_key=True, autoincrement=False),
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Index("ix_edit_vectors_embedder", "embedder", "edit_id"),  # which edits have rows: no vector read
    )
    md.tables["edit_vectors"].create(conn)


MIGRATIONS = [
    m001_initial,
    m002_probe_log,
    m003_probe_prompts,
    m004_accounts,
    m005_idempotency_keys,
    m006_edit_vectors,
]


def _ledger(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "_migrations",
        md,
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )


def migrate(engine: sa.Engine) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    ledger = _ledger(sa.MetaData())
    applied_now = []
    with write_transaction(engine) as conn:
        ledger.create(conn, checkfirst=True)
        done = {row.name for row in conn.execute(sa.select(ledger.c.name))}
        for migration in MIGRATIONS:
            if migration.__name__ in done:
                continue
            migration(conn)
            conn.execute(ledger.insert().values(name=migration.__name__, applied_at=datetime.now(UTC)))
            applied_now.append(migration.__name__)
    return applied_now
