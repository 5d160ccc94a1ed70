"""Each edit's embedding, kept in the log beside the edit (table edit_vectors), tagged with the embedder's identity.

The index over the edits (core.memory) is a cache rebuilt from these rows on start, so a restart reads vectors
instead of running the embedder over every edit.

Invariants:
- a row holds the float32 bytes of the embedding of its edit's prompt as the embedder named `embedder` made it;
  prompts never change, so a row stays right until the embedder changes;
- rows are a cache inside the truth: a missing row, or one made by another embedder, is recomputed by the caller
  and replaced (`store` overwrites), never an error; retired edits keep their rows (a restore needs no embedding);
- reads stream in id order in bounded chunks: nothing here holds every vector of a large log at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from db.engine import read_transaction
from db.models import edit_vectors, edits

CHUNK = 20_000  # rows per streamed read: 30 MB of 384-dim vectors
IN_LIMIT = 900  # ids per IN (...) list: under SQLite's host-parameter limit


@dataclass(frozen=True)
class Embeddings:
    """Embeddings made by one embedder, by prompt: what a write stores for its new edits."""

    embedder: str
    by_prompt: Mapping[str, np.ndarray]


def store(conn: sa.Connection, embedder: str, pairs: Sequence[tuple[int, np.ndarray]]) -> None:
    """Keep (edit id, vector) pairs made by `embedder` in the caller's transaction, replacing any row of those ids."""
    if not pairs:
        return
    ids = [int(i) for i, _ in pairs]
    for start in range(0, len(ids), IN_LIMIT):
        conn.execute(edit_vectors.delete().where(edit_vectors.c.edit_id.in_(ids[start : start + IN_LIMIT])))
    conn.execute(
        edit_vectors.insert(),
        [dict(edit_id=i, embedder=embedder, vector=_bytes(v)) for i, (_, v) in zip(ids, pairs)],
    )


def store_new(conn: sa.Connection, embeddings: Embeddings | None, added: Sequence) -> None:
    """Rows for newly inserted edits (objects with .id and .prompt) whose prompt `embeddings` holds."""
    if embeddings is not None:
        found = [(e.id, embeddings.by_prompt[e.prompt]) for e in added if e.prompt in embeddings.by_prompt]
        store(conn, embeddings.embedder, found)


def stored(engine: sa.Engine, embedder: str, edit_ids: Sequence[int]) -> dict[int, np.ndarray]:
    """The vectors `embedder` made for these edits, where kept."""
    out: dict[int, np.ndarray] = {}
    ids = [int(i) for i in edit_ids]
    with read_transaction(engine) as conn:
        for start in range(0, len(ids), IN_LIMIT):
            query = sa.select(edit_vectors.c.edit_id, edit_vectors.c.vector).where(
                edit_vectors.c.edit_id.in_(ids[start : start + IN_LIMIT]), edit_vectors.c.embedder == embedder
            )
            out |= {r.edit_id: _vector(r.vector) for r in conn.execute(query)}
    return out


def active_ids(engine: sa.Engine) -> np.ndarray:
    """Ids of the active edits, ascending (int64: 8 bytes an edit; read from the status index)."""
    query = sa.select(edits.c.id).where(edits.c.status == "active").order_by(edits.c.id)
    with read_transaction(engine) as conn:
        return np.fromiter((r[0] for r in conn.execute(query)), dtype=np.int64)


def kept_ids(engine: sa.Engine, embedder: str) -> np.ndarray:
    """Ids of the edits with a row by `embedder`, ascending (read from the (embedder, edit_id) index, no vector)."""
    column = edit_vectors.c.edit_id
    query = sa.select(column).where(edit_vectors.c.embedder == embedder).order_by(column)
    with read_transaction(engine) as conn:
        return np.fromiter((r[0] for r in conn.execute(query)), dtype=np.int64)


def prompts(engine: sa.Engine, edit_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(id, prompt) of these edits, in id order."""
    ids = [int(i) for i in edit_ids]
    out: list[tuple[int, str]] = []
    with read_transaction(engine) as conn:
        for start in range(0, len(ids), IN_LIMIT):
            query = sa.select(edits.c.id, edits.c.prompt).where(edits.c.id.in_(ids[start : start + IN_LIMIT]))
            out += [(r.id, r.prompt) for r in conn.execute(query)]
    return sorted(out)


def chunks(
    engine: sa.Engine, embedder: str, wanted: np.ndarray, chunk: int = CHUNK
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, vectors (m, dim) float32) of the rows by `embedder` whose ids are in `wanted` (ascending), in id order,
    about `chunk` rows a time: one short read per chunk walking the table in key order (no join, no sort)."""
    after = -1
    while True:
        query = (
            sa.select(edit_vectors.c.edit_id, edit_vectors.c.vector)
            .where(edit_vectors.c.edit_id > after, edit_vectors.c.embedder == embedder)
            .order_by(edit_vectors.c.edit_id)
            .limit(chunk)
        )
        with read_transaction(engine) as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        ids = np.fromiter((r.edit_id for r in rows), dtype=np.int64, count=len(rows))
        keep = np.isin(ids, wanted, assume_unique=True)
        if keep.any():
            data = b"".join(r.vector for r, k in zip(rows, keep) if k)
            yield ids[keep], np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(int(keep.sum()), -1)
        after = int(ids[-1])


def _bytes(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def _vector(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)
