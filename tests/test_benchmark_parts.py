"""The bench's parts on tiny real components: the embedding cache, synthetic growth, lookup and insertion."""

import numpy as np
import pytest

from core.benchmarks.data import GROW_BLOCK, GrownVectors, cached_embeddings, grow, noisy_copies
from core.benchmarks.insert import measure_insertion
from core.benchmarks.lookup import exact_top, measure_lookup, recall
from core.memory import FaissEditMemory
from core.types import EditDraft
from db.repository import EditRepository


class LetterCounts:
    """A real, tiny embedder: normalised letter counts (26 dims); records how many texts it embedded."""

    dim = 26
    identity = "letters-26"

    def __init__(self):
        self.embedded = 0

    def encode(self, texts):
        self.embedded += len(texts)
        out = np.ones((len(texts), 26), np.float32) * 1e-3
        for row, text in zip(out, texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    row[ord(ch) - 97] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_cache_is_reused_extended_and_invalidated(tmp_path):
    enc, texts = LetterCounts(), [f"edit number {i} about {'xyz'[i % 3]}" for i in range(30)]
    first = cached_embeddings(texts[:10], enc.encode, tmp_path, "t")
    again = cached_embeddings(texts[:5], enc.encode, tmp_path, "t")
    assert enc.embedded == 10 and np.array_equal(again, first[:5])
    longer = cached_embeddings(texts, enc.encode, tmp_path, "t")
    assert enc.embedded == 30 and np.array_equal(longer[:10], first) and longer.shape == (30, 26)
    changed = ["something else"] + texts[1:]
    cached_embeddings(changed, enc.encode, tmp_path, "t")
    assert enc.embedded == 60  # the first text differs: nothing cached matches


def test_grow_keeps_real_rows_first_and_every_row_unit_length():
    rng = np.random.default_rng(0)
    real = LetterCounts().encode([f"prompt {w}" for w in ("alpha", "beta", "gamma", "delta")])
    grown = grow(real, 1000, rng)
    assert grown.shape == (1000, 26) and np.array_equal(grown[:4], real)
    np.testing.assert_allclose(np.linalg.norm(grown, axis=1), 1.0, rtol=1e-5)
    nearest = (grown[4:] @ real.T).max(axis=1)  # noisy copies stay near some real row
    assert nearest.mean() > 0.6 and nearest.max() < 1.0
    assert np.array_equal(grow(real, 3, rng), real[:3])
    near = noisy_copies(real, np.array([0, 0]), rng, sigma=0.1)
    assert (near @ real[0] > 0.9).all()


def test_recall_counts_shared_neighbours():
    assert recall([{1, 2}, {3, 4}], [{1, 2}, {3, 5}], 2) == pytest.approx(0.75)
    assert recall([{1}], [{1}], 10) == 1.0  # a reference shorter than k


def _clustered_real(n=300, dim=16):
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, dim))
    vectors = centres[rng.integers(0, 10, n)] + rng.normal(scale=0.1, size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_grown_vectors_give_the_same_rows_by_chunk_and_by_position():
    real = _clustered_real()
    source = GrownVectors(real, 3 * GROW_BLOCK + 5, seed=9)
    chunks = list(source.chunks(2 * GROW_BLOCK))
    assert [start for start, _ in chunks] == [0, 2 * GROW_BLOCK] and sum(len(v) for _, v in chunks) == source.size
    whole = np.concatenate([v for _, v in chunks])
    assert np.array_equal(whole[: len(real)], real)  # the real rows first, unchanged
    np.testing.assert_allclose(np.linalg.norm(whole, axis=1), 1.0, rtol=1e-5)
    picked = np.array([0, 7, len(real), GROW_BLOCK + 3, source.size - 1])
    assert np.array_equal(source.rows(picked), whole[picked])
    assert np.array_equal(GrownVectors(real, source.size, seed=9).rows(picked), whole[picked])  # reproducible
    assert not np.array_equal(GrownVectors(real, source.size, seed=10).rows(picked[2:]), whole[picked[2:]])


def test_exact_top_streams_to_the_brute_force_answer():
    source = GrownVectors(_clustered_real(), 2 * GROW_BLOCK + 100, seed=3)
    whole = np.concatenate([v for _, v in source.chunks(GROW_BLOCK)])
    queries = whole[[5, 500, 9000]] + 0.01
    brute = [set((np.argsort(-row)[:7] + 1).tolist()) for row in queries @ whole.T]
    assert exact_top(source, queries, 7) == brute


def test_measure_lookup_compares_the_compressed_ivf_with_exact_search():
    source = GrownVectors(_clustered_real(), 3000, seed=1)
    queries = source.rows(np.arange(0, 3000, 100))
    result = measure_lookup(source, queries, k=5)
    assert result["size"] == 3000 and result["auto"] == "flat"
    assert result["targets"] == {"p50_ms": 10.0, "recall_at_k": 0.95, "peak_rss_bytes_at_1m": 2 * 10**9}
    flat, approx = result["flat"], result["approx"]
    assert flat["recall_at_k"] == 1.0 and flat["index"] == "flat"  # the flat index agrees with the streamed exact top
    assert approx["index"].startswith("ivf-fp16 nlist=") and 0.9 <= approx["recall_at_k"] <= 1.0
    assert flat["index_bytes"] > 3000 * 16 * 4 > approx["index_bytes"] > 3000 * 16 * 2  # two bytes per dimension
    for m in (flat, approx):
        assert 0 < m["p50_ms"] <= m["p95_ms"] and m["build_s"] == pytest.approx(m["train_s"] + m["add_s"])
        assert m["peak_rss_bytes"] is None or m["peak_rss_bytes"] >= m["rss_growth_bytes"]


def test_measure_insertion_writes_log_and_memory(tmp_path):
    enc, log = LetterCounts(), EditRepository(f"sqlite:///{tmp_path / 'log.sqlite'}")
    memory = FaissEditMemory(26)
    drafts = [EditDraft(f"The capital of country {c} is", f"city {c}") for c in "abcde"]
    result = measure_insertion(drafts, log, enc.encode, memory)
    assert result["n"] == 5 and len(memory) == 5 and len(log.list_edits()) == 5
    assert set(result) == {"n", "log", "embed", "index", "total"}
    assert all(0 <= result[s]["p50_ms"] <= result[s]["p95_ms"] for s in ("log", "embed", "index", "total"))
