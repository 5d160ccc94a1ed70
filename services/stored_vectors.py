"""StoredVectors: the edits' embeddings as Services gets them: kept in the log (db.edit_vectors) when the serving
embedder made them, computed (with a write's priority on the model slot) only when not.

Invariants:
- a vector is read from the log only when its row names the serving embedder's identity; any other row is stale;
- `load_into` first embeds every active edit the log holds no row for (a log written before stored embeddings, an
  edit added by a process without models, or every edit after the embedder changed) and stores the rows, so the
  next start reads them; when the log refuses the write (read-only, disk full) the vectors computed are still
  returned for this process and nothing is lost;
- nothing here holds every vector of a large log at once: filling and loading work in bounded chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from core.errors import EditorError
from core.memory import EditMemory
from core.types import Edit
from db import edit_vectors
from db.edit_vectors import Embeddings
from db.engine import write_transaction
from db.repository import EditRepository

log = logging.getLogger(__name__)
FILL_CHUNK = 1024  # edits embedded and stored per transaction by `_fill`
Vectors = dict[str, np.ndarray]  # prompt -> its embedding
Compute = Callable[[Sequence[str]], Vectors]


class StoredVectors:
    def __init__(self, repository: EditRepository, identity: str, dim: int, compute: Compute):
        self.repository, self.identity, self.dim, self.compute = repository, identity, dim, compute

    def embeddings(self, vectors: Vectors) -> Embeddings:
        """What a write stores beside its new edits: these vectors, tagged with the serving embedder."""
        return Embeddings(self.identity, vectors)

    def of(self, edits: Sequence[Edit]) -> Vectors:
        """The embeddings of these edits' prompts: the log's rows where kept, computed for the rest."""
        kept = edit_vectors.stored(self.repository.engine, self.identity, [e.id for e in edits]) if edits else {}
        found = {e.prompt: kept[e.id] for e in edits if e.id in kept}
        return found | self.compute([e.prompt for e in edits if e.prompt not in found])

    def load_into(self, memory: EditMemory) -> dict[int, np.ndarray]:
        """Fill `memory` with the active edits' stored vectors, after embedding and storing those without a row by
        this embedder: its training sample read first (rows spread over the ids), then every vector streamed in id
        order, a bounded chunk at a time. Returns the vectors the log refused to keep (by id), which the caller
        indexes from memory."""
        engine = self.repository.engine
        active = edit_vectors.active_ids(engine)
        unkept = self._fill(np.setdiff1d(active, edit_vectors.kept_ids(engine, self.identity)))
        ids = np.setdiff1d(active, np.fromiter(unkept, np.int64, len(unkept)), assume_unique=True)
        wanted = ids[memory.sample_rows(len(ids))].tolist()
        kept = edit_vectors.stored(engine, self.identity, wanted)
        sample = np.stack([kept[i] for i in wanted if i in kept]) if kept else np.zeros((0, self.dim), np.float32)
        memory.load(len(ids), sample, edit_vectors.chunks(engine, self.identity, ids))
        return unkept

    def _fill(self, missing: np.ndarray) -> dict[int, np.ndarray]:
        """Embed and store the `missing` edits (ids); returns those the log refused to keep, by id."""
        engine, unkept = self.repository.engine, {}
        for start in range(0, len(missing), FILL_CHUNK):
            batch = edit_vectors.prompts(engine, missing[start : start + FILL_CHUNK].tolist())
            computed = self.compute([prompt for _, prompt in batch])
            pairs = [(edit_id, computed[prompt]) for edit_id, prompt in batch]
            try:
                with write_transaction(engine) as conn:
                    edit_vectors.store(conn, self.identity, pairs)
            except EditorError as exc:
                log.warning("embeddings not stored in the log (%s); the next start computes them again", exc)
                unkept |= dict(pairs)
        return unkept
