"""Backup and restore of the edit log, whichever database holds it: SQLite through its online backup API
(db.backup), PostgreSQL through pg_dump / pg_restore (db.pg_backup).

Invariants:
- a backup is written whole and verified (hash chain and replay, db.backup.verify_log) or not written at all;
- a restore verifies the backup first and changes nothing when it fails, when it is of the other kind of
  database, or while another process uses the log; the replaced log is kept beside it (`kept`);
- the faiss index is a cache: a server started after a restore builds it from the restored log, and a running
  one's `Services.sync` notices a log replaced under it and rebuilds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from core.errors import ConfigError, InvalidInput
from db import backup as sqlite_backup
from db import pg_backup
from db.backup import LogSummary


@dataclass(frozen=True)
class Restored:
    summary: LogSummary
    kept: Path | None  # the replaced log's copy (None when there was no log before)


def backend(db_url: str) -> str:
    """'sqlite' or 'postgresql'; ConfigError for a database backups do not cover."""
    try:
        name = make_url(db_url).get_backend_name()
    except Exception:  # noqa: BLE001 - any unparsable URL gets the same one line
        raise ConfigError("the edit log's --db is not a database URL") from None
    if name not in ("sqlite", "postgresql"):
        raise ConfigError(f"backup and restore cover SQLite and PostgreSQL edit logs, not {name!r}")
    return name


def backup(db_url: str, out: str | Path) -> LogSummary:
    """Write a verified, consistent copy of the edit log to `out` (a SQLite file or a pg_dump archive)."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InvalidInput(f"no folder {out.parent} to write {out.name} into")
    if backend(db_url) == "sqlite":
        return sqlite_backup.backup_sqlite(sqlite_backup.sqlite_path(db_url), out)
    return pg_backup.backup_pg(db_url, out)


def verify(db_url: str, file: str | Path) -> LogSummary:
    """A backup's figures when it verifies (a PostgreSQL dump is restored into a scratch database to check it)."""
    file = Path(file)
    if _kind(db_url, file) == "sqlite":
        return sqlite_backup.verify_sqlite_file(file)
    return pg_backup.verify_pg_dump(db_url, file)


def restore(db_url: str, file: str | Path) -> Restored:
    """Replace the edit log's contents with a verified backup of the same kind of database."""
    file = Path(file)
    if _kind(db_url, file) == "sqlite":
        summary, kept = sqlite_backup.restore_sqlite(file, sqlite_backup.sqlite_path(db_url))
    else:
        summary, kept = pg_backup.restore_pg(db_url, file)
    return Restored(summary, kept)


def _kind(db_url: str, file: Path) -> str:
    kind, live = sqlite_backup.backup_kind(file), backend(db_url)
    if kind != live:
        raise InvalidInput(f"{file} is a {kind} backup but the edit log is {live}: nothing was changed")
    return kind
