"""The bench's parts on tiny real components: the embedding cache, synthetic growth, lookup and insertion."""

import numpy as np
import pytest

from core.benchmarks.data import cached_embeddings, grow, noisy_copies
from core.benchmarks.insert import measure_insertion
from core.benchmarks.lookup import measure_lookup, recall
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


def test_measure_lookup_compares_ivf_with_flat():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(10, 16))
    vectors = centres[rng.integers(0, 10, 3000)] + rng.normal(scale=0.1, size=(3000, 16))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    result = measure_lookup(vectors, ["p"] * 10, vectors[:30], k=5)
    assert result["size"] == 3000 and result["auto"] == "flat"
    assert result["flat"]["recall_at_k"] == 1.0 and result["flat"]["index"] == "flat"
    assert result["approx"]["index"].startswith("ivf-flat") and 0.9 <= result["approx"]["recall_at_k"] <= 1.0
    assert result["approx"]["index_bytes"] > 3000 * 16 * 4


def test_measure_insertion_writes_log_and_memory(tmp_path):
    enc, log = LetterCounts(), EditRepository(f"sqlite:///{tmp_path / 'log.sqlite'}")
    memory = FaissEditMemory(26)
    drafts = [EditDraft(f"The capital of country {c} is", f"city {c}") for c in "abcde"]
    result = measure_insertion(drafts, log, enc.encode, memory)
    assert result["n"] == 5 and len(memory) == 5 and len(log.list_edits()) == 5
    assert set(result) == {"n", "log", "embed", "index", "total"}
    assert all(0 <= result[s]["p50_ms"] <= result[s]["p95_ms"] for s in ("log", "embed", "index", "total"))
