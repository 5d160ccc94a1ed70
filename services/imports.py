"""Importing an edit file, the same way from the CLI and the UI: validate every record, check conflicts, then
save in batches; each record's paraphrases and unrelated prompts are kept as the edit's probe prompts.

Conflicts follow the one rule (services.conflicts), checked for every record before anything is written:
a record whose prompt is an active edit's prompt or falls in its scope is rejected with the reason
(`on_conflict="refuse"`, the default) or settled as `on_conflict` says (replace, retire, keep: each such
record in its own transaction, after the conflict-free ones); two records of the file with the same prompt
and different targets are always rejected.

Scale (a 100,000-record CounterFact file: `app.py bench --import-edits`): the records stream. The file's
records are read three times, one at a time (core.datasets.EditRecords, or a ReadResult's list): to validate
them (once per import: the CLI validates before any model loads and hands the result on), to check them
against the active edits (one routing pass per CHECK_BATCH records, only that batch's decisions held), and to
write them in batches. What is kept across the file is small per record: a hash of each prompt (two records
with one hash are then compared by their prompts, so same-prompt contradictions are found exactly), and the
numbers of the rejected records. The check and the writes move a progress bar each (records done of all).

Invariants:
- all-or-nothing unless `skip_invalid`: one rejected record writes nothing;
- an edit and its probe prompts commit in one transaction (EditLog.add_edits with probes);
- the result says what was imported and lists each rejected record by its number, with `unit` saying what
  the numbers count: lines of a JSONL or CSV file, records of a JSON list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from core.datasets import EditCase, ReadResult
from core.errors import InvalidInput
from core.progress import NoProgress, ProgressFactory
from core.text import prompt_key
from core.types import EditDraft
from db.probe_prompts import clean_probe
from db.repository import EditRepository
from services.conflicts import RESOLUTIONS, contradicting_drafts, find_conflicts, settle

IMPORT_BATCH = 500  # edits per write transaction (the CLI's --batch-size)
CHECK_BATCH = 128  # records per routing pass of the conflict check (a progress step with models: seconds)
Records = Iterable[tuple[int, EditCase | str]]  # (number, record or why it cannot be read); iterable again
ProbeRows = tuple[tuple[str, str], ...]  # (prompt, expect) of one record: paraphrases 'in', unrelated 'out'


@dataclass(frozen=True)
class ImportRecord:
    """One valid record, cleaned: its number in the file, the edit, and its probe rows."""

    number: int
    edit: EditDraft
    probes: ProbeRows


@dataclass(frozen=True)
class Validated:
    """A file whose records were validated: (number, problem) per rejected one, how many are valid, and the
    records of the file that contradict each other (number -> the others' numbers)."""

    source: Records = field(repr=False)
    repository: EditRepository = field(repr=False)
    rejected: list[tuple[int, str]]
    valid: int
    in_file: dict[int, tuple[int, ...]]
    unit: str = "line"  # what the numbers count: "line" or "record" (core.datasets.ReadResult)

    @property
    def total(self) -> int:
        return self.valid + len(self.rejected)

    def records(self) -> Iterator[ImportRecord]:
        """The valid records in file order, read again and cleaned (the checks passed once: they pass again)."""
        invalid = {number for number, _ in self.rejected}
        for number, case in self.source:
            if number not in invalid and not isinstance(case, str):
                yield _clean_record(number, case, self.repository)


@dataclass(frozen=True)
class ImportResult:
    imported: int = 0
    probes: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0  # records read, good and rejected
    unit: str = "line"  # what the numbers in `rejected` count: "line" or "record" (core.datasets.ReadResult)


def validate(source: Records, repository: EditRepository, unit: str = "line") -> Validated:
    """Every record's edit and probe prompts checked (the repository's rules), one record at a time."""
    rejected, first_of, valid = [], {}, 0
    twins: set[int] = set()  # records whose prompt hashes like another's
    for number, case in source:
        try:
            if isinstance(case, str):
                raise InvalidInput(case)
            record = _clean_record(number, case, repository)
        except InvalidInput as exc:
            rejected.append((number, str(exc)))
            continue
        valid += 1
        first = first_of.setdefault(hash(prompt_key(record.edit.prompt)), number)
        if first != number:
            twins.update((first, number))
    checked = Validated(source, repository, sorted(rejected), valid, {}, unit)
    return Validated(source, repository, checked.rejected, valid, _contradictions(checked, twins), unit)


def _contradictions(checked: Validated, twins: set[int]) -> dict[int, tuple[int, ...]]:
    """Number -> numbers of the other records with the same prompt and a different target, compared exactly
    among the records whose prompts' hashes met (services.conflicts.contradicting_drafts)."""
    if not twins:
        return {}
    records = [r for r in checked.records() if r.number in twins]
    found = contradicting_drafts([r.edit for r in records])
    return {records[n].number: tuple(records[m].number for m in others) for n, others in found.items()}


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
    source = sorted([*read.cases, *read.errors], key=lambda item: item[0])
    checked = validate(source, log.repository, read.unit)
    return import_validated(log, checked, actor, reason, skip_invalid, batch, progress, on_conflict)


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
    held, unsettled = _check(log, checked, on_conflict, rejected, progress)
    clean = checked.valid - len(held)
    rejected.sort()
    if rejected and not (skip_invalid and (clean or unsettled)):
        raise RejectedRecords(rejected, checked.total, checked.unit)
    if not clean and not unsettled:
        raise InvalidInput("the file holds no records")
    records = (r for r in checked.records() if r.number not in held)
    imported, probes = _write(log, records, clean, unsettled, actor, reason, batch, progress, on_conflict)
    return ImportResult(imported, probes, rejected, checked.total, checked.unit)


def _check(log, checked: Validated, on_conflict: str, rejected: list, progress: ProgressFactory):
    """(numbers of the records not to write in batches, (record, conflicts) to settle one by one); conflicting
    records that are not settled are appended to `rejected` with their number and the reason. Against the
    active edits, one routing pass per CHECK_BATCH records; against the rest of the file, `checked.in_file`."""
    held: set[int] = set()
    unsettled = []
    bar = progress(total=checked.valid, desc="checking conflicts")
    try:
        for chunk in _batches(checked.records(), CHECK_BATCH):
            for record, conflicts in zip(chunk, find_conflicts(log, [r.edit for r in chunk])):
                twins = checked.in_file.get(record.number)
                if twins:
                    others = ", ".join(str(n) for n in twins)
                    rejected.append((record.number, f"contradicts {checked.unit}(s) {others} of this file"))
                elif not conflicts.any:
                    continue
                elif on_conflict == "refuse":
                    rejected.append((record.number, f"this edit {conflicts.summary()}"))
                else:
                    unsettled.append((record, conflicts))
                held.add(record.number)
            bar.update(len(chunk))
    finally:
        bar.close()
    return held, unsettled


def _write(log, records, clean, unsettled, actor, reason, batch, progress, on_conflict) -> tuple[int, int]:
    """The `clean` conflict-free records in transactions of `batch`, then each settled one alone: (edits, probes)."""
    imported = probes = 0
    bar = progress(total=clean + len(unsettled), desc="importing")
    try:
        for chunk in _batches(records, batch):
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


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class RejectedRecords(InvalidInput):
    """Some records are invalid and the import is all-or-nothing: nothing was written."""

    def __init__(self, rejected: list[tuple[int, str]], total: int, unit: str = "line"):
        super().__init__(f"{len(rejected)} of {total} records rejected; nothing imported")
        self.rejected, self.total, self.unit = rejected, total, unit
