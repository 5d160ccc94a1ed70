"""Readers for edit files: JSONL, CSV, and the CounterFact / zsRE JSON benchmarks.

Each reader yields EditCase rows (an edit draft plus its in-scope and out-of-scope probes) or a
per-line error; a bad line never stops the others from being reported.

Formats:
- counterfact: JSON list of {prompt, target_new, subject, ground_truth, rephrase_prompt,
  locality_prompt, locality_ground_truth}; edit = prompt -> target_new.
- zsre: JSON list of {src, alt, subject, rephrase, loc, loc_ans, answers}; edit = src -> alt.
- jsonl: one object per line, either {prompt, target[, subject, notes, paraphrases, unrelated]}
  or a CounterFact / zsRE record.
- csv: a header with prompt,target and optionally subject,notes.

A path may end with a Python slice of its records, `dev.json[300:]` or `dev.json[:300]`: training
and evaluation name their disjoint splits of one file this way (`split_path`).

`EditRecords` streams a file's records one at a time, as often as asked (a bulk import reads a
100,000-record file three times: validate, check conflicts, write), from the text read once, so memory
holds the file's text and one record, never one object per record; `read_edit_file` collects them.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from core.errors import InvalidInput
from core.types import EditDraft

FORMATS = ("auto", "jsonl", "csv", "counterfact", "zsre")


@dataclass(frozen=True)
class EditCase:
    """One benchmark or import record: the edit and the probes that come with it."""

    edit: EditDraft
    paraphrases: tuple[str, ...] = ()
    unrelated: tuple[str, ...] = ()
    old_target: str | None = None
    unrelated_answers: tuple[str, ...] = ()


@dataclass
class ReadResult:
    """What a file held: good cases with their numbers, and errors by number. `unit` says what the numbers
    count: "line" for JSONL and CSV, "record" for a JSON list (CounterFact, zsRE), where record 4 may sit on
    any line."""

    cases: list[tuple[int, EditCase]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    unit: str = "line"


def place(unit: str, number: int) -> str:
    """'line 4' or 'record 4': a record's place in its file, as the UI names it."""
    return f"{unit} {number}"


def located(path: str | Path, unit: str, number: int) -> str:
    """'edits.jsonl:4' for a line (as compilers write it), 'cf.json: record 4' for a record of a JSON list."""
    return f"{path}:{number}" if unit == "line" else f"{path}: {place(unit, number)}"


_SLICE = re.compile(r"^(?P<path>.+)\[(?P<start>\d*):(?P<stop>\d*)\]$")


def split_path(spec: str | Path) -> tuple[Path, slice]:
    """'dev.json[300:]' -> (Path('dev.json'), slice(300, None)); a plain path -> (path, slice(None))."""
    match = _SLICE.match(str(spec))
    if match is None or Path(str(spec)).exists():
        return Path(spec), slice(None)
    start, stop = (int(match[k]) if match[k] else None for k in ("start", "stop"))
    return Path(match["path"]), slice(start, stop)


def read_edit_file(path: str | Path, fmt: str = "auto", limit: int | None = None) -> ReadResult:
    """Parse a whole file (or the slice of its records named by `split_path`); raises InvalidInput
    only when the file as a whole is unusable."""
    records = EditRecords.open(path, fmt, limit)
    result = ReadResult(unit=records.unit)
    for number, case in records:
        (result.errors if isinstance(case, str) else result.cases).append((number, case))
    return result


@dataclass(frozen=True)
class EditRecords:
    """A file's records, read again from its text on each iteration: (number, EditCase), or (number, the problem)
    for a record that cannot be read. `unit` says what the numbers count (ReadResult). Iterating raises
    InvalidInput when the file as a whole is unusable (invalid JSON: found where the parse reaches it)."""

    text: str = field(repr=False)
    fmt: str
    path: Path
    part: slice
    limit: int | None = None

    @classmethod
    def open(cls, path: str | Path, fmt: str = "auto", limit: int | None = None) -> EditRecords:
        path, part = split_path(path)
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        text = _read_text(path)
        return cls(text, sniff_format(path, text) if fmt == "auto" else fmt, path, part, limit)

    @property
    def unit(self) -> str:
        return "record" if self.fmt in ("counterfact", "zsre") else "line"

    def __iter__(self) -> Iterator[tuple[int, EditCase | str]]:
        items = _json_items(self.text, self.path) if self.unit == "record" else None
        if items is not None:
            source = enumerate(items, 1)
        else:
            source = _jsonl_rows(self.text) if self.fmt == "jsonl" else _csv_rows(self.text)
        source = itertools.islice(source, self.part.start, self.part.stop)
        for number, row in itertools.islice(source, self.limit):
            yield number, _case_or_problem(row, self.fmt)
        for _ in items or ():  # the rest of a JSON list is parsed too: a file broken past the slice is refused
            pass


def sniff_format(path: Path, text: str) -> str:
    """Guess the format from the extension and the first record."""
    if path.suffix.lower() == ".csv":
        return "csv"
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInput(f"{path}: file is empty")
    if stripped.startswith("["):
        first = next(_json_items(text, path), None)
        return "zsre" if isinstance(first, dict) and "src" in first else "counterfact"
    if stripped.startswith("{"):
        return "jsonl"
    raise InvalidInput(f"{path}: cannot tell the format; use a .csv, .jsonl or JSON list file, or pass --format")


def case_from_record(row: object, fmt: str) -> EditCase:
    """One record of any supported shape to an EditCase; InvalidInput says what is wrong."""
    if not isinstance(row, dict):
        raise InvalidInput("record is not an object")
    if fmt == "zsre" or ("src" in row and "alt" in row):
        return _zsre_case(row)
    if fmt == "counterfact" or "target_new" in row:
        return _counterfact_case(row)
    return _plain_case(row)


def _case_or_problem(row: object, fmt: str) -> EditCase | str:
    if isinstance(row, InvalidInput):
        return str(row)
    try:
        return case_from_record(row, fmt)
    except InvalidInput as exc:
        return str(exc)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a directory, not a file") from None
    except PermissionError:
        raise InvalidInput(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not valid UTF-8 (byte {exc.start})") from None


def _json_records(text: str, path: Path) -> list:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a JSON list of records")
    return data


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def _json_items(text: str, path: Path) -> Iterator[object]:
    """The items of a JSON list, parsed one at a time (json.loads would hold them all at once). Anything that is
    not a well-formed list is handed to `_json_records`, whose InvalidInput says what json.loads says."""
    decode, end = json.JSONDecoder().raw_decode, len(text)
    at = _SPACE.match(text).end()
    if not text.startswith("[", at):
        _unusable(text, path)  # invalid JSON, or not a list
    at = _SPACE.match(text, at + 1).end()
    if text.startswith("]", at) and _SPACE.match(text, at + 1).end() == end:
        return
    while True:
        try:
            item, at = decode(text, at)
        except json.JSONDecodeError:
            _unusable(text, path)  # json.loads's message: the first error it meets is this one
        yield item
        at = _SPACE.match(text, at).end()
        if text.startswith(",", at):
            at = _SPACE.match(text, at + 1).end()
        elif text.startswith("]", at) and _SPACE.match(text, at + 1).end() == end:
            return
        else:
            _unusable(text, path)  # a missing comma, or text after the list


def _unusable(text: str, path: Path) -> NoReturn:
    """Raise what `_json_records` says of a text that is not a well-formed JSON list."""
    _json_records(text, path)
    raise InvalidInput(f"{path}: invalid JSON")


def _jsonl_rows(text: str) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, InvalidInput(f"invalid JSON: {exc.msg}")


def _csv_rows(text: str) -> Iterator[tuple[int, object]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"prompt", "target"} <= set(reader.fieldnames):
        raise InvalidInput("CSV needs a header row with at least 'prompt' and 'target' columns")
    try:
        for row in reader:
            extra = row.pop(None, None)
            yield reader.line_num, InvalidInput("more fields than the header has") if extra else row
    except csv.Error as exc:
        yield reader.line_num, InvalidInput(f"malformed CSV: {exc}")


def _text(row: dict, key: str, required: bool = True) -> str | None:
    value = row.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"missing field '{key}'")
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = value[0]
    if not isinstance(value, str):
        raise InvalidInput(f"field '{key}' must be text")
    return value


def _texts(row: dict, key: str) -> tuple[str, ...]:
    value = row.get(key)
    if value is None:
        return ()
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) for v in values):
        raise InvalidInput(f"field '{key}' must be text or a list of texts")
    return tuple(v for v in values if v.strip())


def _counterfact_case(row: dict) -> EditCase:
    edit = EditDraft(_text(row, "prompt"), _text(row, "target_new"), _text(row, "subject", False), _case_note(row))
    return EditCase(
        edit,
        _texts(row, "rephrase_prompt"),
        _texts(row, "locality_prompt"),
        _text(row, "ground_truth", False),
        _texts(row, "locality_ground_truth"),
    )


def _zsre_case(row: dict) -> EditCase:
    edit = EditDraft(_text(row, "src"), _text(row, "alt"), _text(row, "subject", False), None)
    unrelated = tuple(q.removeprefix("nq question: ") for q in _texts(row, "loc"))
    return EditCase(edit, _texts(row, "rephrase"), unrelated, _text(row, "pred", False), _texts(row, "loc_ans"))


def _plain_case(row: dict) -> EditCase:
    edit = EditDraft(
        _text(row, "prompt"), _text(row, "target"), _text(row, "subject", False), _text(row, "notes", False)
    )
    return EditCase(edit, _texts(row, "paraphrases"), _texts(row, "unrelated"))


def _case_note(row: dict) -> str | None:
    return f"CounterFact case {row['case_id']}" if "case_id" in row else None
