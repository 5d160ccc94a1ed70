import numpy as np
import pytest

from core import index_rule
from core.memory import FaissEditMemory
from core.types import Edit

APPROX = index_rule.APPROX_KIND


def _edits(n):
    return [Edit(id=i + 1, prompt=f"prompt {i}", target=f"t{i}") for i in range(n)]


def _unit(rng, n, dim):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_search_finds_each_edit_by_its_own_vector():
    rng = np.random.default_rng(0)
    memory, edits, vectors = FaissEditMemory(32), _edits(50), _unit(rng, 50, 32)
    memory.add(edits, vectors)
    hits = memory.search(vectors, k=3)
    assert [row[0][0].id for row in hits] == [e.id for e in edits]
    assert all(row[0][1] == pytest.approx(1.0, abs=1e-5) for row in hits)
    assert all(len(row) == 3 for row in hits)


def test_remove_and_replace():
    rng = np.random.default_rng(1)
    memory, edits, vectors = FaissEditMemory(16), _edits(5), _unit(rng, 5, 16)
    memory.add(edits, vectors)
    memory.remove([2, 4, 99])
    assert memory.ids() == [1, 3, 5] and len(memory) == 3
    assert all(hit[0].id not in (2, 4) for hit in memory.search(vectors, k=5)[1])
    changed = Edit(id=3, prompt="prompt 2", target="new")
    memory.add([changed], vectors[2:3])
    assert len(memory) == 3 and memory.get(3).target == "new"


def test_empty_memory_and_k_larger_than_size():
    memory = FaissEditMemory(8)
    assert memory.search(np.ones((2, 8), np.float32) / np.sqrt(8), k=5) == [[], []]
    memory.add(_edits(2), _unit(np.random.default_rng(2), 2, 8))
    assert len(memory.search(np.ones((1, 8), np.float32) / np.sqrt(8), k=10)[0]) == 2


def test_add_checks_lengths_and_clear():
    memory = FaissEditMemory(8)
    with pytest.raises(ValueError):
        memory.add(_edits(2), np.zeros((3, 8), np.float32))
    memory.add(_edits(2), _unit(np.random.default_rng(3), 2, 8))
    memory.clear()
    assert len(memory) == 0 and memory.ids() == []


def test_small_batch_search_matches_large_batch_and_restores_threads():
    import faiss

    rng = np.random.default_rng(4)
    memory, edits, vectors = FaissEditMemory(16), _edits(40), _unit(rng, 40, 16)
    memory.add(edits, vectors)
    threads = faiss.omp_get_max_threads()
    one_by_one = [memory.search(vectors[i : i + 1], k=3)[0] for i in range(40)]
    assert one_by_one == memory.search(vectors, k=3)
    assert faiss.omp_get_max_threads() == threads


# ---- automatic index choice (core.index_rule) ------------------------------------------------


def _clustered(rng, n, dim, clusters=20, spread=0.35):
    """Unit vectors around `clusters` random centres: the shape real sentence embeddings have."""
    centres = _unit(rng, clusters, dim)
    v = centres[rng.integers(0, clusters, n)] + rng.normal(scale=spread / np.sqrt(dim), size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _exact_top(vectors_by_id, queries, k):
    ids = np.array(sorted(vectors_by_id))
    matrix = np.stack([vectors_by_id[i] for i in ids])
    return [set(ids[np.argsort(-row)[:k]].tolist()) for row in queries @ matrix.T]


def _recall(memory, vectors_by_id, queries, k):
    found = [{e.id for e, _ in row} for row in memory.search(queries, k)]
    return np.mean([len(f & t) / k for f, t in zip(found, _exact_top(vectors_by_id, queries, k))])


def test_memory_switches_to_ivf_above_the_limit_and_back_below_it_with_hysteresis():
    rng = np.random.default_rng(5)
    vectors, edits = _clustered(rng, 400, 32), _edits(400)
    memory = FaissEditMemory(32, flat_limit=200)
    memory.add(edits[:200], vectors[:200])
    assert memory.index_kind == "flat"
    memory.add(edits[200:201], vectors[200:201])
    assert memory.index_kind.startswith(f"{APPROX} nlist=")
    memory.remove([201])  # back to the limit: no flip-flop
    memory.add(edits[200:201], vectors[200:201])
    assert memory.index_kind.startswith(APPROX) and len(memory) == 201
    memory.remove(range(152, 202))  # 151 left: still above 200 * 0.75
    assert memory.index_kind.startswith(APPROX) and len(memory) == 151
    memory.remove([151])  # 150 = the shrink-back bound; one more goes back to flat
    assert memory.index_kind.startswith(APPROX)
    memory.remove([150])
    assert memory.index_kind == "flat" and memory.ids() == list(range(1, 150))
    assert [row[0][0].id for row in memory.search(vectors[:149], k=1)] == list(range(1, 150))


def test_ivf_search_agrees_with_exact_search_on_clustered_data():
    rng = np.random.default_rng(6)
    vectors, edits = _clustered(rng, 3000, 32), _edits(3000)
    memory = FaissEditMemory(32, flat_limit=500)
    memory.add(edits, vectors)
    assert memory.index_kind.startswith(APPROX)
    queries = vectors[rng.integers(0, 3000, 100)] + rng.normal(scale=0.05, size=(100, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    by_id = {e.id: v for e, v in zip(edits, vectors)}
    assert _recall(memory, by_id, queries, 10) >= 0.95
    flat = FaissEditMemory(32, flat_limit=10**9)
    flat.add(edits, vectors)
    assert flat.index_kind == "flat" and _recall(flat, by_id, queries, 10) == 1.0
    assert [row[0][0].id for row in memory.search(vectors[:50], k=1)] == list(range(1, 51))


def test_removals_and_replacements_are_honoured_after_a_switch():
    rng = np.random.default_rng(7)
    vectors, edits = _clustered(rng, 600, 16), _edits(600)
    memory = FaissEditMemory(16, flat_limit=100)
    memory.add(edits[:50], vectors[:50])
    memory.add(edits[50:], vectors[50:])  # crosses the limit inside one add: rebuilt as IVF
    assert memory.index_kind.startswith(APPROX)
    gone = list(range(1, 601, 3))
    memory.remove(gone)
    hits = memory.search(vectors, k=5)
    assert all(hit[0].id not in gone for row in hits for hit in row)
    assert memory.ids() == [i for i in range(1, 601) if i not in gone]
    memory.add([Edit(id=2, prompt="prompt 1", target="new")], vectors[1:2])
    assert memory.get(2).target == "new" and memory.search(vectors[1:2], k=1)[0][0][0].id == 2
    sq8_step = 2 / 255  # a compressed kind decodes within half a step of a coordinate range <= 2
    np.testing.assert_allclose(memory.vectors([2, 3]), vectors[1:3], atol=sq8_step)


def test_ivf_is_retrained_as_the_memory_doubles_and_clear_returns_to_flat():
    rng = np.random.default_rng(8)
    vectors, edits = _clustered(rng, 2000, 16), _edits(2000)
    memory = FaissEditMemory(16, flat_limit=100)
    memory.add(edits[:200], vectors[:200])
    small = memory.index_kind
    memory.add(edits[200:], vectors[200:])
    assert memory.index_kind != small and memory.index_kind.startswith(APPROX)
    assert memory.index_bytes() > 2000 * 16  # at least a byte per coordinate
    memory.clear()
    assert memory.index_kind == "flat" and memory.search(vectors[:1], k=3) == [[]]


# ---- texts from outside the memory, streamed loads ------------------------------------------


class TableTexts:
    """Edit texts read from an outside table, as Services reads them from the log (services.log_texts)."""

    def __init__(self, table):
        self.table = table

    def put(self, edits):
        """The table is the truth: nothing kept."""

    def drop(self, edit_ids):
        """Nothing kept."""

    def clear(self):
        """Nothing kept."""

    def fetch(self, edit_ids):
        return {i: self.table[i] for i in edit_ids if i in self.table}


def test_candidates_texts_come_from_the_texts_not_from_the_memory():
    rng = np.random.default_rng(9)
    edits, vectors = _edits(30), _unit(rng, 30, 16)
    table = {e.id: e for e in edits}
    memory = FaissEditMemory(16, texts=TableTexts(table))
    memory.add(edits, vectors)
    table[2] = Edit(id=2, prompt="prompt 1", target="changed in the log")
    del table[3]  # retired in the log since: never served
    assert memory.search(vectors[1:2], k=1)[0][0][0].target == "changed in the log"
    assert 3 not in {e.id for e, _ in memory.search(vectors[2:3], k=5)[0]}
    assert memory.contains(3) and memory.get(3) is None and memory.get(2).target == "changed in the log"


@pytest.mark.parametrize("flat_limit", [10**9, 100])
def test_a_streamed_load_holds_what_adding_holds(flat_limit):
    rng = np.random.default_rng(10)
    vectors, edits = _clustered(rng, 900, 16), _edits(900)
    added = FaissEditMemory(16, flat_limit=flat_limit)
    added.add(edits, vectors)
    loaded = FaissEditMemory(16, flat_limit=flat_limit, texts=TableTexts({e.id: e for e in edits}))
    ids = np.arange(1, 901, dtype=np.int64)
    chunks = ((ids[s : s + 128], vectors[s : s + 128]) for s in range(0, 900, 128))
    loaded.load(900, vectors[loaded.sample_rows(900)], chunks)
    assert loaded.ids() == added.ids() and loaded.index_kind == added.index_kind
    assert [[e.id for e, _ in row] for row in loaded.search(vectors[:40], k=5)] == [
        [e.id for e, _ in row] for row in added.search(vectors[:40], k=5)
    ]
    loaded.remove([1, 2])
    assert len(loaded) == 898 and not loaded.contains(1)


def test_a_load_announcing_another_count_still_follows_the_rule():
    rng = np.random.default_rng(11)
    vectors, edits = _clustered(rng, 300, 16), _edits(300)
    memory = FaissEditMemory(16, flat_limit=100, texts=TableTexts({e.id: e for e in edits}))
    memory.load(50, vectors[:0], iter([(np.arange(1, 301, dtype=np.int64), vectors)]))  # 250 added meanwhile
    assert len(memory) == 300 and memory.index_kind != "flat"
    assert [row[0][0].id for row in memory.search(vectors[:20], k=1)] == list(range(1, 21))
