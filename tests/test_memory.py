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
    one_by_one = [memory.search(vectors[i:i + 1], k=3)[0] for i in range(40)]
    assert one_by_one == memory.search(vectors, k=3)
    assert faiss.omp_get_max_threads() == threads

