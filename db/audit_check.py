"""`audit verify` at scale: the hash chain (db.audit.verify_chain) and the replay (db.replay.replay_problems) of a
large log, split across processes by id range, each row's work kept small.

A row's hash depends only on its own fields and its stored prev_hash, so the chain splits by audit id into parts
checked side by side; the links at the seams (a part's first prev_hash against the previous part's last hash) are
checked when the parts are joined. An edit's replay needs only its own audit rows, so the replay splits by edit id:
each part merges its edits (in id order) with their audit rows (read in (edit_id, id) order from the audit's edit
index), holding one edit's rows at a time. The settings are replayed by the first part.

Invariants:
- the outcome is exactly the serial one's (db.audit.verify_chain, db.replay.replay_problems): the same first bad
  row, the same count of rows, the same problem text, the same mismatches in the same order, whatever the parts;
  tests/test_audit_check.py compares them on every kind of tampering;
- a row's hash is computed from its raw columns; only a row whose fast hash disagrees is hashed again through
  db.audit.row_hash from the row as the serial check reads it, so an odd stored value never passes or fails here
  differently;
- each part reads in one read transaction; the ranges are cut where the log stood when the check started, the last
  one open-ended (rows appended meanwhile are read by it); one part runs in this process, more in spawned
  processes, handed to the `started` callback so a caller can end them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import operator
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from core.errors import EditorError, StateConflict
from db import audit, replay
from db.engine import create_engine, read_transaction
from db.models import audit_log, edits, probe_prompts

PARALLEL_ROWS = 50_000  # below this many audit rows one part in this process is faster than spawning
MAX_PARTS = 4
_STAMP = re.compile(r"[1-9]\d{3}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")  # SQLite's text of an audit row's `at`
_EDIT_ID = operator.itemgetter(3)  # of an audit row as replay_part reads it
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False), without its set-up
_PREV = "prev_hash does not match the previous row (row removed or reordered)"
_ALTERED = "content does not match its hash (row altered)"


@dataclass(frozen=True)
class ChainPart:
    """The chain over one id range: rows read, the first row's id and prev_hash, the last row's hash (None when empty),
    and the first problem inside the range as (its position in the range, 1-based; row id; problem)."""

    rows: int
    first_id: int | None
    first_prev: str | None
    last_hash: str | None
    bad: tuple[int, int, str] | None = None


@dataclass(frozen=True)
class ReplayPart:
    """The replay of one edit id range: problems of the edits in the table (in id order), audited edits missing
    from the table (in id order), the curator probe prompts the audit adds and those the table holds."""

    table: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    audited_probes: Counter = field(default_factory=Counter)
    stored_probes: Counter = field(default_factory=Counter)
    settings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Task:
    """One part's work: a chain range and an edit range (ends excluded), and whether it replays the settings."""

    chain: tuple[int, int | None]
    edits: tuple[int, int | None]
    settings: bool


def verify(
    engine: sa.Engine,
    head: str | None = None,
    parts: int | None = None,
    started: Callable | None = None,
    timeouts: tuple[int | None, int | None] = (None, None),
) -> audit.ChainCheck:
    """What EditRepository.verify_audit reports: the chain, a kept head, the replay. `parts`: how many ranges are
    checked side by side (None: one below PARALLEL_ROWS audit rows, else the CPUs, at most MAX_PARTS); `started`
    is called with the list of running processes so a caller can end them; `timeouts` are the parts' engines'
    (db.engine.create_engine)."""
    with read_transaction(engine) as conn:
        first, last = conn.execute(sa.select(sa.func.min(audit_log.c.id), sa.func.max(audit_log.c.id))).one()
        low, high = _edit_bounds(conn)
        found = [] if head is None else [p for p in [replay.check_head(conn, head)] if p]
        rows = 0 if last is None else last - first + 1
    count = parts or (1 if rows < PARALLEL_ROWS else max(1, min(MAX_PARTS, os.cpu_count() or 1)))
    tasks = [
        Task(c, e, i == 0)
        for i, (c, e) in enumerate(zip(_split(first or 0, (last or 0) + 1, count), _split(low, high, count)))
    ]
    results = [run_task(engine, tasks[0])] if count == 1 else _in_processes(engine, tasks, started, timeouts)
    check = join_chain([r[0] for r in results])
    found += join_replay([r[1] for r in results])
    return audit.ChainCheck(check.ok and not found, check.rows, check.first_bad_id, check.problem, tuple(found))


def _edit_bounds(conn: sa.Connection) -> tuple[int, int]:
    """[low, high): every edit id in the edits table or named by an audit row."""
    a = conn.execute(sa.select(sa.func.min(edits.c.id), sa.func.max(edits.c.id))).one()
    b = conn.execute(sa.select(sa.func.min(audit_log.c.edit_id), sa.func.max(audit_log.c.edit_id))).one()
    lows, highs = [v for v in (a[0], b[0]) if v is not None], [v for v in (a[1], b[1]) if v is not None]
    return (min(lows), max(highs) + 1) if lows else (0, 0)


def _split(low: int, high: int, count: int) -> list[tuple[int, int | None]]:
    """`count` consecutive ranges covering [low, high); the last one open-ended above (None)."""
    cuts = [low + (high - low) * i // count for i in range(count)] + [None]
    return list(zip(cuts[:-1], cuts[1:]))


def _within(column, low: int, high: int | None):
    """low <= column < high (no upper bound for None)."""
    return column >= low if high is None else sa.and_(column >= low, column < high)


def run_task(engine: sa.Engine, task: Task) -> tuple[ChainPart, ReplayPart]:
    """One part's chain and replay, in one read transaction."""
    with read_transaction(engine) as conn:
        chain = chain_part(conn, *task.chain)
        part = replay_part(conn, *task.edits)
        if task.settings:
            part.settings.extend(_settings_problems(conn))
        return chain, part


def chain_part(conn: sa.Connection, low: int, high: int | None) -> ChainPart:
    """The chain's rows with low <= id < high: each row's hash, and each link but the first row's."""
    c = audit_log.c
    columns = (c.id, sa.type_coerce(c.at, sa.String), c.actor, c.action, c.edit_id, c.before, c.after, c.reason)
    query = sa.select(*columns, c.prev_hash, c.row_hash).where(_within(c.id, low, high)).order_by(c.id)
    rows, first_id, first_prev, expected = 0, None, None, None
    for row in conn.execute(query.execution_options(stream_results=True, yield_per=5000)):
        row_id, at, actor, action, edit_id, before, after, reason, prev, stored = row
        rows += 1
        if rows == 1:
            first_id, first_prev = row_id, prev
        elif prev != expected:
            return ChainPart(rows, first_id, first_prev, expected, (rows, row_id, _PREV))
        fast = _fast_hash(prev, at, actor, action, edit_id, before, after, reason)
        if fast != stored and _serial_hash(conn, row_id) != stored:
            return ChainPart(rows, first_id, first_prev, expected, (rows, row_id, _ALTERED))
        expected = stored
    return ChainPart(rows, first_id, first_prev, expected)


def _fast_hash(prev, at, actor, action, edit_id, before, after, reason) -> str | None:
    """db.audit.row_hash for the canonical SQLite text of `at` (or an aware datetime from PostgreSQL); None for any
    other stored value (the caller then hashes the row as the serial check reads it)."""
    if isinstance(at, str):
        if not _STAMP.fullmatch(at):
            return None
        stamp = f"{at[:10]}T{at[11:]}Z"
    elif hasattr(at, "tzinfo"):
        stamp = audit.utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        return None
    payload = _ENCODE([prev, stamp, actor, action, edit_id, before, after, reason])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _serial_hash(conn: sa.Connection, row_id: int) -> str:
    r = conn.execute(sa.select(audit_log).where(audit_log.c.id == row_id)).one()
    return audit.row_hash(r.prev_hash, r.at, r.actor, r.action, r.edit_id, r.before, r.after, r.reason)


def join_chain(parts: list[ChainPart]) -> audit.ChainCheck:
    """The parts in id order as one chain: the first problem (a seam's broken link included) and the row count."""
    expected, counted = audit.GENESIS, 0
    for part in parts:
        if part.rows and part.first_prev != expected:
            return audit.ChainCheck(False, counted + 1, part.first_id, _PREV)
        if part.bad is not None:
            position, row_id, problem = part.bad
            return audit.ChainCheck(False, counted + position, row_id, problem)
        counted += part.rows
        expected = part.last_hash if part.rows else expected
    return audit.ChainCheck(True, counted)


def replay_part(conn: sa.Connection, low: int, high: int | None) -> ReplayPart:
    """db.replay's checks of the edits with low <= id < high: the table's rows merged with their audit rows."""
    c, e = audit_log.c, edits.c
    rows = sa.select(c.id, c.actor, c.action, c.edit_id, c.before, c.after).where(_within(c.edit_id, low, high))
    table = sa.select(e.id, *(e[f] for f in (*replay.EDIT_FIELDS, "created_by", "updated_by")))
    streamed = {"stream_results": True, "yield_per": 5000}
    part = ReplayPart()
    audited = _histories(conn.execute(rows.order_by(c.edit_id, c.id).execution_options(**streamed)), part)
    pending = next(audited, None)
    for row in conn.execute(table.where(_within(e.id, low, high)).order_by(e.id).execution_options(**streamed)):
        while pending is not None and pending[0] < row.id:
            part.missing.append(replay.missing_line(pending[0]))
            pending = next(audited, None)
        history = None
        if pending is not None and pending[0] == row.id:
            history, pending = pending[1], next(audited, None)
        part.table.extend(replay.edit_problems(row[0], row[1:], history))
    while pending is not None:
        part.missing.append(replay.missing_line(pending[0]))
        pending = next(audited, None)
    probes = sa.select(probe_prompts.c.edit_id, probe_prompts.c.prompt, probe_prompts.c.expect).where(
        probe_prompts.c.source == "curator", _within(probe_prompts.c.edit_id, low, high)
    )
    part.stored_probes.update(tuple(r) for r in conn.execute(probes))
    return part


def _histories(rows, part: ReplayPart):
    """(edit id, its history as db.replay keeps it) for each edit with history rows, in id order; curator probe
    rows are counted into `part` (setting rows are the settings' replay)."""
    for edit_id, group in itertools.groupby(rows, key=_EDIT_ID):
        history = []
        for audit_id, actor, action, _, before, after in group:
            kind, value = replay.classify(action, edit_id, before, after)
            if kind == "probe":
                part.audited_probes[value] += 1
            elif kind == "history":
                history.append((audit_id, actor, *value))
        if history:
            yield edit_id, history


def _settings_problems(conn: sa.Connection) -> list[str]:
    query = sa.select(audit_log.c.actor, audit_log.c.after).where(audit_log.c.action == "setting")
    last_setting: dict[str, tuple[object, str]] = {}
    for actor, after in conn.execute(query.order_by(audit_log.c.id)):
        replay.note_setting(last_setting, json.loads(after) if after else None, actor)
    return replay.setting_problems(conn, last_setting)


def join_replay(parts: list[ReplayPart]) -> list[str]:
    """The parts' problems in the serial order: edits in the table, audited edits missing from it, curator probe
    prompts, settings."""
    problems = [p for part in parts for p in part.table] + [p for part in parts for p in part.missing]
    stored, audited = Counter(), Counter()
    for part in parts:
        stored.update(part.stored_probes)
        audited.update(part.audited_probes)
    return problems + replay.probe_lines(stored, audited) + [p for part in parts for p in part.settings]


def _in_processes(engine: sa.Engine, tasks: list[Task], started: Callable | None, timeouts: tuple) -> list:
    """Each task in a spawned process of its own; their results in task order."""
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
    url = engine.url.render_as_string(hide_password=False)
    pipes, processes = [], []
    for task in tasks:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_work, args=(url, timeouts, task, sender), daemon=True, name="audit-part")
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    if started is not None:
        started(processes)
    try:
        return [_receive(pipe) for pipe in pipes]
    finally:
        for process in processes:
            process.join(timeout=10)


def _receive(pipe):
    try:
        outcome = pipe.recv()
    except EOFError:
        raise StateConflict("a part of the audit log check stopped without a result") from None
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _work(url: str, timeouts: tuple, task: Task, sender) -> None:
    """Child: one task's (ChainPart, ReplayPart), or the exception that stopped it (as one line)."""
    try:
        engine = create_engine(url, *timeouts)
        sender.send(run_task(engine, task))
    except EditorError as exc:
        sender.send(exc)
    except Exception as exc:  # noqa: BLE001 - reported by the parent as one line
        sender.send(StateConflict(f"the audit log check failed: {type(exc).__name__}: {exc}"))
    finally:
        sender.close()
