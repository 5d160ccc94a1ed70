"""Which faiss index the edit memory keeps, chosen by the number of active edits, and how it is built.

Measured on the shared 2-core CPU box (busy with other work: load 6-10 on 2 cores, so timings are
upper bounds), by the lookup benchmark (core/benchmarks/lookup.py): MiniLM vectors of CounterFact
prompts (384 dims), grown past the 10k real ones with noisy copies (core.benchmarks.data); 200
queries are real paraphrase embeddings asked one at a time on one thread; recall@10 is against exact
search; build = train + add in chunks; peak = the process's VmHWM while building (fresh process).

  100k edits (nlist 316)  nprobe 48: recall, p50   64               96               build   index
  flat                    exact 1.000, p50 21 ms                                     0.6 s   154 MB
  ivf-flat                0.932, 4.4 ms   0.952, 5.9 ms   0.985, 7.9 ms              5.0 s   156 MB
  ivf-sq8                 0.927, 1.4 ms   0.947, 1.8 ms   0.980, 6.2 ms              4.3 s    41 MB
  ivf-sq8 by residual     0.923, 1.9 ms   0.943, 4.9 ms   0.976                      4.3 s    41 MB
  ivf-fp16                0.932, 1.9 ms   0.952, 2.7 ms   0.985, 6.7 ms              7.0 s    80 MB
  ivf-pq96 (96 B/vector)  64: 0.849   96: 0.879   128: 0.887 (PQ's own error caps it); 291 s to train
1M TABLE

- up to FLAT_LIMIT edits: exact inner product (IndexFlatIP in an IndexIDMap2): a single query scans
  every vector, ~0.08-0.2 ms per 1k edits, so ~2.5-7 ms at the limit, where it holds 50 MB; below it
  nothing approximate pays for its recall loss.
- above FLAT_LIMIT: IVF with 8-bit scalar-quantized codes (one byte per dimension, a quarter of
  float32): recall within 0.005 of IVF-flat at the same nprobe, scanning is faster (fewer bytes),
  and 1M edits take ~0.4 GB instead of 1.5 GB. fp16 halves memory only; PQ loses recall that no
  nprobe buys back and trains for minutes. Codes hold each vector's residual from its cell centroid
  (by_residual): the same recall on MiniLM, 2.5x smaller decode error (0.963 vs 0.935 recall on tight
  synthetic clusters, tests/test_memory.py). Each coordinate's 8-bit range is the training sample's
  widened by SQ_RANGE_MARGIN, so coordinates of vectors outside the sample are not clipped (on 100k
  MiniLM rows: none clipped at 25%, 4 in a million at 10%).
- nlist = sqrt(n) cells (k-means on MIN_IVF_SIZE sampled points per cell, KMEANS_ITERATIONS rounds,
  spherical), nprobe = NPROBE_PER_SQRT_NLIST * sqrt(nlist) = 3.5 n^(1/4) cells: the share scanned
  falls as 3.5 / n^(1/4) (about 20% at 100k, 11% at 1M), which keeps recall@10 near 0.96-0.97.
- IVF, not HNSW: IVF removes ids natively (HNSW cannot delete: it would need tombstones and
  periodic rebuilds), builds faster at 1M, and HNSW's recall collapsed at 1M on these vectors
  (efSearch 128: 0.70). Every IVF index keeps a hashtable from id to its place (DirectMap), so
  `remove_ids` and `reconstruct` work by id: HASHTABLE COST.
- hysteresis: the memory switches to IVF when it grows past FLAT_LIMIT and back to flat only when
  it shrinks below FLAT_LIMIT * SHRINK_BACK, so adding and removing around the limit never thrashes.
  An IVF index is retrained when the memory has grown REBUILD_FACTOR times past (or shrunk below
  1/REBUILD_FACTOR of) the size it was trained at, so nlist keeps tracking the size; each rebuild
  costs O(n), and doubling keeps the amortised cost per added edit constant. A rebuild from
  `reconstruct`ed vectors adds at most one more `decode_bound` to each coordinate; reading the
  vectors from the log instead (the truth) adds nothing.

Invariants: `build` returns an index holding exactly the given (id, vector) pairs, searchable by
inner product; `empty` + `add_with_ids` chunk by chunk over the rows `sample_rows` names gives the
same index as `build`; every index either makes supports `add_with_ids`, `remove_ids` (an id array)
and `reconstruct` (exact for flat, within the kind's `decode_error` otherwise); a plan's
`describe()` names the kind and its parameters.
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
APPROX_KIND = "ivf-sq8"  # the compressed kind above the flat limit (see the table)
KMEANS_ITERATIONS = 10
SEED = 1234
HNSW_M, HNSW_EF_SEARCH = 32, 64  # the "hnsw" coarse quantizer's graph degree and search breadth
MIN_IVF_SIZE = 39  # k-means trains on 39 points per cell (faiss's minimum); smaller memories stay flat
PQ_MIN_TRAIN = 256 * MIN_IVF_SIZE  # a PQ codebook of 256 centroids per sub-vector needs this many rows
SQ_RANGE_MARGIN = 0.25  # 8-bit codes span each coordinate's sample range widened by 25% on both sides
SQ_BY_RESIDUAL = True  # codes hold vector - its cell centroid: a smaller range, finer 8-bit steps


@dataclass(frozen=True)
class IndexPlan:
    """The index kind and its parameters; `trained_at` is the size an IVF index was built for.

    kind: "flat" (exact), "ivf-flat" (float32 codes), "ivf-sq8" (one byte per dimension),
    "ivf-fp16" (two bytes per dimension) or "ivf-pq<M>" (M bytes per vector); `coarse` is the
    index that assigns vectors to cells: "flat" (exact) or "hnsw" (a graph over the centroids).
    """

    kind: str
    nlist: int = 0
    nprobe: int = 0
    trained_at: int = 0
    coarse: str = "flat"

    def describe(self) -> str:
        if self.kind == "flat":
            return "flat"
        coarse = "" if self.coarse == "flat" else f" coarse={self.coarse}"
        return f"{self.kind} nlist={self.nlist} nprobe={self.nprobe}{coarse}"


FLAT = IndexPlan("flat")


def plan_for(n: int, flat_limit: int = FLAT_LIMIT) -> IndexPlan:
    """The index a memory of n edits gets when built from scratch."""
    return FLAT if n <= max(flat_limit, MIN_IVF_SIZE - 1) else ivf_plan(n)


def next_plan(current: IndexPlan, n: int, flat_limit: int = FLAT_LIMIT) -> IndexPlan:
    """The plan after the memory changed to n edits: `current` unless a limit was crossed."""
    if current.kind == "flat":
        return plan_for(n, flat_limit)
    if n < max(flat_limit * SHRINK_BACK, MIN_IVF_SIZE):
        return FLAT
    if n > current.trained_at * REBUILD_FACTOR or n * REBUILD_FACTOR < current.trained_at:
        return ivf_plan(n)
    return current


def ivf_plan(n: int, kind: str = APPROX_KIND, nlist: int | None = None, coarse: str = "flat") -> IndexPlan:
    """IVF parameters for n vectors: sqrt(n) cells (at least 39 vectors each), 3.5 sqrt(nlist) probed."""
    if nlist is None:
        nlist = int(NLIST_PER_SQRT * math.sqrt(n))
    nlist = max(1, min(nlist, n // MIN_IVF_SIZE))
    nprobe = min(nlist, math.ceil(NPROBE_PER_SQRT_NLIST * math.sqrt(nlist)))
    return IndexPlan(kind, nlist, nprobe, n, coarse)


def sample_size(plan: IndexPlan) -> int:
    """How many training vectors `empty` wants: MIN_IVF_SIZE per cell (more for a PQ codebook); 0 for flat."""
    if plan.kind == "flat":
        return 0
    wanted = plan.nlist * MIN_IVF_SIZE
    return max(wanted, PQ_MIN_TRAIN) if plan.kind.startswith("ivf-pq") else wanted


def sample_rows(n: int, plan: IndexPlan) -> np.ndarray:
    """Row positions, evenly spread over 0..n-1, of the `sample_size` training vectors among n."""
    size = min(n, sample_size(plan))
    return np.unique(np.linspace(0, n - 1, size).astype(np.int64)) if size else np.zeros(0, np.int64)


def empty(plan: IndexPlan, dim: int, sample: np.ndarray) -> faiss.Index:
    """An index of `plan`'s kind trained on `sample` (ignored for flat), holding nothing yet."""
    if plan.kind == "flat":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    if len(sample) < plan.nlist:
        raise ValueError(f"{plan.describe()} needs at least {plan.nlist} training vectors, got {len(sample)}")
    index = _untrained_ivf(plan, dim)
    exact = faiss.IndexFlatIP(dim)  # k-means assigns exactly, whatever finds the cells afterwards
    index.clustering_index = exact
    index.train(sample)
    index.clustering_index = None
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    index.nprobe = plan.nprobe
    return index


def _untrained_ivf(plan: IndexPlan, dim: int) -> faiss.IndexIVF:
    ip = faiss.METRIC_INNER_PRODUCT
    if plan.coarse == "hnsw":  # a graph over the centroids: assigning a vector costs ~log(nlist), not nlist
        quantizer = faiss.IndexHNSWFlat(dim, HNSW_M, ip)
        quantizer.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * plan.nprobe)
    else:
        quantizer = faiss.IndexFlatIP(dim)
    if plan.kind == "ivf-flat":
        index = faiss.IndexIVFFlat(quantizer, dim, plan.nlist, ip)
    elif plan.kind in ("ivf-sq8", "ivf-fp16"):
        qtype = faiss.ScalarQuantizer.QT_8bit if plan.kind == "ivf-sq8" else faiss.ScalarQuantizer.QT_fp16
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, plan.nlist, qtype, ip, SQ_BY_RESIDUAL)
        index.sq.rangestat_arg = SQ_RANGE_MARGIN
    elif plan.kind.startswith("ivf-pq"):
        index = faiss.IndexIVFPQ(quantizer, dim, plan.nlist, int(plan.kind[6:]), 8, ip)
    else:
        raise ValueError(f"unknown index kind {plan.kind!r}")
    index.own_fields = True
    quantizer.this.disown()
    index.cp.niter, index.cp.seed, index.cp.spherical = KMEANS_ITERATIONS, SEED, True
    index.cp.max_points_per_centroid = MIN_IVF_SIZE  # the sample is already the right size
    return index


def build(plan: IndexPlan, dim: int, vectors: np.ndarray, ids: np.ndarray) -> faiss.Index:
    """A new index of `plan`'s kind holding `vectors` (n, dim) under `ids` (n,)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = empty(plan, dim, vectors[sample_rows(len(vectors), plan)])
    if len(vectors):
        index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
    return index


def reconstruct(index: faiss.Index, ids: np.ndarray) -> np.ndarray:
    """(len(ids), dim) float32: the vectors `index` holds under `ids` (decoded for a compressed kind).

    Exact for flat and ivf-flat; otherwise each coordinate is within `decode_bound(index)` of the
    vector added (ivf-pq has no such bound); KeyError if the index holds none under some id."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if not len(ids):
        return np.zeros((0, index.d), np.float32)
    try:
        return index.reconstruct_batch(ids)
    except RuntimeError as exc:
        raise KeyError(f"the index holds none of some ids among {ids[:5].tolist()}...") from exc


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Probe `nprobe` cells per query from now on (an IVF index; the coarse graph searches at least as wide)."""
    index.nprobe = nprobe
    graph = faiss.downcast_index(faiss.extract_index_ivf(index).quantizer)
    if isinstance(graph, faiss.IndexHNSW):
        graph.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * nprobe)


def decode_bound(index: faiss.Index) -> float:
    """The most a coordinate `reconstruct` returns can differ from the one added (unit vectors).

    0 for exact kinds; fp16: half a unit in the last place of a value below 1 (2^-11); 8-bit: half a
    step of 1/255 of the widest trained coordinate range, for coordinates inside that range (the
    SQ_RANGE_MARGIN around the training sample's range; a coordinate beyond it is clipped to it)."""
    ivf = faiss.try_extract_index_ivf(index)
    ivf = None if ivf is None else faiss.downcast_index(ivf)
    if ivf is None or isinstance(ivf, faiss.IndexIVFFlat):
        return 0.0
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer) and ivf.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        return 2.0**-11
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer) and ivf.sq.qtype == faiss.ScalarQuantizer.QT_8bit:
        ranges = faiss.vector_to_array(ivf.sq.trained)[index.d :]  # [vmin (d), vdiff (d)]
        return float(ranges.max()) / 510 * (1 + 1e-4)  # + float32 rounding
    return math.inf
