import numpy as np
import pytest

from core.memory import FaissEditMemory
from core.types import Edit


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
    assert memory.index_kind.startswith("ivf-fp16 nlist=")
    memory.remove([201])  # back to the limit: no flip-flop
    memory.add(edits[200:201], vectors[200:201])
    assert memory.index_kind.startswith("ivf-fp16") and len(memory) == 201
    memory.remove(range(152, 202))  # 151 left: still above 200 * 0.75
    assert memory.index_kind.startswith("ivf-fp16") and len(memory) == 151
    memory.remove([151])  # 150 = the shrink-back bound; one more goes back to flat
    assert memory.index_kind.startswith("ivf-fp16")
    memory.remove([150])
    assert memory.index_kind == "flat" and memory.ids() == list(range(1, 150))
    assert [row[0][0].id for row in memory.search(vectors[:149], k=1)] == list(range(1, 150))


def test_ivf_search_agrees_with_exact_search_on_clustered_data():
    rng = np.random.default_rng(6)
    vectors, edits = _clustered(rng, 3000, 32), _edits(3000)
    memory = FaissEditMemory(32, flat_limit=500)
    memory.add(edits, vectors)
    assert memory.index_kind.startswith("ivf-fp16")
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
    assert memory.index_kind.startswith("ivf-fp16")
    gone = list(range(1, 601, 3))
    memory.remove(gone)
    hits = memory.search(vectors, k=5)
    assert all(hit[0].id not in gone for row in hits for hit in row)
    assert memory.ids() == [i for i in range(1, 601) if i not in gone]
    memory.add([Edit(id=2, prompt="prompt 1", target="new")], vectors[1:2])
    assert memory.get(2).target == "new" and memory.search(vectors[1:2], k=1)[0][0][0].id == 2
    np.testing.assert_array_equal(memory.vectors([2, 3]), vectors[1:3])


def test_ivf_is_retrained_as_the_memory_doubles_and_clear_returns_to_flat():
    rng = np.random.default_rng(8)
    vectors, edits = _clustered(rng, 2000, 16), _edits(2000)
    memory = FaissEditMemory(16, flat_limit=100)
    memory.add(edits[:200], vectors[:200])
    small = memory.index_kind
    memory.add(edits[200:], vectors[200:])
    assert memory.index_kind != small and memory.index_kind.startswith("ivf-fp16")
    assert memory.index_bytes() > 2000 * 16 * 2  # two bytes per dimension (ivf-fp16)
    memory.clear()
    assert memory.index_kind == "flat" and memory.search(vectors[:1], k=3) == [[]]
