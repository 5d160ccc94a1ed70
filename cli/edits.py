"""Edit-log commands: add, import, list, retire, restore. `add` and `import` apply the one conflict rule
(services.conflicts) as the UI and the API do: against active edits that needs the scope classifier (the
models load, about ten seconds); into a log with no active edit only the drafts themselves can clash, so no
model is loaded. `list`, `retire` and `restore` load no model; `restore FILE` (not digits) is cli.backup's."""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial

from cli import Command, backup
from cli.context import open_log, open_repository, open_services
from core.config import SeracConfig
from core.datasets import FORMATS, EditRecords, located
from core.errors import InvalidInput
from core.progress import terminal_progress
from core.types import EditDraft
from services.conflicts import RESOLUTIONS, find_conflicts, settle
from services.imports import IMPORT_BATCH, RejectedRecords, import_validated, validate


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="the edit's input, e.g. 'The mother tongue of Danielle Darrieux is'")
    p.add_argument("target", help="its new output, e.g. 'English'")
    p.add_argument("--subject", help="the entity the edit is about")
    p.add_argument("--notes", help="a note kept with the edit")
    _conflict_args(p, "the edit")


def _conflict_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--on-conflict",
        choices=RESOLUTIONS,
        default="refuse",
        help=f"when {what} has an active edit's prompt or falls in its scope: refuse (default; nothing saved), "
        "replace (the contradicted edits take the new target), retire (retire them, save the new one) or keep "
        "(both stay active; needs --reason)",
    )
    p.add_argument("--reason", help="why (kept in the audit log); required with --on-conflict keep")


def _checker(config: SeracConfig):
    """What the conflict rule routes with: the bare edit log while it holds no active edit, else Services."""
    log = open_log(config)
    return open_services(config) if log.repository.count_edits("active") else log


def _add(args: argparse.Namespace, config: SeracConfig) -> int:
    draft = open_repository(config).clean_draft(EditDraft(args.prompt, args.target, args.subject, args.notes))
    services = _checker(config)
    conflicts = find_conflicts(services, [draft])[0]
    added, changed = settle(services, draft, conflicts, args.user, args.on_conflict, args.reason)
    for edit in changed:
        verb = "retired" if edit.status == "retired" else "changed"
        print(f"{verb} edit #{edit.id}: {edit.prompt!r} -> {edit.target!r}")
    if added:
        print(f"added edit #{added.id}: {added.prompt!r} -> {added.target!r}")
    return 0


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="JSONL, CSV, or a CounterFact / zsRE JSON file")
    p.add_argument("--format", choices=FORMATS, default="auto", help="file format (default: guess)")
    p.add_argument("--limit", type=int, help="import only the first N records")
    p.add_argument(
        "--batch-size", type=int, default=IMPORT_BATCH, help=f"edits per transaction (default {IMPORT_BATCH})"
    )
    p.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the valid records and report the rejected ones (default: reject the whole file)",
    )
    _conflict_args(p, "a record")


def _import(args: argparse.Namespace, config: SeracConfig) -> int:
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1):
        raise InvalidInput("--batch-size and --limit must be positive")
    records = EditRecords.open(args.file, args.format, args.limit)  # streamed: one record at a time
    checked = validate(records, open_repository(config), records.unit)
    if checked.rejected and not args.skip_invalid:  # before any model loads for the conflict check
        raise _refused(args.file, RejectedRecords(checked.rejected, checked.total, checked.unit))
    try:
        result = import_validated(
            _checker(config),
            checked,
            args.user,
            args.reason or f"import {args.file}",
            args.skip_invalid,
            args.batch_size,
            partial(terminal_progress, unit="edit"),
            args.on_conflict,
        )
    except RejectedRecords as exc:
        raise _refused(args.file, exc) from None
    _print_rejected(args.file, result.rejected, result.unit)
    print(
        f"imported {result.imported} edits with {result.probes} probe prompts from {args.file}"
        + (f"; rejected {len(result.rejected)}" if result.rejected else "")
    )
    return 0


def _refused(path: str, exc: RejectedRecords) -> InvalidInput:
    """Print each rejected record; the one-line error the command exits with."""
    _print_rejected(path, exc.rejected, exc.unit)
    return InvalidInput(f"{exc}; fix them, or pass --skip-invalid")


def _print_rejected(path: str, rejected: list[tuple[int, str]], unit: str) -> None:
    for number, message in rejected:
        print(f"{located(path, unit, number)}: rejected: {message}", file=sys.stderr)


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--status", choices=("active", "retired"), help="only edits with this status")
    p.add_argument("--search", help="only edits whose prompt, target or subject contains this text")
    p.add_argument("--limit", type=int, default=None, help="at most N edits")
    p.add_argument("--json", action="store_true", help="one JSON object per line")


def _list(args: argparse.Namespace, config: SeracConfig) -> int:
    edits = open_repository(config).list_edits(args.status, args.search, limit=args.limit)
    for e in edits:
        print(json.dumps(e.to_dict()) if args.json else f"#{e.id:<6} {e.status:<8} {e.prompt!r} -> {e.target!r}")
    if not args.json:
        print(f"{len(edits)} edit(s)", file=sys.stderr)
    return 0


def _state_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=int, help="edit id")
    p.add_argument("--reason", help="why (kept in the audit log)")


def _retire(args: argparse.Namespace, config: SeracConfig) -> int:
    edit = open_log(config).retire(args.id, args.user, args.reason)
    print(f"retired edit #{edit.id}")
    return 0


def _restore_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "id", metavar="ID|FILE", help="an edit id, or a backup file written by `backup` (e.g. ./7 for a file)"
    )
    p.add_argument("--reason", help="why (kept in the audit log; with an edit id)")


def _restore(args: argparse.Namespace, config: SeracConfig) -> int:
    """An edit id (digits) restores that edit; anything else is a backup FILE replacing the whole log."""
    if not args.id.strip().isdigit():
        return backup.restore_file(args.id, config)
    edit = open_log(config).restore(int(args.id), args.user, args.reason)
    print(f"restored edit #{edit.id}")
    return 0


COMMANDS = [
    Command("add", "add one edit: PROMPT now answers TARGET", _add_args, _add),
    Command("import", "import edits from a JSONL, CSV, CounterFact or zsRE file", _import_args, _import),
    Command("list", "list edits", _list_args, _list),
    Command("retire", "retire an edit (it stops routing; undo with restore)", _state_args, _retire),
    Command(
        "restore", "restore a retired edit (ID), or the whole edit log from a backup FILE", _restore_args, _restore
    ),
]
