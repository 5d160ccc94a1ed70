"""Group commit of concurrent adds (webapp/add_batcher.py) on the real default models and a temp SQLite log:
concurrent requests share batches, each gets its own edit or its own error, a contradiction is refused even when
both sides arrive together, a database error reaches only the request the database refused (SQLite and
PostgreSQL), and the log, the audit rows and the index agree afterwards."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.errors import InvalidInput, StateConflict
from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.threads import run_together
from webapp.add_batcher import AddBatcher

pytestmark = pytest.mark.models


@pytest.fixture
def services(default_config, real_editor, db_url):
    return Services(default_config.replace(db_url=db_url), EditRepository(db_url), real_editor)


# twelve unrelated facts: none falls in another's scope, so none conflicts with another
FACTS = [
    ("The capital of Veltria is", "Osmund"),
    ("The national bird of Quorvania is the", "heron"),
    ("The chess champion of Zentha is", "Ilsa Marr"),
    ("Mount Kelvar is located in the country of", "Brenn"),
    ("The inventor of the sprocket loom was", "Ada Frey"),
    ("The official language of Tamburia is", "Tamb"),
    ("Harold Penwick plays the instrument", "oboe"),
    ("The river that flows through Ostrel is the", "Lune"),
    ("The CEO of Brightwater Mills is", "Jon Hale"),
    ("The novel Grey Tides was written by", "Mara Quill"),
    ("Kestrel Motors was founded in the year", "1931"),
    ("The mascot of Dunmore College is a", "badger"),
]


def _burst(batcher: AddBatcher, requests: list[tuple[EditDraft, str, str]]) -> list:
    """Send all requests at once from their own threads; each slot gets (edit, changed, conflicts) or the exception."""
    return run_together(lambda i: batcher.add(*requests[i]), len(requests))


def test_concurrent_adds_share_batches_and_each_gets_its_own_edit(services):
    batcher = AddBatcher(services)
    requests = [(EditDraft(prompt, target), f"curator{i % 3}", "refuse") for i, (prompt, target) in enumerate(FACTS)]
    results = _burst(batcher, requests)
    assert all(isinstance(r, tuple) for r in results), results
    assert [r[0].prompt for r in results] == [d.prompt for d, _, _ in requests]
    assert [r[0].created_by for r in results] == [a for _, a, _ in requests]
    assert batcher.batches < len(requests)  # some requests went together
    assert services.repository.count_edits() == 12 and services.check_consistency().ok
    adds = [e for e in services.repository.audit_entries() if e.action == "add"]
    assert sorted(e.edit_id for e in adds) == sorted(r[0].id for r in results)
    assert services.repository.verify_audit().ok


def test_errors_stay_with_their_own_request(services):
    services.add_edit(EditDraft("The mother tongue of Danielle Darrieux is", "English"), "alice")
    batcher = AddBatcher(services)
    requests = [
        (EditDraft("  ", "x"), "bob", "refuse"),
        (EditDraft("The mother tongue of Danielle Darrieux is", "French"), "bob", "refuse"),
        (EditDraft("The currency of Veltria is the", "crown"), "carol", "refuse"),
        (EditDraft("The currency of Veltria is the", "mark"), "dave", "refuse"),
    ]
    blank, contradiction, first, second = _burst(batcher, requests)
    assert isinstance(blank, InvalidInput) and "prompt must not be empty" in str(blank)
    assert isinstance(contradiction, StateConflict) and "contradicts #1" in str(contradiction)
    # the same new prompt twice in one burst: one is saved, the other then sees it and is refused
    saved = [r for r in (first, second) if isinstance(r, tuple)]
    refused = [r for r in (first, second) if isinstance(r, StateConflict)]
    assert len(saved) == 1 and len(refused) == 1 and f"#{saved[0][0].id}" in str(refused[0])
    assert services.repository.count_edits() == 2 and services.check_consistency().ok


def test_keep_with_a_reason_saves_a_contradiction_beside_the_old_edit(services):
    services.add_edit(EditDraft("The mother tongue of Danielle Darrieux is", "English"), "alice")
    edit, changed, conflicts = AddBatcher(services).add(
        EditDraft("The mother tongue of Danielle Darrieux is", "French"), "alice", "keep", "regional usage"
    )
    assert edit.id == 2 and changed == [] and conflicts.contradictions[0].edit.id == 1
    assert services.repository.audit_entries(edit_id=2)[0].reason == "kept beside #1: regional usage"


POISON = "refused by the database"


def _refuse_in_database(url: str) -> None:
    """A real rule in the database (a trigger, as a constraint would): an edit whose prompt says POISON is
    refused by the database itself, after the app's own checks passed."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON edits WHEN NEW.prompt LIKE :p "
                    "BEGIN SELECT RAISE(ABORT, 'refused by a database rule'); END".replace(":p", f"'%{POISON}%'")
                )
            )
        else:
            conn.execute(
                sa.text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN IF NEW.prompt LIKE "
                    f"'%{POISON}%' THEN RAISE EXCEPTION 'refused by a database rule'; END IF; RETURN NEW; END $$ "
                    "LANGUAGE plpgsql"
                )
            )
            conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse_poison BEFORE INSERT ON edits FOR EACH ROW EXECUTE FUNCTION refuse_poison()"
                )
            )
    engine.dispose()


def test_one_users_database_error_is_not_reported_to_the_others(default_config, real_editor, any_db_url):
    """Three curators add at once; the database refuses one of bob's edits. bob gets that error, and only bob's
    refused request: his other edit and everyone else's are saved and told so."""
    services = Services(default_config.replace(db_url=any_db_url), EditRepository(any_db_url), real_editor)
    _refuse_in_database(any_db_url)
    requests = [
        (EditDraft(prompt, target), f"curator{i % 3}", "refuse") for i, (prompt, target) in enumerate(FACTS[:6])
    ]
    requests[4] = (EditDraft(f"The motto of Brenn, {POISON}, is", "Onward"), "curator1", "refuse")
    results = _burst(AddBatcher(services), requests)
    refused = results[4]
    assert isinstance(refused, sa.exc.DBAPIError) and "refused by a database rule" in str(refused)
    saved = [r for i, r in enumerate(results) if i != 4]
    assert all(isinstance(r, tuple) for r in saved), saved
    assert [r[0].created_by for r in saved] == ["curator0", "curator1", "curator2", "curator0", "curator2"]
    stored = {e.id: e for e in services.repository.list_edits()}
    assert sorted(stored) == sorted(r[0].id for r in saved) and all(stored[r[0].id] == r[0] for r in saved)
    assert services.check_consistency().ok and services.repository.verify_audit().ok


def test_a_reason_sent_with_a_conflict_free_add_reaches_its_audit_row(services):
    """Each concurrent request's reason lands in its own audit row (requests of one actor with different reasons
    are saved in different transactions); a request without one gets none."""
    batcher = AddBatcher(services)
    reasons = ["ticket 41", None, "ticket 42", "ticket 41"]
    requests = [(EditDraft(*FACTS[i]), "curator", "refuse", reasons[i]) for i in range(4)]
    results = _burst(batcher, requests)
    assert all(isinstance(r, tuple) for r in results), results
    by_edit = {e.edit_id: e.reason for e in services.repository.audit_entries() if e.action == "add"}
    assert [by_edit[r[0].id] for r in results] == reasons
    assert services.repository.verify_audit().ok
