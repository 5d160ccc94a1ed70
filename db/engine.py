"""Engines and write transactions for SQLite and PostgreSQL.

Invariants:
- SQLite runs in WAL mode with a busy timeout and foreign keys on; its write transactions start
  with BEGIN IMMEDIATE, so two writers never interleave (the audit hash chain relies on this).
- PostgreSQL write transactions take one transaction-scoped advisory lock for the same reason.
- A write transaction commits whole or not at all.
- PostgreSQL sessions carry a statement_timeout and a lock_timeout (STATEMENT_TIMEOUT_MS, LOCK_TIMEOUT_MS unless
  the caller says otherwise; 0 turns one off), so a stuck session elsewhere fails a write here within the lock
  timeout instead of freezing every instance; connecting gives up after CONNECT_TIMEOUT_S.
- A database that cannot be reached, is read-only, stays locked past its timeout or is full surfaces as
  DatabaseUnavailable (503) or StorageFull (507) with one clear line (`translated`), never as a driver trace;
  the transaction it interrupted wrote nothing. Other database errors (a constraint, a trigger) pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.errors import ConfigError, DatabaseUnavailable, EditorError, StorageFull
from core.text import hide_password

_PG_WRITE_LOCK = 0x5E7AC  # advisory lock key shared by every writer of one database
STATEMENT_TIMEOUT_MS = 30_000  # PostgreSQL: longest statement (a stuck query fails instead of holding locks)
LOCK_TIMEOUT_MS = 10_000  # PostgreSQL: longest wait for a lock (the write lock included)
CONNECT_TIMEOUT_S = 5  # PostgreSQL: a server that does not answer is reported down after this long
_PG_LOCK_NOT_AVAILABLE, _PG_QUERY_CANCELED, _PG_DISK_FULL = "55P03", "57014", "53100"


def create_engine(url: str, statement_timeout_ms: int | None = None, lock_timeout_ms: int | None = None) -> sa.Engine:
    """An engine for the URL; PostgreSQL sessions get the timeouts (None: the defaults above, 0: none)."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigError(hide_password(f"not a database URL: {url!r}", url)) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    connect_args = {}
    if parsed.get_backend_name() == "postgresql":
        statement = STATEMENT_TIMEOUT_MS if statement_timeout_ms is None else statement_timeout_ms
        lock = LOCK_TIMEOUT_MS if lock_timeout_ms is None else lock_timeout_ms
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={int(statement)} -c lock_timeout={int(lock)}",
        }
    try:
        return sa.create_engine(parsed, pool_pre_ping=True, future=True, connect_args=connect_args)
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
    try:
        with engine.connect() as conn:
            conn.info["write"] = True
            try:
                with conn.begin():
                    if engine.dialect.name == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
                    yield conn
            finally:
                conn.info.pop("write", None)
    except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
        _raise_translated(exc, "nothing was saved")


@contextmanager
def read_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a read transaction: one consistent snapshot for all its queries."""
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
        _raise_translated(exc, "nothing was changed")


def _raise_translated(exc: Exception, outcome: str) -> None:
    error = translated(exc, outcome)
    if error is None:
        raise exc
    raise error from exc


def translated(exc: Exception, outcome: str) -> EditorError | None:
    """The one-line error for a database that is down, read-only, locked, slow or full; None for any other
    database error (a constraint or trigger refusing a row), which the caller re-raises unchanged."""
    orig = getattr(exc, "orig", None)
    sqlite_name = getattr(orig, "sqlite_errorname", "") or ""
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlite_name.startswith("SQLITE_FULL") or sqlstate == _PG_DISK_FULL:
        return StorageFull(f"the edit log's disk is full; {outcome} (free some space, then retry)")
    if sqlite_name.startswith("SQLITE_READONLY"):
        return DatabaseUnavailable(
            f"the edit log is read-only (its file or folder cannot be written); {outcome} (retry once it is writable)"
        )
    if sqlite_name.startswith("SQLITE_CANTOPEN"):
        return DatabaseUnavailable(
            "the edit log's file cannot be opened (is it missing, or is its folder read-only? SQLite writes its -wal "
            f"and -shm files beside it); {outcome}"
        )
    if sqlite_name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or sqlstate == _PG_LOCK_NOT_AVAILABLE:
        return DatabaseUnavailable(f"the edit log stayed locked by another session past the lock timeout; {outcome}")
    if sqlstate == _PG_QUERY_CANCELED:
        return DatabaseUnavailable(f"the edit log's database ran past its statement timeout; {outcome}")
    if _is_down(exc, sqlite_name, sqlstate):
        return DatabaseUnavailable(f"the edit log's database is unavailable; {outcome} (retry when it is back)")
    return None


def _is_down(exc: Exception, sqlite_name: str, sqlstate: str | None) -> bool:
    """Unreachable, not answering, shutting down or out of connections (not: a bad statement, a constraint)."""
    if isinstance(exc, sa.exc.TimeoutError) or getattr(exc, "connection_invalidated", False):
        return True
    if sqlite_name:
        return sqlite_name.startswith("SQLITE_IOERR")
    if not isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
        return False
    return sqlstate is None or sqlstate.startswith(("08", "57P", "53"))
