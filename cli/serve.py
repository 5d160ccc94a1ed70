"""The `serve` command (also what `python app.py` runs with no subcommand): the UI and API on HOST:PORT.

Invariant: a server never serves an edit log whose tables disagree with its audit log: `audit verify` (the hash
chain and the replay, about 1 s for 10,000 edits) runs before the models load, and a failure stops the start
with the problems listed (exit 2)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cli import Command
from cli.audit import tamper_report
from cli.context import open_repository, open_services, open_users, serve_forever
from core.config import SeracConfig
from core.errors import StateConflict
from webapp.auth import UserStore, ensure_first_user


def _args(p: argparse.ArgumentParser) -> None:
    """serve takes only the global options (--host, --port, --db, models)."""


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    check_log_at_start(config)
    users = open_users(config)
    secret = first_start(users, Path(config.users_file))
    if secret is not None:
        print(
            f"first start: created curator 'admin' in the edit log; its password is in {secret} "
            "(readable by you only; delete it once noted; add users with `app.py user add NAME`)",
            file=sys.stderr,
        )
    services = open_services(config)
    print(
        f"{len(services.editor.memory)} active edits indexed; serving on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    serve_forever(services, users, args.host, args.port)
    return 0


def check_log_at_start(config: SeracConfig) -> None:
    """Refuse to serve a log that fails `audit verify`: an edit changed in the table behind the app's back would
    otherwise go live with this start."""
    started = time.perf_counter()
    check = open_repository(config).verify_audit()
    if not check.ok:
        raise StateConflict(
            tamper_report(check) + "\nnot serving this edit log: see `app.py audit verify`; restore a backup or "
            "undo the change made outside the app"
        )
    print(f"audit log verified: {check.rows} rows in {time.perf_counter() - started:.1f} s", file=sys.stderr)


def first_start(users: UserStore, users_file: Path) -> Path | None:
    """Create the first curator when the database has no users; its password goes to a 0600 file beside the
    (legacy) users file, whose path is returned. Of instances starting together, only the one that created
    the user writes the file; the others return None."""
    password = ensure_first_user(users)
    return None if password is None else _write_secret(Path(f"{users_file}.admin-password"), password)


def _write_secret(path: Path, secret: str) -> Path:
    """Write `secret` to a new file only its owner can read (never to a log or the terminal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    os.chmod(path, 0o600)
    return path


COMMANDS = [Command("serve", "serve the curator UI and API (the default)", _args, _run)]
