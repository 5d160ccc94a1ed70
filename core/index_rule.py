"""Which faiss index the edit memory keeps, chosen by the number of active edits, and how it is built.

The rule, from measurements on the shared 2-core CPU box (busy with other work meanwhile): MiniLM
vectors of CounterFact prompts (384 dims), grown past the 10k real ones with noisy copies (see
core.benchmarks.data); queries are real paraphrase embeddings asked one at a time on one thread;
recall@10 is against the exact flat results.

  edits  flat p50   IVF nlist  nprobe: recall@10, p50           build   HNSW M=16, efC 40
  100k   14-17 ms   316        32: 0.929, 1.5 ms   48: 0.956, 2.3 ms   64: 0.970, 2.8 ms   4 s
                                                                       efS 128: recall 0.96*, 11 s build
  1M     137 ms     1000       32: 0.914, 5.9 ms   64: 0.947, 12 ms    96: 0.965, 16 ms    63 s
                               128: 0.975, 21 ms                       efS 128: recall 0.70*, 127 s build
  (* HNSW recall on a mix of paraphrases and noisy copies, which IVF also found easier: 0.98 at 1M/nprobe 32.)

- up to FLAT_LIMIT edits: exact inner product (IndexFlatIP): a single query scans every vector,
  ~0.08-0.14 ms per 1k edits, so ~2.5 ms at the limit; below it nothing approximate pays for its
  recall loss.
- above FLAT_LIMIT: IndexIVFFlat (k-means cells, exact distances inside the probed cells) with
  nlist = sqrt(n) cells (k-means on MIN_IVF_SIZE sampled points per cell, KMEANS_ITERATIONS rounds)
  and nprobe = NPROBE_PER_SQRT_NLIST * sqrt(nlist) = 3.5 n^(1/4) cells: the share of the memory
  scanned falls as 3.5 / n^(1/4) (about 20% at 100k, 11% at 1M), which is what kept recall@10 near
  0.97 at both sizes. Doubling nlist (2 sqrt n) cost 3.7x the build time at 1M for no better
  recall per scanned vector.
- IVF, not HNSW: IVF removes ids natively (HNSW cannot delete: it would need tombstones and
  periodic rebuilds), builds faster at 1M, and HNSW's recall collapsed at 1M on these vectors.
- hysteresis: the memory switches to IVF when it grows past FLAT_LIMIT and back to flat only when
  it shrinks below FLAT_LIMIT * SHRINK_BACK, so adding and removing around the limit never thrashes.
  An IVF index is retrained when the memory has grown REBUILD_FACTOR times past (or shrunk below
  1/REBUILD_FACTOR of) the size it was trained at, so nlist keeps tracking the size; each rebuild
  costs O(n), and doubling keeps the amortised cost per added edit constant.

Invariant: `build` returns an index holding exactly the given (id, vector) pairs, searchable by
inner product; a plan's `describe()` names the kind and its parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import faiss
import numpy as np

FLAT_LIMIT = 32_768  # active edits above which the memory switches to IVF
SHRINK_BACK = 0.75  # back to flat below FLAT_LIMIT * SHRINK_BACK
REBUILD_FACTOR = 2.0  # retrain IVF when the size moves this factor away from its training size
NLIST_PER_SQRT = 1  # nlist = sqrt(n) cells
NPROBE_PER_SQRT_NLIST = 3.5  # nprobe = 3.5 * sqrt(nlist) cells probed per query
KMEANS_ITERATIONS = 10
SEED = 1234
MIN_IVF_SIZE = 39  # k-means trains on 39 points per cell (faiss's minimum); smaller memories stay flat


@dataclass(frozen=True)
class IndexPlan:
    """The index kind and its parameters; `trained_at` is the size an IVF index was built for."""

    kind: str  # "flat" or "ivf-flat"
    nlist: int = 0
    nprobe: int = 0
    trained_at: int = 0

    def describe(self) -> str:
        return "flat" if self.kind == "flat" else f"ivf-flat nlist={self.nlist} nprobe={self.nprobe}"


FLAT = IndexPlan("flat")


def plan_for(n: int, flat_limit: int = FLAT_LIMIT) -> IndexPlan:
    """The index a memory of n edits gets when built from scratch."""
    return FLAT if n <= max(flat_limit, MIN_IVF_SIZE - 1) else _ivf(n)


def next_plan(current: IndexPlan, n: int, flat_limit: int = FLAT_LIMIT) -> IndexPlan:
    """The plan after the memory changed to n edits: `current` unless a limit was crossed."""
    if current.kind == "flat":
        return plan_for(n, flat_limit)
    if n < max(flat_limit * SHRINK_BACK, MIN_IVF_SIZE):
        return FLAT
    if n > current.trained_at * REBUILD_FACTOR or n * REBUILD_FACTOR < current.trained_at:
        return _ivf(n)
    return current


def _ivf(n: int) -> IndexPlan:
    """IVF parameters for n vectors: sqrt(n) cells (at least 39 vectors each), 3.5 sqrt(nlist) probed."""
    nlist = max(1, min(int(NLIST_PER_SQRT * math.sqrt(n)), n // MIN_IVF_SIZE))
    nprobe = min(nlist, math.ceil(NPROBE_PER_SQRT_NLIST * math.sqrt(nlist)))
    return IndexPlan("ivf-flat", nlist, nprobe, n)


def build(plan: IndexPlan, dim: int, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """A new index of `plan`'s kind holding `vectors` (n, dim) under `ids` (n,)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if plan.kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, plan.nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter, index.cp.seed = KMEANS_ITERATIONS, SEED
        index.train(_training_sample(vectors, plan.nlist))
        index.nprobe = plan.nprobe
    if len(vectors):
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index


def _training_sample(vectors: np.ndarray, nlist: int) -> np.ndarray:
    """k-means on MIN_IVF_SIZE vectors per cell (a fixed-seed sample), not on all n."""
    n = min(len(vectors), nlist * MIN_IVF_SIZE)
    rows = np.sort(np.random.default_rng(SEED).choice(len(vectors), n, replace=False))
    return vectors[rows]
