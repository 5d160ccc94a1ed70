"""The `backup` command, and `restore FILE` (reached through `restore`, which also restores an edit by id).

`backup FILE` writes a consistent, verified copy of the edit log while servers keep writing (SQLite's online
backup; pg_dump for PostgreSQL, its password in PGPASSWORD) and prints its edits, audit rows and head;
`backup --check FILE` verifies an existing backup. `restore FILE` refuses a backup that fails verification and a
log another process has open (stop the servers first), keeps the replaced log beside it and prints where.
"""

from __future__ import annotations

import argparse

from cli import Command
from core.config import SeracConfig
from services import backups


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the backup to write: a new SQLite file, or a pg_dump archive for PostgreSQL")
    p.add_argument("--check", action="store_true", help="verify an existing backup FILE instead of writing one")


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    if args.check:
        summary = backups.verify(config.db_url, args.file)
        print(f"backup {args.file} verified: {summary.line()}")
        return 0
    summary = backups.backup(config.db_url, args.file)
    print(f"backup written to {args.file} and verified: {summary.line()}")
    print("keep that head outside the backup: `app.py audit verify --head ID:HASH` on a restored log checks it")
    return 0


def restore_file(file: str, config: SeracConfig) -> int:
    """`restore FILE`: replace the edit log with a verified backup."""
    restored = backups.restore(config.db_url, file)
    if restored.kept:
        print(f"the replaced edit log was kept in {restored.kept}")
    print(f"restored the edit log from {file}: {restored.summary.line()}")
    print("servers started now build their index from it; a server still running rebuilds at its next sync")
    return 0


COMMANDS = [Command("backup", "write a verified, consistent backup of the edit log while it is in use", _args, _run)]
