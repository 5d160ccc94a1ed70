"""The tamper-evident log (db/replay.py, `app.py audit verify|head`), on SQLite and PostgreSQL: the audit rows are
replayed against the edits, curator probe prompts and settings, so a change written straight into a table (which
the hash chain alone lets through) is named with its edit and field; a head kept elsewhere detects rows cut from
the end of the log. Every tamper is a real write into the database file or server, outside the app."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput
from core.types import EditDraft
from db import audit, probe_prompts
from db.models import audit_log
from db.repository import EditRepository
from tests.live_server import ROOT, free_port
from tests.test_cli import run

DARRIEUX = EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux")
VELTRIA = EditDraft("The capital of Veltria is", "Osmund")


def _history(url: str) -> EditRepository:
    """A log that went through every kind of write the app makes: add, import with probes, retire, restore,
    change, a settled conflict, a curator probe prompt and two threshold settings."""
    repo = EditRepository(url)
    repo.add_edit(DARRIEUX, "alice")
    repo.add_edits([VELTRIA], "bob", probes=[[("Veltria's capital city is", "in"), ("The capital of Brenn is", "out")]])
    repo.retire(2, "carol", "wrong source")
    repo.restore(2, "carol")
    repo.change_target(1, "French", "alice", "checked")
    repo.resolve(EditDraft("Danielle Darrieux's mother tongue is", "Occitan"), "bob", retire=[1], reason="newer")
    probe_prompts.add_probe(repo.engine, 2, "Which city is the capital of Veltria?", "in", "alice")
    repo.set_setting("threshold", 0.6, "alice", default=0.5)
    repo.set_setting("threshold", 0.7, "bob")
    return repo


def _tamper(url: str, *statements: str) -> None:
    """Write into the database outside the app (as someone with the file or a SQL client would)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()


def test_a_log_written_by_the_app_replays_cleanly(any_db_url):
    check = _history(any_db_url).verify_audit()
    assert check.ok and check.mismatches == () and check.rows == 10


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (
            "UPDATE edits SET target = 'Lyon' WHERE id = 2",
            "edit #2: target is 'Lyon' in the table, the audit says 'Osmund'",
        ),
        (
            "UPDATE edits SET status = 'active' WHERE id = 1",
            "edit #1: status is 'active' in the table, the audit says 'retired'",
        ),
        ("UPDATE edits SET notes = 'x' WHERE id = 3", "edit #3: notes is 'x' in the table, the audit says None"),
        (
            "UPDATE edits SET updated_by = 'alice' WHERE id = 3",
            "edit #3: updated_by is 'alice' in the table, the audit says 'bob'",
        ),
        (
            "INSERT INTO edits (prompt, target, status, created_at, created_by, updated_at, updated_by) "
            "VALUES ('The sky is', 'green', 'active', '2026-01-01', 'x', '2026-01-01', 'x')",
            "edit #4: in the table but no audit row records it",
        ),
        ("UPDATE settings SET value = '0.01'", "setting 'threshold': '0.01' in the table, the audit says '0.7'"),
        ("DELETE FROM settings", "setting 'threshold': the audit sets it to 0.7 but it is missing from the table"),
        (
            "UPDATE probe_prompts SET prompt = 'Name a city' WHERE source = 'curator'",
            "edit #2: curator probe prompt 'Name a city' (in) is in the table but no audit row added it",
        ),
    ],
)
def test_a_table_changed_behind_the_apps_back_is_named_by_edit_and_field(any_db_url, statement, problem):
    repo = _history(any_db_url)
    _tamper(any_db_url, statement)
    check = repo.verify_audit()
    assert not check.ok and check.first_bad_id is None  # the chain itself is intact: only the replay sees it
    assert any(m.startswith(problem) for m in check.mismatches), check.mismatches


def test_a_consistent_rewrite_passes_unless_a_head_was_kept(any_db_url):
    """What the chain cannot prove: whoever rewrites a row, recomputes its hash and fixes the table to match
    leaves a valid chain; only a head kept outside the database shows the log is not the one it was."""
    repo = _history(any_db_url)
    head = repo.audit_head()
    engine = sa.create_engine(any_db_url)
    with engine.begin() as conn:
        row = conn.execute(sa.select(audit_log).where(audit_log.c.id == 10)).first()
        after = '{"threshold": 0.01}'
        forged = audit.row_hash(
            row.prev_hash, row.at, row.actor, row.action, row.edit_id, row.before, after, row.reason
        )
        conn.execute(sa.text("UPDATE audit_log SET after = :a, row_hash = :h WHERE id = 10"), {"a": after, "h": forged})
        conn.execute(sa.text("UPDATE settings SET value = '0.01'"))
    engine.dispose()
    assert repo.verify_audit().ok
    assert repo.verify_audit(head=head).mismatches[0].startswith("head row 10 has hash")


@pytest.mark.parametrize("head", ["", "9", "nine:" + "a" * 64, "9:" + "g" * 64, "9:abc"])
def test_a_malformed_head_is_a_clear_error(any_db_url, head):
    repo = EditRepository(any_db_url)
    with pytest.raises(InvalidInput, match="a head is 'ID:HASH'"):
        repo.verify_audit(head=head)


@pytest.mark.slow  # subprocesses; the same checks run in-process above
def test_cli_audit_head_and_verify_exit_non_zero_on_tamper(db_url):
    run(db_url, "add", "The capital of Veltria is", "Osmund")
    run(db_url, "add", "The sky of Mars is", "red")
    head = run(db_url, "audit", "head").stdout.strip()
    assert head.startswith("2:")
    assert "the kept head is there" in run(db_url, "audit", "verify", "--head", head).stdout
    _tamper(db_url, "UPDATE edits SET target = 'Lyon' WHERE id = 1", "DELETE FROM audit_log WHERE id = 2")
    failed = run(db_url, "audit", "verify", "--head", head, check=False)
    assert failed.returncode != 0 and failed.stdout == ""
    lines = failed.stderr.strip().splitlines()
    assert lines[0].startswith("error: audit log tampered: head row 2 is gone") and "more below" in lines[0]
    assert "edit #1: target is 'Lyon' in the table, the audit says 'Osmund'" in failed.stderr
    assert "edit #2: in the table but no audit row records it" in failed.stderr


def test_replay_of_ten_thousand_edits_is_fast(db_url):
    """The replay reads each table once: 10,000 edits (plus retires) verify in well under the 2 s budget."""
    repo = EditRepository(db_url)
    drafts = [EditDraft(f"Fact number {i} is", f"value {i}") for i in range(10_000)]
    for start in range(0, len(drafts), 2000):
        repo.add_edits(drafts[start : start + 2000], "loader")
    for i in range(1, 500):
        repo.retire(i, "alice")
    started = time.perf_counter()
    check = repo.verify_audit()
    elapsed = time.perf_counter() - started
    assert check.ok and check.rows == 10_499
    assert elapsed < 2.0, f"verify took {elapsed:.2f} s"


def test_the_server_refuses_to_start_on_a_log_that_fails_verify(db_url):
    """An edit changed in the table would go live at the next start: the server stops before loading models."""
    run(db_url, "add", "The capital of Veltria is", "Osmund")
    _tamper(db_url, "UPDATE edits SET target = 'Lyon' WHERE id = 1")
    command = [sys.executable, str(ROOT / "app.py"), "--db", db_url, "--port", str(free_port()), "--device", "cpu"]
    started = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert started.returncode == 2
    assert (
        "error: audit log tampered: edit #1: target is 'Lyon' in the table, the audit says 'Osmund'" in started.stderr
    )
    assert "not serving this edit log" in started.stderr
