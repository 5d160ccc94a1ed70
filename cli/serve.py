"""The `serve` command (also what `python app.py` runs with no subcommand): the UI and API on HOST:PORT.

Invariant: a server never serves an edit log whose tables disagree with its audit log: `audit verify` (the hash
chain and the replay, about 1 s for 10,000 edits, 26 s in two processes for a million at load 2.6) runs in worker
processes while the models and the index load, the server waits for it before it serves or creates a user, and a
failure stops the start with the problems listed (exit 2). A clean shutdown snapshots the index
(services.index_cache)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cli import Command
from cli.context import open_services, open_users, serve_forever
from cli.log_check import LogCheck
from core.config import SeracConfig
from core.openmp import in_passing_thread
from webapp.auth import UserStore, ensure_first_user

if TYPE_CHECKING:
    from services.services import Services


def _args(p: argparse.ArgumentParser) -> None:
    """serve takes only the global options (--host, --port, --db, models)."""


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    services = start_serving(config)
    users = open_users(config)
    secret = first_start(users, Path(config.users_file))
    if secret is not None:
        print(
            f"first start: created curator 'admin' in the edit log; its password is in {secret} "
            "(readable by you only; delete it once noted; add users with `app.py user add NAME`)",
            file=sys.stderr,
        )
    print(
        f"{len(services.editor.memory)} active edits indexed; serving on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    serve_forever(services, users, args.host, args.port)
    if services.save_index_snapshot():  # a clean shutdown: the next start reads the index instead of building it
        print(f"index snapshot written to {services.index_cache.path}", file=sys.stderr)
    return 0


def start_serving(config: SeracConfig, timings: dict | None = None) -> Services:
    """The models and the index loaded (on a passing thread, core.openmp) while worker processes verify the audit
    log (cli.log_check); returns only when the log passed, else raises with the problems listed. `timings`, when
    given, gets the seconds each took ("verify_s", "services_s": models and index, "wait_s": the wait for the check
    after them)."""
    started = time.perf_counter()
    check = LogCheck(config)
    try:
        # loaded on a thread that then ends: the main thread, which serves for the process's life, must own no
        # OpenMP pool, or every decode step of the batcher's thread wakes sleeping helpers (core.openmp)
        services = in_passing_thread(lambda: open_services(config), "serac-load")
    except BaseException:
        check.stop()
        raise
    loaded = time.perf_counter()
    check.wait()
    if timings is not None:
        timings.update(verify_s=check.seconds, services_s=loaded - started, wait_s=time.perf_counter() - loaded)
    return services


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
