"""Backups of a PostgreSQL edit log with pg_dump, and restoring one with pg_restore.

Invariants:
- the password travels in the PGPASSWORD environment of the child process, never on its command line (which
  `ps` shows every user); the other connection settings go as PGHOST/PGPORT/PGUSER/PGDATABASE too;
- `pg_dump --format=custom` reads one snapshot, so a backup taken while curators write is consistent;
- a dump is verified by restoring it into a scratch database on the same server (created and dropped here)
  and running db.backup.verify_log there; the live database is never touched for that;
- `restore_pg` changes nothing unless the dump verifies and no other session is connected to the live database;
  it first dumps the live database beside the backup (`*.before-restore-*.dump`), then runs
  `pg_restore --clean --if-exists --single-transaction`: the old contents or the new, never a mix;
- without pg_dump / pg_restore on PATH the error names the package and the exact command to run by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.errors import ConfigError, InvalidInput, StateConflict
from db.backup import LogSummary, verify_log
from db.engine import create_engine

DUMP_FLAGS = ["--format=custom", "--no-owner", "--no-privileges"]
RESTORE_FLAGS = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
TOOL_TIMEOUT_S = 3600


def libpq_env(url: str, database: str | None = None) -> dict[str, str]:
    """PG* environment variables for pg_dump / pg_restore from a SQLAlchemy URL (the password in PGPASSWORD)."""
    u = make_url(url)
    env = {
        "PGHOST": u.host or "",
        "PGPORT": str(u.port or ""),
        "PGUSER": u.username or "",
        "PGDATABASE": database or u.database or "",
        "PGPASSWORD": u.password or "",
        "PGSSLMODE": str(u.query.get("sslmode", "")),
    }
    return {k: v for k, v in env.items() if v}


def _tool(name: str, args: list[str], url: str) -> str:
    """The tool's path; ConfigError naming the package and the exact command when it is not on PATH."""
    found = shutil.which(name)
    if found is None:
        u = make_url(url)
        where = f"postgresql://{u.username or ''}@{u.host or ''}{f':{u.port}' if u.port else ''}/{u.database or ''}"
        shown = " ".join(["PGPASSWORD=...", name, f"--dbname={where}", *args])
        raise ConfigError(
            f"{name} is not on PATH: install PostgreSQL's client tools (Debian: apt-get install postgresql-client, "
            f"the same major version as the server) or run by hand, with the password in PGPASSWORD: {shown}"
        )
    return found


def _run(name: str, args: list[str], url: str, database: str | None = None) -> None:
    """Run a PostgreSQL client tool against the URL's server; ConfigError with its first error line on failure."""
    env = {**os.environ, **libpq_env(url, database)}
    try:
        done = subprocess.run(
            [_tool(name, args, url), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{name} did not finish within {TOOL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ConfigError(f"{name} failed: {lines[0] if lines else f'exit code {done.returncode}'}")


def backup_pg(url: str, out: Path) -> LogSummary:
    """pg_dump the live database into `out` (refused if it exists), verified in a scratch database."""
    if out.exists():
        raise InvalidInput(f"{out} already exists: choose a new file name (nothing was written)")
    _tool("pg_dump", [*DUMP_FLAGS, f"--file={out}"], url)  # the command to run by hand names FILE, not the temp file
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        _run("pg_dump", [*DUMP_FLAGS, f"--file={tmp}"], url)
        summary = verify_pg_dump(url, tmp, f"the dump of {make_url(url).database}")
        os.replace(tmp, out)
        return summary
    finally:
        tmp.unlink(missing_ok=True)


def verify_pg_dump(url: str, dump: Path, what: str | None = None) -> LogSummary:
    """Restore `dump` into a scratch database beside the URL's, verify it there, drop it."""
    what = what or f"backup {dump}"
    scratch = f"serac_verify_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
    except sa.exc.DBAPIError as exc:
        raise ConfigError(f"cannot verify the dump: creating a scratch database failed ({exc.orig})") from None
    try:
        try:
            _run("pg_restore", [*RESTORE_FLAGS, f"--dbname={scratch}", str(dump)], url, scratch)
        except ConfigError as exc:
            raise InvalidInput(f"{what} cannot be restored ({exc}); nothing was changed") from None
        engine = create_engine(make_url(url).set(database=scratch).render_as_string(hide_password=False))
        try:
            with engine.connect() as conn, conn.begin():
                return verify_log(conn, what)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.dispose()


def restore_pg(url: str, dump: Path) -> tuple[LogSummary, Path]:
    """Replace the live database's contents with a verified dump; returns (the restored log's figures, the dump
    of the replaced contents)."""
    verify_pg_dump(url, dump)
    engine = create_engine(url)
    try:
        refuse_if_connected(engine)
        kept = dump.with_name(f"{dump.stem}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.dump")
        _run("pg_dump", [*DUMP_FLAGS, f"--file={kept}"], url)
        _run(
            "pg_restore",
            ["--clean", "--if-exists", *RESTORE_FLAGS, f"--dbname={make_url(url).database}", str(dump)],
            url,
        )
        with engine.connect() as conn, conn.begin():
            return verify_log(conn, "the restored log"), kept
    finally:
        engine.dispose()


def refuse_if_connected(engine: sa.Engine) -> None:
    """StateConflict when another session (a running server, a CLI command) is connected to the database."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with engine.connect() as conn:
        others = conn.exec_driver_sql(query).scalar()
    if others:
        raise StateConflict(
            f"{others} other session(s) are connected to the edit log's database (a running server?): stop every "
            "server and command using it, then restore again; nothing was changed"
        )
