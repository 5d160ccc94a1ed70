"""Engines and write transactions for SQLite and PostgreSQL.

Invariants:
- SQLite runs in WAL mode with a busy timeout and foreign keys on; its write transactions start
  with BEGIN IMMEDIATE, so two writers never interleave (the audit hash chain relies on this).
- PostgreSQL write transactions take one transaction-scoped advisory lock for the same reason.
- A write transaction commits whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.errors import ConfigError
from core.text import hide_password

_PG_WRITE_LOCK = 0x5E7AC  # advisory lock key shared by every writer of one database


def create_engine(url: str) -> sa.Engine:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigError(hide_password(f"not a database URL: {url!r}", url)) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, future=True)
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"no driver for {parsed.drivername!r}: {exc}") from None


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, future=True)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own BEGIN is deferred)
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

    return engine


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a serialised write transaction, committed on success, rolled back on error."""
    with engine.connect() as conn:
        conn.info["write"] = True
        try:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
                yield conn
        finally:
            conn.info.pop("write", None)


@contextmanager
def read_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a read transaction: one consistent snapshot for all its queries."""
    with engine.connect() as conn, conn.begin():
        yield conn
