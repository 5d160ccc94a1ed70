"""The explicit edit memory: the active edits and a faiss index over their embeddings.

Invariants:
- the index holds exactly the active edits added and not removed, keyed by edit id;
- `search` is sublinear in spirit: it asks the index for the top-k, it never re-encodes edits;
- the memory is a cache: everything in it can be rebuilt from the edit log; inside it, the per-id
  vectors are the truth and the faiss index is rebuilt from them whenever its kind changes;
- the index kind follows the number of active edits (core.index_rule: exact flat inner product up
  to FLAT_LIMIT, IVF-flat above it, with hysteresis); `index_kind` names the current one. A rebuild
  happens inside the add or remove that crosses a limit and holds the lock meanwhile (about a
  second at the limit, a minute at 1M edits; amortised by the doubling rule).
Small query batches search on one OpenMP thread: measured on the shared 2-core box, a single-query
flat search over 10k MiniLM vectors took p50 16 ms on two threads (thread hand-off) vs 0.8 ms on one.
Thread-safe: every method takes the memory's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Protocol

import faiss
import numpy as np

from core import index_rule
from core.types import Edit


class EditMemory(Protocol):
    def add(self, edits: Sequence[Edit], vectors: np.ndarray) -> None: ...

    def remove(self, edit_ids: Iterable[int]) -> None: ...

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[Edit, float]]]: ...

    def __len__(self) -> int: ...


class FaissEditMemory:
    """Edits by id beside a faiss inner-product index over their unit-length embeddings.

    `flat_limit` moves the flat/IVF switch (core.index_rule.FLAT_LIMIT by default): 0 forces the
    approximate index at every size that can train one, a huge value forces flat.
    """

    def __init__(self, dim: int, flat_limit: int = index_rule.FLAT_LIMIT):
        self.dim, self.flat_limit = dim, flat_limit
        self._edits: dict[int, Edit] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._plan = index_rule.FLAT
        self._index = index_rule.build(self._plan, dim, np.zeros((0, dim), np.float32), np.zeros(0, np.int64))
        self._lock = threading.RLock()

    def add(self, edits: Sequence[Edit], vectors: np.ndarray) -> None:
        """Insert or replace edits; `vectors` is (len(edits), dim), row i embedding edits[i]."""
        if len(edits) != len(vectors):
            raise ValueError(f"{len(edits)} edits but {len(vectors)} vectors")
        with self._lock:
            self.remove([e.id for e in edits if e.id in self._edits])
            for edit, vector in zip(edits, vectors):
                self._edits[edit.id] = edit
                self._vectors[edit.id] = vector
            if not self._replanned():
                ids = np.array([e.id for e in edits], dtype=np.int64)
                self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)

    def remove(self, edit_ids: Iterable[int]) -> None:
        with self._lock:
            ids = [i for i in edit_ids if i in self._edits]
            if not ids:
                return
            for i in ids:
                del self._edits[i], self._vectors[i]
            if not self._replanned():
                self._index.remove_ids(np.array(ids, dtype=np.int64))

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[Edit, float]]]:
        """For each query row, up to k (edit, cosine similarity) pairs, most similar first."""
        with self._lock:
            if not self._edits:
                return [[] for _ in range(len(vectors))]
            sims, ids = _search_few_threads(
                self._index, np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(self._edits))
            )
            return [
                [(self._edits[int(i)], float(s)) for s, i in zip(row_s, row_i) if i >= 0]
                for row_s, row_i in zip(sims, ids)
            ]

    def get(self, edit_id: int) -> Edit | None:
        with self._lock:
            return self._edits.get(edit_id)

    def ids(self) -> list[int]:
        with self._lock:
            return sorted(self._edits)

    def vectors(self, edit_ids: Sequence[int]) -> np.ndarray:
        """The stored embeddings of these edits, (len(edit_ids), dim)."""
        with self._lock:
            return np.stack([self._vectors[i] for i in edit_ids]) if edit_ids else np.zeros((0, self.dim), np.float32)

    def clear(self) -> None:
        with self._lock:
            self._edits.clear()
            self._vectors.clear()
            self._plan = index_rule.FLAT
            self._index = index_rule.build(
                self._plan, self.dim, np.zeros((0, self.dim), np.float32), np.zeros(0, np.int64)
            )

    @property
    def index_kind(self) -> str:
        """The current index, e.g. "flat" or "ivf-flat nlist=1264 nprobe=79" (read-only)."""
        with self._lock:
            return self._plan.describe()

    def index_bytes(self) -> int:
        """Size of the faiss index serialised (its vectors, ids and centroids), about its RAM use."""
        with self._lock:
            return int(faiss.serialize_index(self._index).nbytes)

    def __len__(self) -> int:
        with self._lock:
            return len(self._edits)

    def _replanned(self) -> bool:
        """Rebuild the index from the stored vectors when the size crossed a limit; True if it did."""
        plan = index_rule.next_plan(self._plan, len(self._edits), self.flat_limit)
        if plan == self._plan:
            return False
        ids = np.fromiter(self._edits, dtype=np.int64, count=len(self._edits))
        vectors = np.stack([self._vectors[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)
        self._index = index_rule.build(plan, self.dim, vectors, ids)
        self._plan = plan
        return True


SMALL_BATCH = 16  # query rows below which one thread beats OpenMP's hand-off cost


def _search_few_threads(index, vectors: np.ndarray, k: int):
    """index.search, on one OpenMP thread for small batches (restored afterwards)."""
    if len(vectors) >= SMALL_BATCH:
        return index.search(vectors, k)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(vectors, k)
    finally:
        faiss.omp_set_num_threads(before)
