import pytest
import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict, UnknownEdit
from core.types import EditDraft
from db.repository import EditRepository

DARRIEUX = EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux")


def test_add_get_list(any_db_url):
    repo = EditRepository(any_db_url)
    edit = repo.add_edit(DARRIEUX, "alice")
    assert edit.id == 1 and edit.status == "active" and edit.created_by == "alice"
    assert repo.get(1) == edit
    repo.add_edit(EditDraft("The capital of Veltria is", "Osmund"), "bob")
    assert [e.id for e in repo.list_edits()] == [1, 2]
    assert [e.id for e in repo.list_edits(search="veltria")] == [2]
    assert repo.count_edits() == 2 and repo.count_edits(search="darrieux") == 1
    assert [e.id for e in repo.list_edits(offset=1, limit=1)] == [2]


def test_retire_restore_and_audit(any_db_url):
    repo = EditRepository(any_db_url)
    repo.add_edit(DARRIEUX, "alice")
    assert repo.retire(1, "bob", "wrong source").status == "retired"
    assert repo.active_edits() == []
    with pytest.raises(StateConflict):
        repo.retire(1, "bob")
    assert repo.restore(1, "carol").status == "active"
    with pytest.raises(StateConflict):
        repo.restore(1, "carol")
    changed = repo.change_target(1, "German", "dave", "curator review")
    assert changed.target == "German" and changed.updated_by == "dave"
    entries = repo.audit_entries(edit_id=1)
    assert [e.action for e in entries] == ["change", "restore", "retire", "add"]
    assert entries[0].before["target"] == "English" and entries[0].after["target"] == "German"
    assert entries[2].reason == "wrong source" and entries[2].actor == "bob"
    assert [e.action for e in repo.audit_entries(actor="bob")] == ["retire"]


@pytest.mark.parametrize(
    "draft",
    [
        EditDraft("", "x"),
        EditDraft("   ", "x"),
        EditDraft("p", ""),
        EditDraft("p\x07", "x"),
        EditDraft("p" * 5000, "x"),
        EditDraft(None, "x"),
    ],
)
def test_invalid_drafts_write_nothing(any_db_url, draft):
    repo = EditRepository(any_db_url)
    with pytest.raises(InvalidInput):
        repo.add_edit(draft, "alice")
    assert repo.count_edits() == 0 and repo.audit_entries() == []


def test_batch_is_all_or_nothing(any_db_url):
    repo = EditRepository(any_db_url)
    with pytest.raises(InvalidInput):
        repo.add_edits([DARRIEUX, EditDraft("ok", "fine"), EditDraft("", "bad")], "alice")
    assert repo.count_edits() == 0
    assert len(repo.add_edits([DARRIEUX, EditDraft("ok", "fine")], "alice")) == 2
    assert len(repo.audit_entries()) == 2


def test_unknown_ids(any_db_url):
    repo = EditRepository(any_db_url)
    for call in (lambda: repo.get(42), lambda: repo.retire(42, "a"), lambda: repo.restore(42, "a")):
        with pytest.raises(UnknownEdit):
            call()
    with pytest.raises(InvalidInput):
        repo.get("7")


def test_edits_and_audit_survive_reopening(any_db_url):
    EditRepository(any_db_url).add_edits([DARRIEUX, EditDraft("The capital of Veltria is", "Osmund")], "alice")
    EditRepository(any_db_url).retire(2, "bob")
    reopened = EditRepository(any_db_url)
    assert [(e.id, e.status) for e in reopened.list_edits()] == [(1, "active"), (2, "retired")]
    assert len(reopened.audit_entries()) == 3 and reopened.verify_audit().ok


def test_settings_are_audited(any_db_url):
    repo = EditRepository(any_db_url)
    assert repo.get_setting("threshold") is None
    repo.set_setting("threshold", 0.6, "alice", default=0.5)
    repo.set_setting("threshold", 0.7, "bob", default=0.5)
    assert repo.get_setting("threshold") == "0.7"
    first, second = repo.audit_entries(limit=2)[::-1]
    assert (first.before, first.after) == ({"threshold": 0.5}, {"threshold": 0.6})  # before: what served until then
    assert (second.before, second.after) == ({"threshold": 0.6}, {"threshold": 0.7})  # numbers, not strings


def test_audit_chain_detects_tampering(any_db_url):
    repo = EditRepository(any_db_url)
    repo.add_edit(DARRIEUX, "alice")
    repo.retire(1, "bob")
    repo.restore(1, "carol")
    assert repo.verify_audit().ok and repo.verify_audit().rows == 3
    tamper = sa.create_engine(any_db_url)  # a writer outside the app, straight into the database
    with tamper.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'mallory' WHERE id = 2"))
    check = repo.verify_audit()
    assert not check.ok and check.first_bad_id == 2 and "altered" in check.problem
    with tamper.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'bob' WHERE id = 2"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = 2"))
    tamper.dispose()
    check = repo.verify_audit()
    assert not check.ok and check.first_bad_id == 3 and "removed" in check.problem
