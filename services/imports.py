"""Importing an edit file, the same way from the CLI and the UI: read, validate every record once, check
conflicts batch by batch, then save in batches; each record's paraphrases and unrelated prompts are kept as
the edit's probe prompts.

Conflicts follow the one rule (services.conflicts), checked for every record before anything is written:
a record whose prompt is an active edit's prompt or falls in its scope is rejected with the reason
(`on_conflict="refuse"`, the default) or settled as `on_conflict` says (replace, retire, keep: each such
record in its own transaction, after the conflict-free ones); two records of the file with the same prompt
and different targets are always rejected (found by one dict over the whole file).

Scale (a 100,000-record CounterFact file, `app.py bench --import-edits`): each record is validated once
(`validate`, which the CLI runs before any model loads and hands on), its probe rows made once; the check
against active edits routes one batch of CHECK_BATCH records at a time (one routing pass per batch), and
only the batch's decisions are held, never the whole file's; both phases move a progress bar (records done
of all, so a terminal shows the rate and the time left).

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
from core.types import EditDraft
from db.probe_prompts import clean_probe
from db.repository import EditRepository
from services.conflicts import RESOLUTIONS, Conflicts, contradicting_drafts, find_conflicts, settle

IMPORT_BATCH = 500  # edits per write transaction (the CLI's --batch-size)
CHECK_BATCH = 128  # records per routing pass of the conflict check (a progress step with models: seconds)
ProbeRows = tuple[tuple[str, str], ...]  # (prompt, expect) of one record: paraphrases 'in', unrelated 'out'


@dataclass(frozen=True)
class ImportRecord:
    """One valid record, cleaned: its number in the file, the edit, and its probe rows."""

    number: int
    edit: EditDraft
    probes: ProbeRows


@dataclass(frozen=True)
class Validated:
    """A read file after validation: the valid records in file order and (number, problem) per rejected one."""

    records: list[ImportRecord]
    rejected: list[tuple[int, str]]
    unit: str = "line"  # what the numbers count: "line" or "record" (core.datasets.ReadResult)

    @property
    def total(self) -> int:
        return len(self.records) + len(self.rejected)


@dataclass(frozen=True)
class ImportResult:
    imported: int = 0
    probes: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0  # records read, good and rejected
    unit: str = "line"  # what the numbers in `rejected` count: "line" or "record" (core.datasets.ReadResult)


def validate(read: ReadResult, repository: EditRepository) -> Validated:
    """Every record's edit and probe prompts checked and cleaned, once (the repository's rules)."""
    records, rejected = [], list(read.errors)
    for number, case in read.cases:
        try:
            records.append(_clean_record(number, case, repository))
        except InvalidInput as exc:
            rejected.append((number, str(exc)))
    return Validated(records, sorted(rejected), read.unit)


def _clean_record(number: int, case: EditCase, repository: EditRepository) -> ImportRecord:
    probes = tuple(clean_probe(p, x, repository.max_chars) for p, x in probe_rows(case))
    return ImportRecord(number, repository.clean_draft(case.edit), probes)


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
    """Validate what `read` holds and save it (import_validated)."""
    return import_validated(
        log, validate(read, log.repository), actor, reason, skip_invalid, batch, progress, on_conflict
    )


def import_validated(
    log,
    checked: Validated,
    actor: str,
    reason: str,
    skip_invalid: bool = False,
    batch: int = IMPORT_BATCH,
    progress: ProgressFactory = NoProgress,
    on_conflict: str = "refuse",
) -> ImportResult:
    """Save the valid records through `log` (Services: the conflict check needs the scope classifier; a bare
    EditLog while the log holds no active edit); RejectedRecords when a record is rejected and not
    `skip_invalid`, InvalidInput when nothing is left."""
    if batch < 1:
        raise InvalidInput(f"batch size must be positive, got {batch}")
    if on_conflict not in RESOLUTIONS:
        raise InvalidInput(f"on_conflict must be one of {', '.join(RESOLUTIONS)}, got {on_conflict!r}")
    rejected = list(checked.rejected)
    clean, unsettled = _split_conflicts(log, checked, on_conflict, rejected, progress)
    rejected.sort()
    if rejected and not (skip_invalid and (clean or unsettled)):
        raise RejectedRecords(rejected, checked.total, checked.unit)
    if not clean and not unsettled:
        raise InvalidInput("the file holds no records")
    imported, probes = _write(log, clean, unsettled, actor, reason, batch, progress, on_conflict)
    return ImportResult(imported, probes, rejected, checked.total, checked.unit)


def _write(log, clean, unsettled, actor, reason, batch, progress, on_conflict) -> tuple[int, int]:
    """The conflict-free records in transactions of `batch`, then each settled one alone: (edits, probes)."""
    imported = probes = 0
    bar = progress(total=len(clean) + len(unsettled), desc="importing")
    try:
        for start in range(0, len(clean), batch):
            chunk = clean[start : start + batch]
            added = log.add_edits(
                [r.edit for r in chunk], actor, action="import", reason=reason, probes=[r.probes for r in chunk]
            )
            imported += len(added)
            probes += sum(len(r.probes) for r in chunk)
            bar.update(len(chunk))
        for record, conflicts in unsettled:
            added, _ = settle(log, record.edit, conflicts, actor, on_conflict, reason, record.probes)
            imported += added is not None
            probes += len(record.probes) if added is not None else 0
            bar.update(1)
    finally:
        bar.close()
    return imported, probes


def _split_conflicts(log, checked: Validated, on_conflict: str, rejected: list, progress: ProgressFactory):
    """(conflict-free records, (record, conflicts) to settle); conflicting records that are not settled are
    appended to `rejected` with their number (a line or record of the file) and the reason. Checked against
    the active edits CHECK_BATCH records per routing pass; against the rest of the file by one dict."""
    records = checked.records
    in_file = contradicting_drafts([r.edit for r in records])
    clean, unsettled = [], []
    bar = progress(total=len(records), desc="checking conflicts")
    try:
        for start in range(0, len(records), CHECK_BATCH):
            chunk = records[start : start + CHECK_BATCH]
            for n, (record, found) in enumerate(zip(chunk, find_conflicts(log, [r.edit for r in chunk])), start):
                conflicts = replace(found, in_batch=in_file.get(n, ()))
                _sort(record, conflicts, on_conflict, checked, clean, unsettled, rejected)
            bar.update(len(chunk))
    finally:
        bar.close()
    return clean, unsettled


def _sort(record: ImportRecord, conflicts: Conflicts, on_conflict: str, checked: Validated, *out: list) -> None:
    """Put the record in clean, unsettled or rejected (`out`, in that order) by its conflicts."""
    clean, unsettled, rejected = out
    if not conflicts.any:
        clean.append(record)
    elif conflicts.in_batch:
        others = ", ".join(str(checked.records[p].number) for p in conflicts.in_batch)
        rejected.append((record.number, f"contradicts {checked.unit}(s) {others} of this file"))
    elif on_conflict == "refuse":
        rejected.append((record.number, f"this edit {conflicts.summary()}"))
    else:
        unsettled.append((record, conflicts))


class RejectedRecords(InvalidInput):
    """Some records are invalid and the import is all-or-nothing: nothing was written."""

    def __init__(self, rejected: list[tuple[int, str]], total: int, unit: str = "line"):
        super().__init__(f"{len(rejected)} of {total} records rejected; nothing imported")
        self.rejected, self.total, self.unit = rejected, total, unit
