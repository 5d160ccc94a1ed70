"""Backups taken while curators write, and restores, on SQLite and on PostgreSQL (pg_dump / pg_restore).

What a user relies on: a backup holds exactly the edits acknowledged up to some moment (a prefix of the log, with
its audit chain), restoring it gives back exactly that log, and a backup that was altered is refused with one
line while the live log stays as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict
from core.types import EditDraft
from db.backup import copy_sqlite, open_elsewhere
from db.pg_backup import libpq_env
from db.repository import EditRepository
from services import backups
from services.services import Services
from tests.test_cli import run
from tests.tiny_models import tiny_editor

WRITERS = 4


def _needs_pg_tools(url: str) -> None:
    if url.startswith("postgresql") and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed (Debian: postgresql-client)")


def _log(url: str) -> tuple[list[tuple], list[tuple]]:
    """Every edit and every audit row of the log, as stored."""
    repo = EditRepository(url)
    try:
        edits = [(e.id, e.prompt, e.target, e.status, e.created_by) for e in repo.list_edits()]
        audit = [(a.id, a.action, a.edit_id, a.actor) for a in repo.audit_entries(limit=10**6)]
        return edits, sorted(audit)
    finally:
        repo.engine.dispose()


def _write_while(url: str, during) -> tuple[dict[int, tuple], set[int], object]:
    """WRITERS threads add edits through the edit log until `during()` (called meanwhile) returns; returns
    (every acknowledged edit by id, the ids acknowledged before `during` started, what `during` returned)."""
    repo = EditRepository(url)
    acked: dict[int, tuple] = {}
    stop, lock = threading.Event(), threading.Lock()

    def writer(w: int) -> None:
        n = 0
        while not stop.is_set() or n < 3:
            edit = repo.add_edit(EditDraft(f"The motto of town {w}-{n} is", f"motto {w}-{n}"), f"curator{w}")
            with lock:
                acked[edit.id] = (edit.id, edit.prompt, edit.target, "active", f"curator{w}")
            n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    while len(acked) < 20:
        time.sleep(0.01)
    with lock:
        before = set(acked)
    result = during()
    stop.set()
    for t in threads:
        t.join(timeout=120)
    repo.engine.dispose()
    return acked, before, result


def test_backup_under_writes_is_an_acknowledged_prefix_and_restores_exactly(fresh_db_url, tmp_path):
    url = fresh_db_url()
    _needs_pg_tools(url)
    out = tmp_path / "under-load.backup"
    acked, before, summary = _write_while(url, lambda: backups.backup(url, out))
    assert summary.edits >= len(before) >= 20
    assert len(acked) > summary.edits, "the writers went on after the backup"
    restored = backups.restore(url, out)
    assert restored.summary == summary
    edits, audit = _log(url)
    # a prefix of the log: ids 1..k, each the very edit its writer was told was saved, everything acknowledged
    # before the backup began among them, and one audit row per edit chained up to the backup's head
    assert [e[0] for e in edits] == list(range(1, summary.edits + 1))
    assert edits == [acked[i] for i in range(1, summary.edits + 1)]
    assert before <= {e[0] for e in edits}
    assert [(a[1], a[2]) for a in audit] == [("add", i) for i in range(1, summary.edits + 1)]
    repo = EditRepository(url)
    assert repo.verify_audit(head=summary.head).ok and repo.audit_head() == summary.head
    repo.engine.dispose()


def test_a_tampered_backup_is_refused_and_the_live_log_is_unchanged(db_url, tmp_path):
    repo = EditRepository(db_url)
    for i in range(3):
        repo.add_edit(EditDraft(f"The anthem of Ostrel {i} is", f"anthem {i}"), "alice")
    out = tmp_path / "b.sqlite"
    backups.backup(db_url, out)
    repo.add_edit(EditDraft("The anthem of Ostrel 9 is", "anthem 9"), "alice")
    repo.engine.dispose()
    with sqlite3.connect(out) as conn:
        conn.execute("UPDATE edits SET target = 'forged' WHERE id = 2")
    live_before = _log(db_url)
    with pytest.raises(StateConflict, match=r"fails audit verification \(edit #2: target is 'forged'.*nothing was"):
        backups.restore(db_url, out)
    assert _log(db_url) == live_before and len(live_before[0]) == 4
    assert not list(tmp_path.glob("*before-restore*")), "a refused restore writes nothing, not even its safety copy"
    out.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    with pytest.raises(InvalidInput, match="not a readable SQLite file"):
        backups.restore(db_url, out)
    assert _log(db_url) == live_before


def test_restore_waits_for_servers_to_stop_and_keeps_the_replaced_log(db_url, tmp_path):
    repo = EditRepository(db_url)
    repo.add_edit(EditDraft("The bird of Ostrel is", "the heron"), "alice")
    backups.backup(db_url, tmp_path / "b.sqlite")
    repo.add_edit(EditDraft("The tree of Ostrel is", "the alder"), "alice")
    repo.engine.dispose()
    path = Path(db_url.removeprefix("sqlite:///"))
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import sqlite3,sys,time; c=sqlite3.connect({str(path)!r}); "
         "c.execute('SELECT count(*) FROM edits').fetchall(); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "open" and open_elsewhere(path)
        with pytest.raises(StateConflict, match="is open elsewhere .*stop every server"):
            backups.restore(db_url, tmp_path / "b.sqlite")
        assert len(_log(db_url)[0]) == 2
    finally:
        holder.kill()
        holder.wait()
    restored = backups.restore(db_url, tmp_path / "b.sqlite")
    assert [e[1] for e in _log(db_url)[0]] == ["The bird of Ostrel is"]
    assert [e[1] for e in _log(f"sqlite:///{restored.kept}")[0]] == ["The bird of Ostrel is", "The tree of Ostrel is"]


def test_a_running_index_follows_a_log_replaced_under_it(db_url, tmp_path, tmp_path_factory):
    """`restore` refuses while a server has the log open; a log copied over it anyway (SQLite's backup API from
    outside the app) is noticed by the server's next sync, which rebuilds its index from the replaced log."""
    from core.config import SeracConfig

    services = Services(
        SeracConfig(db_url=db_url, device="cpu"),
        EditRepository(db_url),
        tiny_editor(tmp_path_factory.getbasetemp() / "tiny-lm"),
    )
    first = services.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")
    backups.backup(db_url, tmp_path / "b.sqlite")
    services.retire(first.id, "alice")
    later = services.add_edit(EditDraft("The mother tongue of Danielle Darrieux is", "French"), "alice")
    assert services.editor.memory.ids() == [later.id]
    with pytest.raises(StateConflict, match="is open elsewhere"):
        backups.restore(db_url, tmp_path / "b.sqlite")
    assert services.check_consistency().ok and services.editor.memory.ids() == [later.id]
    with sqlite3.connect(tmp_path / "b.sqlite") as src, sqlite3.connect(db_url.removeprefix("sqlite:///")) as dst:
        src.backup(dst)
    assert services.sync(force=True) == 1  # the row it saw last is gone: rebuilt from the replaced log
    assert services.editor.memory.ids() == [first.id] and services.check_consistency().ok
    again = services.add_edit(EditDraft("The capital of Veltria is now", "Paris"), "alice")
    assert again.id == 2 and services.repository.verify_audit().ok


def test_cli_backup_and_restore_with_one_line_errors(db_url, tmp_path):
    run(db_url, "add", "The capital of Veltria is", "Osmund")
    out = tmp_path / "b.sqlite"
    written = run(db_url, "backup", str(out)).stdout
    assert f"backup written to {out} and verified: 1 edits (1 active), 1 audit rows, head 1:" in written
    again = run(db_url, "backup", str(out), check=False)
    assert again.returncode == 2 and again.stderr.strip().endswith("choose a new file name (nothing was written)")
    assert "verified: 1 edits" in run(db_url, "backup", "--check", str(out)).stdout
    run(db_url, "retire", "1")
    assert "restored edit #1" in run(db_url, "restore", "1").stdout  # an edit id still restores that edit
    restored = run(db_url, "restore", str(out)).stdout
    assert "restored the edit log from" in restored and "1 edits (1 active), 1 audit rows" in restored
    assert "the replaced edit log was kept in" in restored
    assert "audit log intact: 1 rows" in run(db_url, "audit", "verify").stdout
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    refused = run(db_url, "restore", str(not_a_backup), check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "is not a backup: neither a SQLite file nor a pg_dump" in refused.stderr


def test_a_postgresql_dump_is_not_restored_into_a_sqlite_log(db_url, tmp_path):
    dump = tmp_path / "pg.dump"
    dump.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 64)
    EditRepository(db_url).add_edit(EditDraft("The capital of Veltria is", "Osmund"), "alice")
    with pytest.raises(InvalidInput, match="is a postgresql backup but the edit log is sqlite: nothing was changed"):
        backups.restore(db_url, dump)
    assert len(_log(db_url)[0]) == 1


def test_without_pg_dump_the_error_names_the_command_and_keeps_the_password_out(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without the PostgreSQL client tools
    url = "postgresql+psycopg://serac:s3cret-pw@db.example:5433/edits"
    with pytest.raises(Exception, match="pg_dump is not on PATH") as info:
        backups.backup(url, tmp_path / "b.dump")
    message = str(info.value)
    assert "apt-get install postgresql-client" in message and "s3cret-pw" not in message
    assert "PGPASSWORD=... pg_dump --dbname=postgresql://serac@db.example:5433/edits --format=custom" in message
    assert not (tmp_path / "b.dump").exists()


def test_a_log_altered_behind_the_apps_back_is_neither_backed_up_nor_restored(fresh_db_url, tmp_path):
    """On SQLite and PostgreSQL: `backup` refuses a live log that fails verification (no file written), and
    `restore` refuses a copy of such a log made with the database's own tools, leaving the live log as it was."""
    url = fresh_db_url()
    _needs_pg_tools(url)
    repo = EditRepository(url)
    for i in range(2):
        repo.add_edit(EditDraft(f"The anthem of Ostrel {i} is", f"anthem {i}"), "alice")
    good = tmp_path / "good.backup"
    backups.backup(url, good)
    forge = sa.text("UPDATE edits SET target = :t WHERE id = 1")
    with repo.engine.begin() as conn:
        conn.execute(forge, {"t": "forged"})
    with pytest.raises(StateConflict, match=r"fails audit verification \(edit #1: target is 'forged'"):
        backups.backup(url, tmp_path / "bad.backup")
    assert [p.name for p in tmp_path.iterdir() if "backup" in p.name] == ["good.backup"]
    forged = tmp_path / "forged.backup"
    if url.startswith("sqlite"):
        copy_sqlite(Path(url.removeprefix("sqlite:///")), forged)
    else:
        dump = ["pg_dump", "--format=custom", f"--file={forged}"]
        subprocess.run(dump, env={**os.environ, **libpq_env(url)}, check=True, capture_output=True)
    with repo.engine.begin() as conn:
        conn.execute(forge, {"t": "anthem 0"})
    repo.engine.dispose()
    live = _log(url)
    with pytest.raises(StateConflict, match=r"fails audit verification \(edit #1: target is 'forged'"):
        backups.restore(url, forged)
    assert _log(url) == live
    assert backups.restore(url, good).summary.edits == 2
