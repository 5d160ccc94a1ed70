"""bench's restart phase without models (cli/bench_restart.py): the large log is built through the repository with
stored embeddings, reused when it is already there, and a fresh process loads the memory from it with no embedder
(the figures are the child's own: its RSS, its lookups); the phase's serving part runs in the slow bench test."""

from types import SimpleNamespace

import numpy as np
import pytest

from cli.bench_restart import _child, _ensure_log
from core.progress import NoProgress
from core.types import EditDraft
from db import edit_vectors
from db.repository import EditRepository
from tests.conftest import HashingEmbedder

CASES = [SimpleNamespace(edit=EditDraft(f"The capital of country {i} is", f"City {i}")) for i in range(40)]


def test_the_restart_log_is_built_once_and_a_fresh_process_loads_it_without_a_model(tmp_path):
    url = f"sqlite:///{tmp_path / 'restart-300.sqlite'}"
    real = HashingEmbedder().encode([c.edit.prompt for c in CASES])
    assert _ensure_log(url, "hashing-256", CASES, real, 300, NoProgress) > 0
    assert _ensure_log(url, "hashing-256", CASES, real, 300, NoProgress) is None  # kept: not built again
    repo = EditRepository(url)
    assert repo.count_edits("active") == 300 and len(edit_vectors.kept_ids(repo.engine, "hashing-256")) == 300
    assert repo.get_many([41])[0].prompt == "The capital of country 0 is (#40)"  # numbered copies past the real rows
    np.testing.assert_allclose(edit_vectors.stored(repo.engine, "hashing-256", [3])[3], real[2], atol=1e-7)
    np.save(tmp_path / "queries.npy", real[:10])
    spec = {"url": url, "identity": "hashing-256", "dim": 256, "folder": str(tmp_path)}
    loaded = _child("load", spec)
    assert loaded["edits"] == 300 and loaded["index"] == "flat" and loaded["index_bytes"] >= 300 * 256 * 4
    assert 0 < loaded["lookup_p50_ms"] <= loaded["lookup_p95_ms"] and loaded["memory_and_index_bytes"] > 0
    with pytest.raises(RuntimeError, match="have no stored embedding"):  # another embedder's log: a clear failure
        _child("load", {**spec, "identity": "another-embedder"})
