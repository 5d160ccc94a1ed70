"""Importing an edit file, the same way from the CLI and the UI: read, validate every record, then save
in batches; each record's paraphrases and unrelated prompts are kept as the edit's probe prompts.

Conflicts follow the one rule (services.conflicts), checked for every record before anything is written:
a record whose prompt is an active edit's prompt or falls in its scope is rejected with the reason
(`on_conflict="refuse"`, the default) or settled as `on_conflict` says (replace, retire, keep: each such
record in its own transaction, after the conflict-free ones); two records of the file with the same prompt
and different targets are always rejected.

Invariants:
- all-or-nothing unless `skip_invalid`: one rejected record writes nothing;
- an edit and its probe prompts commit in one transaction (EditLog.add_edits with probes);
- the result says what was imported and lists each rejected record by its number, with `unit` saying what
  the numbers count: lines of a JSONL or CSV file, records of a JSON list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from core.datasets import EditCase, ReadResult
from core.errors import InvalidInput
from core.progress import NoProgress, ProgressFactory
from db.probe_prompts import clean_probe
from db.repository import EditRepository
from services.conflicts import RESOLUTIONS, find_conflicts, settle

IMPORT_BATCH = 500


@dataclass(frozen=True)
class ImportResult:
    imported: int = 0
    probes: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0  # records read, good and rejected
    unit: str = "line"  # what the numbers in `rejected` count: "line" or "record" (core.datasets.ReadResult)


def validate(read: ReadResult, repository: EditRepository) -> tuple[list[EditCase], list[tuple[int, str]]]:
    """(records whose edit and probe prompts are valid, cleaned; (line, problem) for every rejected one)."""
    good, rejected = [], list(read.errors)
    for line, case in read.cases:
        try:
            good.append(_clean_case(case, repository))
        except InvalidInput as exc:
            rejected.append((line, str(exc)))
    return good, sorted(rejected)


def _clean_case(case: EditCase, repository: EditRepository) -> EditCase:
    clean = [clean_probe(p, x, repository.max_chars) for p, x in probe_rows(case)]
    return replace(
        case,
        edit=repository.clean_draft(case.edit),
        paraphrases=tuple(p for p, x in clean if x == "in"),
        unrelated=tuple(p for p, x in clean if x == "out"),
    )


def probe_rows(case: EditCase) -> list[tuple[str, str]]:
    """(prompt, expect) probe prompts a record brings: paraphrases in scope, unrelated prompts out of it."""
    return [(p, "in") for p in case.paraphrases] + [(p, "out") for p in case.unrelated]


def import_read(
    log,
    read: ReadResult,
    actor: str,
    reason: str,
    skip_invalid: bool = False,
    batch: int = IMPORT_BATCH,
    progress: ProgressFactory = NoProgress,
    on_conflict: str = "refuse",
) -> ImportResult:
    """Save what `read` holds through `log` (Services: the conflict check needs the scope classifier);
    RejectedRecords when a record is rejected and not `skip_invalid`, InvalidInput when nothing is left."""
    if batch < 1:
        raise InvalidInput(f"batch size must be positive, got {batch}")
    if on_conflict not in RESOLUTIONS:
        raise InvalidInput(f"on_conflict must be one of {', '.join(RESOLUTIONS)}, got {on_conflict!r}")
    good, rejected = validate(read, log.repository)
    total = len(good) + len(rejected)
    refused = {line for line, _ in rejected}
    lines = [line for line, _ in read.cases if line not in refused]  # the good records' lines, in order
    clean, unsettled = _split_conflicts(log, good, lines, on_conflict, rejected, read.unit)
    rejected.sort()
    if rejected and not (skip_invalid and (clean or unsettled)):
        raise RejectedRecords(rejected, total, read.unit)
    if not clean and not unsettled:
        raise InvalidInput("the file holds no records")
    imported = probes = 0
    bar = progress(total=len(clean) + len(unsettled), desc="importing")
    try:
        for start in range(0, len(clean), batch):
            chunk = clean[start : start + batch]
            added = log.add_edits(
                [c.edit for c in chunk], actor, action="import", reason=reason, probes=[probe_rows(c) for c in chunk]
            )
            imported += len(added)
            probes += sum(len(probe_rows(c)) for c in chunk)
            bar.update(len(chunk))
        for case, conflicts in unsettled:
            added, _ = settle(log, case.edit, conflicts, actor, on_conflict, reason, probe_rows(case))
            imported += added is not None
            probes += len(probe_rows(case)) if added is not None else 0
            bar.update(1)
    finally:
        bar.close()
    return ImportResult(imported, probes, rejected, total, read.unit)


def _split_conflicts(log, good: list[EditCase], lines: list[int], on_conflict: str, rejected: list, unit: str):
    """(conflict-free records, (record, conflicts) to settle); conflicting records that are not settled are
    appended to `rejected` with their number (a `unit`: line or record) and the reason."""
    found = find_conflicts(log, [c.edit for c in good])
    clean, unsettled = [], []
    for line, case, conflicts in zip(lines, good, found):
        if not conflicts.any:
            clean.append(case)
        elif conflicts.in_batch:
            rejected.append((line, f"contradicts {unit}(s) {_lines(conflicts.in_batch, lines)} of this file"))
        elif on_conflict == "refuse":
            rejected.append((line, f"this edit {conflicts.summary()}"))
        else:
            unsettled.append((case, conflicts))
    return clean, unsettled


def _lines(positions: tuple[int, ...], lines: list[int]) -> str:
    return ", ".join(str(lines[p]) for p in positions)


class RejectedRecords(InvalidInput):
    """Some records are invalid and the import is all-or-nothing: nothing was written."""

    def __init__(self, rejected: list[tuple[int, str]], total: int, unit: str = "line"):
        super().__init__(f"{len(rejected)} of {total} records rejected; nothing imported")
        self.rejected, self.total, self.unit = rejected, total, unit
