"""Several writers at once, on SQLite and PostgreSQL: nothing lost, index equals log, audit chain intact."""

import threading
import time

import pytest

from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.threads import run_together
from tests.tiny_models import tiny_editor

WRITERS, EDITS_EACH = 8, 40


@pytest.fixture
def services(any_db_url, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "tiny-lm"
    return Services(_config(any_db_url), EditRepository(any_db_url), tiny_editor(folder))


def _config(url):
    from core.config import SeracConfig

    return SeracConfig(db_url=url, device="cpu")


def _run_threads(target, count):
    """The exceptions raised by target(0..count-1), run together on their own threads."""
    return [r for r in run_together(target, count) if isinstance(r, BaseException)]


def test_concurrent_writers_lose_nothing(services):
    def writer(w):
        for i in range(EDITS_EACH):
            edit = services.add_edit(EditDraft(f"writer {w} prompt {i} about the capital", f"t{w}-{i}"), f"user{w}")
            if i % 10 == 0:
                services.retire(edit.id, f"user{w}", "concurrent retire")
            if i % 20 == 0:
                services.restore(edit.id, f"user{w}")

    errors = _run_threads(writer, WRITERS)
    assert not errors, errors[:3]
    repo = services.repository
    total = WRITERS * EDITS_EACH
    retired = WRITERS * (EDITS_EACH // 10 - EDITS_EACH // 20)
    assert repo.count_edits() == total
    assert repo.count_edits(status="retired") == retired
    assert len(repo.audit_entries()) == total + WRITERS * (EDITS_EACH // 10 + EDITS_EACH // 20)
    assert repo.verify_audit().ok
    consistency = services.check_consistency()
    assert consistency.ok and consistency.in_index == total - retired


def test_reads_during_writes_see_a_consistent_state(services):
    stop = threading.Event()
    seen = []

    def reader(_):
        while not stop.is_set():
            edits = services.repository.list_edits()
            ids = [e.id for e in edits]
            seen.append(len(ids))
            assert ids == sorted(set(ids)), "ids out of order or duplicated"
            assert all(e.created_by.startswith("user") for e in edits)

    def writer(w):
        try:
            services.add_edits([EditDraft(f"batch {w} item {i}", "x") for i in range(25)], f"user{w}")
        finally:
            if w == 0:
                stop.set()

    readers = threading.Thread(target=lambda: reader(0))
    readers.start()
    errors = _run_threads(writer, 4)
    stop.set()
    readers.join(timeout=60)
    assert not errors
    assert all(n % 25 == 0 for n in seen), "a reader saw half a batch"
    assert services.repository.count_edits() == 100


def test_second_instance_follows_the_shared_log(any_db_url, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "tiny-lm"
    first = Services(_config(any_db_url), EditRepository(any_db_url), tiny_editor(folder))
    eager = _config(any_db_url).replace(sync_interval_ms=0)  # reads the change feed on every request
    second = Services(eager, EditRepository(any_db_url), tiny_editor(folder))
    edit = first.add_edit(EditDraft("the capital of veltria is", "osmund"), "alice")
    assert second.editor.memory.ids() == []
    assert second.route(["the capital of veltria is"])[0].chosen.edit.id == edit.id  # route syncs first
    first.retire(edit.id, "alice")
    first.set_threshold(0.8, "alice")
    assert second.route(["the capital of veltria is"])[0].chosen is None
    assert second.editor.threshold == 0.8 and second.check_consistency().ok


def test_a_quiet_log_costs_no_query_per_request_and_other_writes_show_within_the_interval(any_db_url, tmp_path_factory):
    from sqlalchemy import event

    folder = tmp_path_factory.getbasetemp() / "tiny-lm"
    writer = Services(_config(any_db_url), EditRepository(any_db_url), tiny_editor(folder))
    reader = Services(
        _config(any_db_url).replace(sync_interval_ms=300), EditRepository(any_db_url), tiny_editor(folder)
    )
    statements: list[str] = []
    event.listen(reader.repository.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    reader.route(["the capital of veltria is"])  # the first request reads the change feed
    read_once = len(statements)
    for _ in range(20):
        reader.route(["the capital of veltria is"])
    assert read_once >= 1 and len(statements) == read_once, "requests within the interval ran queries"
    edit = writer.add_edit(EditDraft("the capital of veltria is", "osmund"), "alice")
    time.sleep(0.35)  # past the interval: the next request reads the feed and sees the other instance's edit
    assert reader.route(["the capital of veltria is"])[0].chosen.edit.id == edit.id
