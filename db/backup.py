"""Backups of a SQLite edit log, and restoring one: consistent copies taken while curators keep writing.

Invariants:
- `backup_sqlite` copies through SQLite's online backup API in one step (one read snapshot of the live log, which
  writers never wait for in WAL mode) into a temp file beside FILE, verifies the copy, then renames it into place:
  FILE is either a whole verified backup or not there;
- a backup is verified by `verify_log`: the hash chain, the replay of the audit rows against the tables
  (db.replay) and, for SQLite, `PRAGMA quick_check`; a file that fails is refused with one line;
- `restore_sqlite` changes nothing unless the backup verifies and no connection has the live log open
  (`open_elsewhere`, this process's own included); it keeps the replaced log beside it
  (`*.before-restore-*.sqlite`), then copies the backup into the live file through the backup API: one write
  transaction, so other connections see the old log or the new one, never a mix.
PostgreSQL dumps live in db.pg_backup; both share LogSummary and verify_log.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from core.errors import InvalidInput, StateConflict
from db.audit import verify_chain
from db.models import audit_log, edits
from db.replay import head_of, replay_problems

SQLITE_MAGIC, PG_DUMP_MAGIC = b"SQLite format 3\x00", b"PGDMP"
_SHM_DEAD_MAN_BYTE = 128  # SQLite's unix VFS: every open WAL connection holds a read lock on this byte of -shm
_FLOCK = "hhqqi4x"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)


@dataclass(frozen=True)
class LogSummary:
    edits: int
    active: int
    audit_rows: int
    head: str | None  # 'ID:HASH' of the newest audit row (db.replay.head_of)

    def line(self) -> str:
        head = self.head or "none (empty log)"
        return f"{self.edits} edits ({self.active} active), {self.audit_rows} audit rows, head {head}"


def backup_kind(path: str | Path) -> str:
    """'sqlite' or 'postgresql' from the file's first bytes; InvalidInput for anything else."""
    try:
        with open(path, "rb") as f:
            start = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInput(f"cannot read backup {path}: {exc.strerror or exc}") from None
    if start.startswith(SQLITE_MAGIC):
        return "sqlite"
    if start.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise InvalidInput(f"{path} is not a backup: neither a SQLite file nor a pg_dump custom-format archive")


def verify_log(conn: sa.Connection, what: str) -> LogSummary:
    """The log's figures when its audit chain verifies and the tables agree with it; else StateConflict."""
    try:
        check = verify_chain(conn)
        problems = replay_problems(conn)
        total = conn.execute(sa.select(sa.func.count()).select_from(edits)).scalar() or 0
        active = conn.execute(sa.select(sa.func.count()).where(edits.c.status == "active")).scalar() or 0
        rows = conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar() or 0
        head = head_of(conn)
    except sa.exc.DBAPIError as exc:
        raise InvalidInput(f"{what} is not an edit log: {str(exc.orig).splitlines()[0]}") from None
    if not check.ok or problems:
        first = f"row {check.first_bad_id}: {check.problem}" if not check.ok else problems[0]
        more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise StateConflict(f"{what} fails audit verification ({first}{more}); nothing was changed")
    return LogSummary(int(total), int(active), int(rows), head)


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL (InvalidInput for an in-memory database)."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise InvalidInput(f"backup and restore need a SQLite file, not {url!r}")
    return Path(database)


def verify_sqlite_file(path: Path, what: str | None = None, read_only: bool = True) -> LogSummary:
    """Open a SQLite file (read-only unless told) and verify it as an edit log (quick_check, chain, replay)."""
    what = what or f"backup {path}"
    with _opened(path, what, read_only) as raw:
        try:
            problem = raw.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        if problem != "ok":
            raise StateConflict(f"{what} is damaged ({problem}); nothing was changed")
        engine = sa.create_engine("sqlite://", creator=lambda: raw, poolclass=StaticPool)
        with engine.connect() as conn, conn.begin():
            return verify_log(conn, what)


def backup_sqlite(db: Path, out: Path) -> LogSummary:
    """Copy the live log at `db` into `out` (refused if it exists) while writers go on; the copy, verified."""
    if not db.is_file():
        raise InvalidInput(f"no edit log at {db}")
    if out.exists():
        raise InvalidInput(f"{out} already exists: choose a new file name (nothing was written)")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        copy_sqlite(db, tmp)
        summary = verify_sqlite_file(tmp, f"the copy of {db}")  # a rollback-journal file: read-only is enough
        os.replace(tmp, out)
        return summary
    finally:
        tmp.unlink(missing_ok=True)


def copy_sqlite(db: Path, out: Path) -> None:
    """One-step online backup of `db` into a new single file `out` (rollback journal, so no -wal beside it)."""
    src = sqlite3.connect(db, timeout=30)
    try:
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"cannot copy {db}: {exc}") from None
    finally:
        src.close()


def restore_sqlite(backup: Path, db: Path) -> tuple[LogSummary, Path | None]:
    """Replace the live log at `db` with a verified backup; returns (the restored log's figures, where the
    replaced log was kept or None when there was none)."""
    verify_sqlite_file(backup)
    refuse_if_open_elsewhere(db)
    kept = None
    if db.is_file():
        kept = db.with_name(f"{db.stem}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}{db.suffix or '.sqlite'}")
        copy_sqlite(db, kept)
    db.parent.mkdir(parents=True, exist_ok=True)
    with _opened(backup, f"backup {backup}") as src:
        dst = sqlite3.connect(db, timeout=30)
        try:
            src.backup(dst)  # one write transaction on the live file
            dst.execute("PRAGMA journal_mode=WAL")
        finally:
            dst.close()
    return verify_sqlite_file(db, f"the restored log {db}", read_only=False), kept


def refuse_if_open_elsewhere(db: Path) -> None:
    """StateConflict when any connection (a running server, a CLI command) has the WAL log open."""
    if open_elsewhere(db):
        raise StateConflict(
            f"the edit log {db} is open elsewhere (a running server or command): stop every server and command "
            "using it, then restore again; nothing was changed"
        )


def open_elsewhere(db: Path) -> bool:
    """Whether any connection (another process's, or one of this process) holds SQLite's dead-man lock on the
    log's -shm file, as each open WAL connection does. Asked with an open-file-description lock query
    (F_OFD_GETLK): it takes no lock, and unlike a classic POSIX lock probe it neither misses this process's own
    connections nor drops their locks when its descriptor closes."""
    shm = db.with_name(db.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, _SHM_DEAD_MAN_BYTE, 1, 0)
        l_type = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_OFD_GETLK, query))[0]
        return l_type != fcntl.F_UNLCK
    finally:
        os.close(fd)


@contextlib.contextmanager
def _opened(path: Path, what: str, read_only: bool = True) -> Iterator[sqlite3.Connection]:
    """A connection to a SQLite file (read-only unless told); InvalidInput when it is missing or not a database."""
    if not path.is_file():
        raise InvalidInput(f"{what}: no such file")
    mode = "ro" if read_only else "rw"
    raw = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode={mode}", uri=True, check_same_thread=False)
    try:
        raw.execute("PRAGMA busy_timeout=30000")
        raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raw.close()
        raise InvalidInput(f"{what} is not a readable SQLite file ({exc}); nothing was changed") from None
    try:
        yield raw
    finally:
        raw.close()
