"""The `audit` command: `audit verify` checks the audit log's hash chain; `audit show` prints rows."""

from __future__ import annotations

import argparse
import json

from cli import Command
from cli.context import open_repository
from core.config import SeracConfig
from core.errors import StateConflict


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    sub.add_parser("verify", help="recompute the hash chain; exit 1 at the first altered, removed or reordered row")
    show = sub.add_parser("show", help="print audit rows, newest first")
    show.add_argument("--edit", type=int, help="only rows about this edit id")
    show.add_argument("--limit", type=int, default=50)


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    repo = open_repository(config)
    if args.audit_action == "show":
        for e in repo.audit_entries(edit_id=args.edit, limit=args.limit):
            print(
                json.dumps(
                    {
                        "id": e.id,
                        "at": e.at.isoformat(),
                        "actor": e.actor,
                        "action": e.action,
                        "edit_id": e.edit_id,
                        "before": e.before,
                        "after": e.after,
                        "reason": e.reason,
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    check = repo.verify_audit()
    if not check.ok:
        raise StateConflict(f"audit log tampered: row {check.first_bad_id}: {check.problem}")
    print(f"audit log intact: {check.rows} rows, hash chain verified")
    return 0


COMMANDS = [Command("audit", "audit log: 'verify' the hash chain or 'show' rows", _args, _run)]
