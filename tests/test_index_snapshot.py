"""Index snapshots (core/index_snapshot.py, FaissEditMemory.save_snapshot/load_snapshot, services/index_cache.py):
a snapshot round trip searches exactly like a fresh build, flat and IVF, and keeps accepting adds and removals like
it; a restart reads it and replays the log's changes after its watermark to the same index a fresh build gives
(SQLite and PostgreSQL); another embedder, another plan, a watermark row changed or gone, a truncated or altered
file each lead to a full build, with the reason in one log line."""

import logging

import numpy as np
import pytest
import sqlalchemy as sa

from core import index_rule
from core.config import SeracConfig
from core.index_snapshot import SnapshotError, read_header
from core.memory import FaissEditMemory
from core.types import Edit, EditDraft
from db.repository import EditRepository
from services.services import Services
from tests.test_stored_vectors import CountingEmbedder
from tests.tiny_models import tiny_editor

KEY = {"embedder": "random-32", "watermark": "7:" + "a" * 64}
DRAFTS = [EditDraft(f"What is the capital of country number {i}?", f"City {i}") for i in range(40)]


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 32)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _built(vectors: np.ndarray, ids: np.ndarray, flat_limit: int) -> FaissEditMemory:
    """A memory built as a start builds it (core.memory.load: a spread sample, then chunks)."""
    memory = FaissEditMemory(32, flat_limit)
    memory.load(
        len(ids),
        vectors[memory.sample_rows(len(ids))],
        iter([(ids[:1000], vectors[:1000]), (ids[1000:], vectors[1000:])]),
    )
    for i in ids.tolist():
        memory.texts.put([Edit(i, f"prompt {i}", "t", None, None, "active")])
    return memory


def _results(memory: FaissEditMemory, queries: np.ndarray) -> list:
    return [[(e.id, round(s, 5)) for e, s in row] for row in memory.search(queries, 10)]


def _loaded(path, flat_limit: int, key: dict = KEY) -> FaissEditMemory:
    memory = FaissEditMemory(32, flat_limit)
    memory.load_snapshot(path, key)
    for i in memory.ids():
        memory.texts.put([Edit(i, f"prompt {i}", "t", None, None, "active")])
    return memory


@pytest.mark.parametrize("flat_limit", [10_000, 0], ids=["flat", "ivf"])
def test_a_round_trip_searches_like_a_fresh_build_and_takes_changes_like_it(tmp_path, flat_limit):
    vectors, ids = _vectors(3000), np.arange(5, 3005, dtype=np.int64)
    queries = _vectors(20, seed=1)
    built = _built(vectors, ids, flat_limit)
    assert built.index_kind == ("flat" if flat_limit else "ivf-fp16 nlist=54 nprobe=30")
    assert built.save_snapshot(tmp_path / "s", KEY) == (tmp_path / "s").stat().st_size
    loaded = _loaded(tmp_path / "s", flat_limit)
    assert loaded.index_kind == built.index_kind and loaded.ids() == built.ids()
    assert _results(loaded, queries) == _results(_built(vectors, ids, flat_limit), queries) == _results(built, queries)
    for memory in (built, loaded):  # the loaded index removes and reconstructs by id like the built one
        memory.remove([5, 6, 3004])
        memory.add([Edit(9000, "new", "t", None, None, "active")], queries[:1])
    assert _results(loaded, queries) == _results(built, queries) and 9000 in loaded.ids() and 5 not in loaded.ids()
    np.testing.assert_array_equal(loaded.vectors([7, 9000]), built.vectors([7, 9000]))


def test_a_truncated_or_altered_file_is_refused_with_the_reason(tmp_path):
    _built(_vectors(3000), np.arange(3000, dtype=np.int64), 0).save_snapshot(tmp_path / "s", KEY)
    data = (tmp_path / "s").read_bytes()
    cases = {
        "the snapshot file is truncated or not a snapshot": data[:-1],
        "the snapshot file is truncated (": data[:20],
        "the snapshot file's checksum does not match": data[:5000] + bytes([data[5000] ^ 1]) + data[5001:],
        "the snapshot file's length does not match its header": data[:100] + data[101:],
    }
    for reason, damaged in cases.items():
        (tmp_path / "bad").write_bytes(damaged)
        with pytest.raises(SnapshotError, match=f"^{reason}".replace("(", r"\(")):
            _loaded(tmp_path / "bad", 0)
    with pytest.raises(SnapshotError, match="^no snapshot at"):
        _loaded(tmp_path / "missing", 0)


def test_another_key_or_plan_is_refused_with_the_reason(tmp_path, monkeypatch):
    _built(_vectors(3000), np.arange(3000, dtype=np.int64), 0).save_snapshot(tmp_path / "s", KEY)
    with pytest.raises(SnapshotError, match="^the snapshot's embedder is 'random-32', not 'minilm'"):
        _loaded(tmp_path / "s", 0, {**KEY, "embedder": "minilm"})
    with pytest.raises(SnapshotError, match="^the snapshot's flat_limit is 0, not 10000"):
        _loaded(tmp_path / "s", 10_000)
    monkeypatch.setattr(index_rule, "SCAN_MAX", 1000)  # the rule tuned since the snapshot was made: 18 cells
    with pytest.raises(SnapshotError, match=r"index plan \(ivf-fp16 nlist=54 nprobe=30\) is not what the index rule"):
        _loaded(tmp_path / "s", 0)


# ---- a restart through Services -------------------------------------------------------------


@pytest.fixture
def start(any_db_url, tmp_path, tmp_path_factory):
    """start(identity, folder) -> Services over the log as a fresh process opens it, snapshots kept in `folder`."""
    lm = tmp_path_factory.getbasetemp() / "tiny-lm"

    def _start(identity: str = "hashing-256", folder: str = "snapshots"):
        config = SeracConfig(
            db_url=any_db_url, device="cpu", index_snapshot_dir=str(tmp_path / folder), index_snapshot_min_edits=0
        )
        editor = tiny_editor(lm, embedder=CountingEmbedder(identity))
        return Services(config, EditRepository(any_db_url), editor)

    return _start


def _state(services) -> tuple:
    queries = services.embed([d.prompt for d in DRAFTS[::3]] + ["Who wrote Hamlet?"])
    found = [[(e.id, round(s, 5)) for e, s in row] for row in services.editor.memory.search(queries, 5)]
    return services.editor.memory.ids(), found


def _changed(services) -> None:
    """Adds, retires, a restore and a changed target after the snapshot."""
    services.add_edits(DRAFTS[30:], "bob")
    for edit_id in (1, 2, 31):
        services.retire(edit_id, "bob")
    services.restore(2, "bob")
    services.change_target(3, "Another city", "bob")


def test_a_restart_reads_the_snapshot_and_replays_what_changed_since(start, caplog):
    first = start()
    first.add_edits(DRAFTS[:30], "alice")
    assert first.save_index_snapshot() and not first.save_index_snapshot()  # the second: nothing changed since
    watermark = read_header(first.index_cache.path)["watermark"]
    _changed(first)
    with caplog.at_level(logging.INFO):
        again = start()
    assert again.index_origin == {"source": "snapshot", "replayed": 10, "seconds": again.index_origin["seconds"]}
    # replayed: 9 edits in (31 is retired again) and 1 out; 2 was restored and 3 keeps its prompt: held as they are
    assert again.editor.embedder.texts == 0  # no embedder call
    # a large replay (10 changes over 38 edits) writes a new snapshot at the log's head
    assert read_header(again.index_cache.path)["watermark"] == again.repository.audit_head() != watermark
    assert "not used" not in caplog.text
    fresh = start(folder="elsewhere")  # no snapshot there: a full build
    assert fresh.index_origin["source"] == "built" and _state(again) == _state(fresh)
    assert again.check_consistency().ok and len(again.editor.memory) == 38


def _tamper(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(statement))
    engine.dispose()


def _flip(path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("embedder", "the snapshot's embedder is 'hashing-256', not 'hashing-v2'"),
        ("watermark changed", "its watermark no longer matches the log (head row 30 has hash"),
        ("watermark gone", "its watermark no longer matches the log (head row 30 is gone"),
        ("truncated", "the snapshot file is truncated or not a snapshot"),
        ("altered", "the snapshot file's checksum does not match"),
    ],
)
def test_a_snapshot_that_does_not_fit_is_rebuilt_with_the_reason(start, any_db_url, caplog, change, reason):
    first = start()
    first.add_edits(DRAFTS[:30], "alice")
    first.save_index_snapshot()
    path = first.index_cache.path
    if change == "watermark changed":
        _tamper(any_db_url, "UPDATE audit_log SET row_hash = '" + "b" * 64 + "' WHERE id = 30")
    elif change == "watermark gone":
        _tamper(any_db_url, "DELETE FROM audit_log WHERE id = 30")
    elif change == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif change == "altered":
        _flip(path, 200)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = start("hashing-v2" if change == "embedder" else "hashing-256")
    assert again.index_origin["source"] == "built"
    [line] = [r.getMessage() for r in caplog.records if "not used" in r.getMessage()]
    assert reason in line and "building the index from the log instead" in line
    assert again.check_consistency().ok and len(again.editor.memory) == 30
    assert read_header(path)["watermark"] == again.repository.audit_head()  # the full build wrote a fresh snapshot
