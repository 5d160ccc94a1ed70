"""The current schema of the edit log, as SQLAlchemy Core tables used by the repository.

Invariant: a blank database migrated by db.migrations has exactly these tables and columns
(tests/test_migrations.py checks it). Change the schema by appending a migration, then here.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

edits = sa.Table(
    "edits",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("notes", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), nullable=True),
    sa.Column("before", sa.Text, nullable=True),
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
)

probe_log = sa.Table(
    "probe_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("chosen_edit_id", sa.Integer, nullable=True),
    sa.Column("top_score", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=False),
    sa.Column("candidates", sa.Text, nullable=False),
    sa.Column("base_answer", sa.Text, nullable=True),
    sa.Column("edited_answer", sa.Text, nullable=False),
    sa.Column("timings", sa.Text, nullable=False),
)

probe_prompts = sa.Table(
    "probe_prompts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("expect", sa.String(8), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

edit_vectors = sa.Table(
    "edit_vectors",
    metadata,
    sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), primary_key=True, autoincrement=False),
    sa.Column("embedder", sa.String(200), nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),
    sa.Index("ix_edit_vectors_embedder", "embedder", "edit_id"),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("label", sa.String(128), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("edit_id", sa.Integer, sa.ForeignKey("edits.id"), nullable=True),
    sa.Column("changed", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("actor", "key", name="uq_idempotency_actor_key"),
)

migrations = sa.Table(
    "_migrations",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)
