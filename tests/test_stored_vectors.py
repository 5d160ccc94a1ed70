"""Stored embeddings (db.edit_vectors, services.stored_vectors): every write keeps its edits' embeddings in the log,
a restart reads them instead of embedding the log again, and a changed embedder re-embeds. SQLite and PostgreSQL."""

import numpy as np
import pytest
import sqlalchemy as sa

from core.config import SeracConfig
from core.types import EditDraft
from db.models import edit_vectors
from db.repository import EditRepository
from services.edit_log import EditLog
from services.services import Services
from tests.conftest import HashingEmbedder
from tests.tiny_models import tiny_editor

DRAFTS = [EditDraft(f"What is the capital of country number {i}?", f"City {i}") for i in range(12)]


class CountingEmbedder(HashingEmbedder):
    """The real hashing embedder, counting the texts it embeds; `identity` can be renamed to play a new embedder."""

    def __init__(self, identity: str = "hashing-256"):
        super().__init__()
        self.identity, self.texts = identity, 0

    def encode(self, texts):
        self.texts += len(texts)
        return super().encode(texts)


@pytest.fixture
def start(any_db_url, tmp_path_factory):
    """start(identity) -> (Services over the same log as a fresh process would open it, its embedder)."""
    folder = tmp_path_factory.getbasetemp() / "tiny-lm"

    def _start(identity: str = "hashing-256"):
        embedder = CountingEmbedder(identity)
        config = SeracConfig(db_url=any_db_url, device="cpu")
        return Services(config, EditRepository(any_db_url), tiny_editor(folder, embedder=embedder)), embedder

    return _start


def _rows(services) -> dict[int, tuple[str, np.ndarray]]:
    with services.repository.engine.connect() as conn:
        rows = conn.execute(sa.select(edit_vectors)).all()
    return {r.edit_id: (r.embedder, np.frombuffer(r.vector, dtype="<f4")) for r in rows}


def _decisions(services, queries):
    return [(d.chosen.edit.id if d.chosen else None, round(d.candidates[0].score, 6)) for d in services.route(queries)]


def test_every_write_stores_its_edits_embeddings_tagged_with_the_embedder(start):
    services, embedder = start()
    services.add_edits(DRAFTS[:4], "alice")
    services.add_edit(DRAFTS[4], "alice")
    services.resolve(DRAFTS[5], "alice")
    [[batched]] = services.add_edits_by_actor([("bob", "a reason", [DRAFTS[6]], [None])])
    rows = _rows(services)
    edits = services.repository.active_edits()
    assert sorted(rows) == [e.id for e in edits] and batched.id in rows
    reference = HashingEmbedder()
    for edit in edits:
        identity, vector = rows[edit.id]
        assert identity == "hashing-256"
        np.testing.assert_allclose(vector, reference.encode([edit.prompt])[0], atol=1e-7)


def test_a_restart_over_stored_embeddings_makes_no_embedder_call(start):
    first, _ = start()
    first.add_edits(DRAFTS, "alice")
    first.retire(first.repository.active_edits()[0].id, "alice")
    queries = [d.prompt for d in DRAFTS] + ["Who wrote Hamlet?"]
    before = _decisions(first, queries)
    second, embedder = start()
    assert embedder.texts == 0
    assert second.check_consistency().ok and second.check_consistency().in_index == len(DRAFTS) - 1
    assert second.editor.memory.vectors(second.editor.memory.ids()).shape == (len(DRAFTS) - 1, 256)
    assert embedder.texts == 0
    assert _decisions(second, queries) == before  # routing the queries embeds only them
    assert embedder.texts == len(queries)


def test_restoring_a_retired_edit_reads_its_stored_embedding(start):
    services, embedder = start()
    edit = services.add_edit(DRAFTS[0], "alice")
    services.retire(edit.id, "alice")
    embedded = embedder.texts
    services.restore(edit.id, "alice")
    assert embedder.texts == embedded and services.check_consistency().in_index == 1


def test_a_changed_embedder_identity_re_embeds_every_edit_once(start):
    first, _ = start()
    first.add_edits(DRAFTS, "alice")
    second, embedder = start("hashing-256-v2")
    assert embedder.texts == len(DRAFTS)
    assert {identity for identity, _ in _rows(second).values()} == {"hashing-256-v2"}
    assert second.check_consistency().ok
    _, again = start("hashing-256-v2")
    assert again.texts == 0


def test_edits_written_without_models_are_embedded_and_stored_at_the_next_start(start, any_db_url):
    services, _ = start()
    services.add_edits(DRAFTS[:3], "alice")
    EditLog(SeracConfig(db_url=any_db_url), EditRepository(any_db_url)).add_edits(DRAFTS[3:5], "cli")
    assert len(_rows(services)) == 3  # the bare log has no embedder: nothing stored for those two
    restarted, embedder = start()
    assert embedder.texts == 2 and len(_rows(restarted)) == 5
    assert restarted.check_consistency().ok and restarted.check_consistency().in_index == 5


def test_another_instances_adds_reach_the_index_through_their_stored_rows(start):
    reader, embedder = start()
    writer, _ = start()
    writer.add_edits(DRAFTS[:6], "alice")
    reader.sync(force=True)
    assert embedder.texts == 0 and reader.check_consistency().in_index == 6
