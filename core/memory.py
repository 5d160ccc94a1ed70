"""The explicit edit memory: a faiss index over the active edits' embeddings, keyed by edit id.

Invariants:
- the index holds exactly the active edits added and not removed, keyed by edit id; `ids` lists them;
- the memory keeps no Python object per edit: the ids live in one sorted int64 array and the vectors only in the
  faiss index (compressed above the flat limit, core.index_rule); an edit's text comes from `texts` (an EditTexts)
  when it is a candidate: the edit log itself when Services serves a log (services.log_texts), else
  KeptTexts, a dict for memories with no log (evaluation, benchmarks);
- `search` asks the index for the top-k, it never re-encodes edits; a hit whose text `texts` no longer has as
  active (retired in the log since) is dropped;
- the memory is a cache: everything in it can be rebuilt from the edit log (`load` streams it in); a snapshot of it
  (`save_snapshot`, core.index_snapshot) is loaded only when its header holds the caller's key (embedder, the log's
  watermark), the memory's dimension and flat limit, and the plan index_rule gives now;
- the index kind follows the number of active edits (core.index_rule, with hysteresis); `index_kind` names it.
  A re-plan (crossing a limit) trains the new index on a sample of the vectors the old one holds and moves them
  over a chunk at a time (index_rule.reconstruct: exact from flat, decoded from a compressed kind), inside the
  add or remove that crossed it, holding the lock meanwhile; peak memory stays near two indexes, never a full
  float32 copy of the vectors.
Small query batches search on one OpenMP thread: measured on the shared 2-core box, a single-query
flat search over 10k MiniLM vectors took p50 16 ms on two threads (thread hand-off) vs 0.8 ms on one.
Thread-safe: every method takes the memory's lock.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from core import index_rule, index_snapshot
from core.types import Edit

MOVE_CHUNK = 50_000  # vectors moved per step when a re-plan rebuilds the index


class EditTexts(Protocol):
    """Where the memory finds an edit's text by id."""

    def put(self, edits: Sequence[Edit]) -> None: ...

    def drop(self, edit_ids: Sequence[int]) -> None: ...

    def fetch(self, edit_ids: Sequence[int]) -> dict[int, Edit]:
        """The active edits among these ids that it knows, by id."""
        ...

    def clear(self) -> None: ...


class KeptTexts:
    """Edits kept in a dict: for a memory that serves no log (evaluation, benchmarks, tests)."""

    def __init__(self):
        self._edits: dict[int, Edit] = {}

    def put(self, edits: Sequence[Edit]) -> None:
        self._edits.update((e.id, e) for e in edits)

    def drop(self, edit_ids: Sequence[int]) -> None:
        for i in edit_ids:
            self._edits.pop(i, None)

    def fetch(self, edit_ids: Sequence[int]) -> dict[int, Edit]:
        return {i: self._edits[i] for i in edit_ids if i in self._edits}

    def clear(self) -> None:
        self._edits.clear()


class EditMemory(Protocol):
    texts: EditTexts

    def add(self, edits: Sequence[Edit], vectors: np.ndarray) -> None: ...

    def remove(self, edit_ids: Iterable[int]) -> None: ...

    def load(self, count: int, sample: np.ndarray, chunks: Iterator[tuple[np.ndarray, np.ndarray]]) -> None: ...

    def sample_rows(self, count: int) -> np.ndarray: ...

    def save_snapshot(self, path: Path, key: dict) -> int: ...

    def load_snapshot(self, path: Path, key: dict) -> dict: ...

    def snapshot_problem(self, header: dict, key: dict) -> str | None: ...

    def use_texts(self, texts: EditTexts) -> None: ...

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[Edit, float]]]: ...

    def contains(self, edit_id: int) -> bool: ...

    def get(self, edit_id: int) -> Edit | None: ...

    def ids(self) -> list[int]: ...

    def vectors(self, edit_ids: Sequence[int]) -> np.ndarray: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...


class FaissEditMemory:
    """Sorted edit ids beside a faiss inner-product index over their unit-length embeddings.

    `flat_limit` moves the flat/IVF switch (core.index_rule.FLAT_LIMIT by default): 0 forces the
    approximate index at every size that can train one, a huge value forces flat.
    """

    def __init__(self, dim: int, flat_limit: int = index_rule.FLAT_LIMIT, texts: EditTexts | None = None):
        self.dim, self.flat_limit = dim, flat_limit
        self.texts: EditTexts = texts if texts is not None else KeptTexts()
        self._lock = threading.RLock()
        self._reset()

    def use_texts(self, texts: EditTexts) -> None:
        """Read edits' texts from `texts` from now on (the memory is emptied: fill it again)."""
        with self._lock:
            self.clear()
            self.texts = texts

    def add(self, edits: Sequence[Edit], vectors: np.ndarray) -> None:
        """Insert or replace edits; `vectors` is (len(edits), dim), row i embedding edits[i]."""
        if len(edits) != len(vectors):
            raise ValueError(f"{len(edits)} edits but {len(vectors)} vectors")
        if not len(edits):
            return
        with self._lock:
            self.remove([e.id for e in edits if self.contains(e.id)])
            ids = np.fromiter((e.id for e in edits), dtype=np.int64, count=len(edits))
            ids, rows = np.unique(ids[::-1], return_index=True)  # an id given twice: its last row wins
            rows = len(edits) - 1 - rows
            self.texts.put(list(edits))
            self._index.add_with_ids(np.ascontiguousarray(vectors[rows], dtype=np.float32), ids)
            self._ids = np.union1d(self._ids, ids)
            self._replan()

    def remove(self, edit_ids: Iterable[int]) -> None:
        with self._lock:
            ids = np.array([i for i in edit_ids if self.contains(i)], dtype=np.int64)
            if not len(ids):
                return
            self.texts.drop(ids.tolist())
            self._index.remove_ids(ids)
            self._ids = np.setdiff1d(self._ids, ids, assume_unique=True)
            self._replan()

    def load(self, count: int, sample: np.ndarray, chunks: Iterator[tuple[np.ndarray, np.ndarray]]) -> None:
        """Replace the contents with a stream of (ids, vectors) chunks holding `count` edits in all, the index
        trained on `sample` (index_rule.sample_size of the plan for `count`, e.g. rows at index_rule.sample_rows).
        The texts are `texts`' own (a log already holds them)."""
        with self._lock:
            self.clear()
            self._plan = index_rule.plan_for(count, self.flat_limit)
            self._index = index_rule.empty(self._plan, self.dim, sample)
            kept = []
            for ids, vectors in _read_ahead(chunks):  # the next chunk is read while faiss adds this one
                self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
                kept.append(ids.astype(np.int64))
            self._ids = np.unique(np.concatenate(kept)) if kept else self._ids
            self._replan()  # the stream held another count than announced: follow the rule

    def save_snapshot(self, path: Path, key: dict) -> int:
        """Write the index and the ids to `path` (core.index_snapshot) under a header of `key` (what the caller
        needs to trust it later: the embedder, the log's watermark) and what the memory itself needs (its dimension,
        flat limit and plan); returns the bytes written. Holds the lock meanwhile (a few seconds at 1M edits)."""
        with self._lock:
            header = {**key, "format": index_snapshot.FORMAT, **self._own_key(), "plan": asdict(self._plan)}
            return index_snapshot.write(path, header, self._ids, self._index)

    def load_snapshot(self, path: Path, key: dict) -> dict:
        """Replace the contents with the snapshot at `path` when its header holds `key` and the memory's own key and
        its plan is what core.index_rule gives now; returns the header. SnapshotError says why not (nothing changed
        then). The texts are `texts`' own, as for `load`."""
        header, ids, index = index_snapshot.read(path)
        plan = self._snapshot_plan(header, key)
        with self._lock:
            self.texts.clear()
            self._ids, self._index, self._plan = ids, index, plan
        return header

    def snapshot_problem(self, header: dict, key: dict) -> str | None:
        """Why a snapshot with this header does not fit this memory and `key` (None: it fits)."""
        try:
            self._snapshot_plan(header, key)
        except index_snapshot.SnapshotError as exc:
            return str(exc)
        return None

    def _own_key(self) -> dict:
        return {"dim": self.dim, "flat_limit": self.flat_limit}

    def _snapshot_plan(self, header: dict, key: dict) -> index_rule.IndexPlan:
        wanted = {**key, "format": index_snapshot.FORMAT, **self._own_key()}
        for name, value in wanted.items():
            if header.get(name) != value:
                raise index_snapshot.SnapshotError(f"the snapshot's {name} is {header.get(name)!r}, not {value!r}")
        try:
            plan = index_rule.IndexPlan(**header["plan"])
            rule = index_rule.FLAT if plan.kind == "flat" else index_rule.ivf_plan(plan.trained_at)
            settled = index_rule.next_plan(plan, int(header.get("count", -1)), self.flat_limit) == plan
        except (KeyError, TypeError, ValueError):
            raise index_snapshot.SnapshotError("the snapshot names no valid index plan") from None
        if plan != rule or not settled:
            raise index_snapshot.SnapshotError(
                f"the snapshot's index plan ({plan.describe()}) is not what the index rule gives now"
                f" ({index_rule.plan_for(header.get('count', 0), self.flat_limit).describe()})"
            )
        return plan

    def sample_rows(self, count: int) -> np.ndarray:
        """Which rows (positions among `count` edits in id order) `load` wants as its training sample."""
        return index_rule.sample_rows(count, index_rule.plan_for(count, self.flat_limit))

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[Edit, float]]]:
        """For each query row, up to k (edit, cosine similarity) pairs, most similar first."""
        with self._lock:
            if not len(self._ids):
                return [[] for _ in range(len(vectors))]
            sims, ids = _search_few_threads(
                self._index, np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(self._ids))
            )
        edits = self.texts.fetch(sorted({int(i) for i in ids.ravel() if i >= 0}))  # a log read: outside the lock
        return [
            [(edits[int(i)], float(s)) for s, i in zip(row_s, row_i) if int(i) in edits]
            for row_s, row_i in zip(sims, ids)
        ]

    def contains(self, edit_id: int) -> bool:
        with self._lock:
            at = int(np.searchsorted(self._ids, edit_id))
            return at < len(self._ids) and int(self._ids[at]) == edit_id

    def get(self, edit_id: int) -> Edit | None:
        """The edit as the memory serves it (its text from `texts`), or None when the memory does not hold it."""
        with self._lock:
            return self.texts.fetch([edit_id]).get(edit_id) if self.contains(edit_id) else None

    def ids(self) -> list[int]:
        with self._lock:
            return self._ids.tolist()

    def vectors(self, edit_ids: Sequence[int]) -> np.ndarray:
        """The index's vectors of these edits, (len(edit_ids), dim) (decoded from a compressed index)."""
        with self._lock:
            return index_rule.reconstruct(self._index, np.asarray(edit_ids, dtype=np.int64))

    def clear(self) -> None:
        with self._lock:
            self.texts.clear()
            self._reset()

    @property
    def index_kind(self) -> str:
        """The current index, e.g. "flat" or "ivf-sq8 nlist=1000 nprobe=111" (read-only)."""
        with self._lock:
            return self._plan.describe()

    def index_bytes(self) -> int:
        """Size of the faiss index serialised (its vectors, ids and centroids), about its RAM use."""
        with self._lock:
            return int(faiss.serialize_index(self._index).nbytes)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)

    def _reset(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._plan = index_rule.FLAT
        self._index = index_rule.empty(self._plan, self.dim, np.zeros((0, self.dim), np.float32))

    def _replan(self) -> None:
        """When the size crossed a limit, a new index of the next plan, trained on a sample of the vectors the
        current one holds, which then move over MOVE_CHUNK at a time."""
        plan = index_rule.next_plan(self._plan, len(self._ids), self.flat_limit)
        if plan == self._plan:
            return
        ids = self._ids
        index = index_rule.empty(plan, self.dim, self.vectors(ids[index_rule.sample_rows(len(ids), plan)]))
        for start in range(0, len(ids), MOVE_CHUNK):
            index.add_with_ids(self.vectors(ids[start : start + MOVE_CHUNK]), ids[start : start + MOVE_CHUNK])
        self._index, self._plan = index, plan


SMALL_BATCH = 16  # query rows below which one thread beats OpenMP's hand-off cost


def _read_ahead(chunks: Iterator, depth: int = 2) -> Iterator:
    """The items of `chunks`, produced by a thread up to `depth` ahead (faiss releases the GIL while it adds), in
    order; an exception raised by `chunks` is raised here; a consumer that stops early stops the thread."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    end, stop = object(), threading.Event()

    def hand(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in chunks:
                if not hand(item):
                    return
            hand(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            hand(exc)

    threading.Thread(target=produce, daemon=True, name="memory-read-ahead").start()
    try:
        while (item := ahead.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


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
