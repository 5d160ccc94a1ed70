"""The `audit` command: `audit verify` checks the audit log's hash chain and replays its rows against the edits,
probe prompts and settings (and, with --head, that a head kept elsewhere is still there); `audit head` prints
that head; `audit show` prints rows. A failed check exits non-zero with each problem on stderr."""

from __future__ import annotations

import argparse
import json

from cli import Command
from cli.context import open_repository
from core.config import SeracConfig
from core.errors import StateConflict
from db.audit import GENESIS, ChainCheck
from db.replay import MAX_PROBLEMS


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="audit_action", required=True, metavar="ACTION")
    verify = sub.add_parser(
        "verify",
        help="recompute the hash chain and replay the audit rows against the edits, probe prompts and settings; "
        "exit non-zero at an altered, removed or reordered row or a table that disagrees with the audit",
    )
    verify.add_argument(
        "--head",
        metavar="ID:HASH",
        help="a head printed earlier by `audit head` and kept elsewhere: fail if that row is gone or differs "
        "(rows cut from the end of the log)",
    )
    sub.add_parser("head", help="print the newest audit row as ID:HASH (one line to keep outside the database)")
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
    if args.audit_action == "head":
        print(repo.audit_head() or "0:" + GENESIS)
        return 0
    check = repo.verify_audit(head=args.head)
    if not check.ok:
        raise StateConflict(tamper_report(check))
    kept = ", the kept head is there" if args.head else ""
    print(f"audit log intact: {check.rows} rows, hash chain verified, the tables agree with the audit{kept}")
    return 0


def tamper_report(check: ChainCheck) -> str:
    """What verify found: the first problem on the first line, each further one on a line of its own."""
    problems = [] if check.first_bad_id is None else [f"row {check.first_bad_id}: {check.problem}"]
    problems += list(check.mismatches)
    shown = problems[:MAX_PROBLEMS] + (
        [f"... and {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else []
    )
    more = f" ({len(problems) - 1} more below)" if len(problems) > 1 else ""
    return f"audit log tampered: {shown[0]}{more}" + "".join(f"\n  {p}" for p in shown[1:])


COMMANDS = [Command("audit", "audit log: 'verify' the hash chain or 'show' rows", _args, _run)]
