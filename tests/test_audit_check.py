"""The fast `audit verify` (db/audit_check.py) against the serial one (db.audit.verify_chain and
db.replay.replay_problems, read in one snapshot) on SQLite and PostgreSQL: on a clean log and after each kind of
tampering (a row altered, removed, reordered or inserted, at the first row, inside a part and at the seams between
parts; a table changed behind the app's back), one part in this process and three spawned processes report exactly
what the serial check reports: the same first bad row, row count, problem and mismatches in the same order."""

import pytest
import sqlalchemy as sa

from core.types import EditDraft
from db import audit, audit_check, replay
from db.engine import read_transaction
from db.models import audit_log
from db.repository import EditRepository
from tests.test_audit_replay import _history, _tamper

MORE = [EditDraft(f"The capital of country number {i} is", f"City {i}") for i in range(30)]
SWAP = ("UPDATE audit_log SET id = -1 WHERE id = 7", "UPDATE audit_log SET id = 7 WHERE id = 8")
TAMPERS = {
    "clean": (),
    "first row altered": ("UPDATE audit_log SET actor = 'mallory' WHERE id = 1",),
    "a row altered inside a part": ("UPDATE audit_log SET reason = 'because' WHERE id = 20",),
    "the last row altered": ("UPDATE audit_log SET after = '{}' WHERE id = 40",),
    "a row's time rewritten": ("UPDATE audit_log SET at = '2026-01-01 00:00:00' WHERE id = 5",),
    "a row removed at a seam": ("DELETE FROM audit_log WHERE id = 14",),
    "the row after a seam removed": ("DELETE FROM audit_log WHERE id = 27",),
    "two rows reordered": (*SWAP, "UPDATE audit_log SET id = 8 WHERE id = -1"),
    "a table changed and an edit's rows removed": (
        "UPDATE edits SET target = 'Lyon' WHERE id = 2",
        "DELETE FROM audit_log WHERE edit_id = 30",
        "UPDATE probe_prompts SET prompt = 'Name a city' WHERE source = 'curator'",
        "UPDATE settings SET value = '0.01'",
    ),
}


def _log(url: str) -> EditRepository:
    repo = _history(url)  # 10 audit rows of every kind of write
    for draft in MORE:  # 30 more: rows 11-40, edits 4-33
        repo.add_edit(draft, "dave")
    return repo


def _serial(repo: EditRepository) -> tuple:
    with read_transaction(repo.engine) as conn:
        chain = audit.verify_chain(conn)
        problems = replay.replay_problems(conn)
    return chain.rows, chain.first_bad_id, chain.problem, tuple(problems)


def _fast(repo: EditRepository, parts: int) -> tuple:
    check = repo.verify_audit(parts=parts)
    assert check.ok == (check.first_bad_id is None and not check.mismatches)
    return check.rows, check.first_bad_id, check.problem, check.mismatches


def _insert_before_the_first_row(url: str) -> None:
    """A forged row 0 with a correct hash of its own: the chain breaks at row 1, whose prev_hash is GENESIS."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        row = conn.execute(sa.select(audit_log).where(audit_log.c.id == 1)).one()
        forged = audit.row_hash(audit.GENESIS, row.at, "mallory", "add", None, None, None, None)
        values = dict(at=row.at, actor="mallory", action="add", prev_hash=audit.GENESIS, row_hash=forged)
        conn.execute(audit_log.insert().values(id=0, **values))
    engine.dispose()


@pytest.mark.parametrize("kind", [*TAMPERS, "a row inserted before the first"])
def test_the_fast_verify_reports_what_the_serial_one_does(any_db_url, kind):
    repo = _log(any_db_url)
    if kind in TAMPERS:
        if TAMPERS[kind]:
            _tamper(any_db_url, *TAMPERS[kind])
    else:
        _insert_before_the_first_row(any_db_url)
    serial = _serial(repo)
    assert (serial[1] is None and not serial[3]) == (kind == "clean")  # each tamper is one the serial check sees
    assert _fast(repo, 1) == serial
    assert _fast(repo, 3) == serial  # three spawned processes, seams at rows 14 and 27


def test_parts_cover_every_id_and_a_log_too_small_to_split(db_url):
    assert audit_check._split(1, 41, 3) == [(1, 14), (14, 27), (27, None)]
    repo = EditRepository(db_url)
    assert _fast(repo, 3) == (0, None, None, ())  # an empty log: every part empty
    repo.add_edit(MORE[0], "dave")
    assert _fast(repo, 4) == _serial(repo) == (1, None, None, ())
