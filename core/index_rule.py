"""Which faiss index the edit memory keeps, chosen by the number of active edits, and how it is built.

Measured on the shared 2-core CPU box while other work kept it busy (load 6-10 at 100k, 9-15 at 1M on
2 cores, so every timing is an upper bound; recall and bytes do not depend on load) by
core/benchmarks/lookup.py: MiniLM vectors of CounterFact prompts (384 dims), grown past the 10k real
ones with noisy copies (core.benchmarks.data); 200 real paraphrase embeddings asked one at a time on
one thread; recall@10 against exact search; build = train + add in 16k-row chunks; peak = VmHWM of a
fresh process while building (its vectors are made block by block, never held whole).

  100k edits, nlist 316   recall@10 / p50 at nprobe 48, 64, 96                     build   index   peak
  flat                    1.000 / 21 ms                                           0.6 s   154 MB  396 MB
  ivf-flat                0.932 / 4.4   0.952 / 5.9   0.985 / 7.9 ms              5.0 s   156 MB  417 MB
  ivf-fp16                0.932 / 1.9   0.952 / 2.7   0.985 / 6.7 ms              7.0 s    80 MB  324 MB
  ivf-sq8                 0.927 / 1.4   0.947 / 1.8   0.980 / 6.2 ms              4.3 s    41 MB  281 MB
  ivf-pq96 (96 B/vector)  nprobe 64, 96, 128: 0.849, 0.879, 0.887 (PQ's error caps it); 291 s to train
  (fp16 and sq8 here coded the vectors themselves; sq8 by residual, as kept, was within 0.005;
  the 1M fp16 row coded residuals: fp16 loses nothing either way, see "codes alone")

  1M edits, nlist 1000    recall@10 / p50 at nprobe 64, 96, 111                    build   index   peak
  ivf-fp16                0.959 / 23    0.985 / 34    0.985 / 36 ms     26+55 s  ~81 s  794 MB  1.33 GB
   again, load 5.5        0.961 / 7.9   0.986 / 12.0 ms                   12+28 s   40 s  794 MB  1.33 GB
   again, load 3.8        64, 72, 80: 0.961 / 12.7, 0.971 / 12.2, 0.981 / 12.4 ms; build 10+24 s = 34 s
  ivf-sq8                 0.925 / 18    0.958 / 24    0.959 / 29 ms     22+55 s  ~77 s  410 MB  0.80 GB
                          (nprobe 160: 0.966; with a 25% range margin instead of 5%: 0.949 at 96-128)
  ivf-sq8, nlist 2000     nprobe 128, 157, 192: 0.945, 0.954, 0.954; build 228 s
  ivf-sq8, HNSW coarse    nprobe 96, 128, 160: 0.957, 0.957, 0.964; build 354 s (assigning 1M rows)
  codes alone (exhaustive search, no cells): fp16 1.000; sq8 0.978 (range margin 0 or 5%), 0.969 (25%)
  ivf-fp16 again, nprobe vs recall@10 vs p50 (one thread; CPU time of the search beside the wall time, since
  the wall time doubled with the box's load; nprobe 48-80 interleaved per query, load 5.2):
                nprobe   40      48      56      64      72      80      96
                recall   0.936   0.9505  0.9605  0.9605  0.9705  0.981   0.986
                CPU p50  4.7     5.3     5.9     6.8     9.1     8.1     -    ms   (72: another run)
                wall p50 4.7     9.6     11.8    14.5    9.1     16.1    12.5 ms   (40, 72, 96: load 7, alone)
  a second thread (faiss parallel over the probed cells) was 3-4x slower at load 7-9: single queries search
  on one thread.
  (flat at 1M: 1.5 GB, p50 139 ms on a quiet box, README; 16.8 ms for ivf-flat nprobe 111 there)

- up to FLAT_LIMIT edits: exact inner product (IndexFlatIP in an IndexIDMap2): a single query scans
  every vector, ~0.1-0.2 ms per 1k edits, so a few ms at the limit, where it holds 50 MB; below it
  nothing approximate pays for its recall loss.
- above FLAT_LIMIT: IVF over float16 codes (half of float32): the recall of IVF-flat at every
  nprobe (fp16 loses nothing measurable: 1.000 exhaustive), 0.8 GB at 1M instead of 1.5 GB, 1.33 GB
  peak while building. 8-bit codes (0.4 GB) cap recall@10 at 0.978 even scanning everything (the
  grown memory's near-duplicates differ by less than a step) and reached 0.958 at nprobe 96-128, a
  thin margin over the 0.95 target (0.949 with a wider range); at equal recall (fp16 at nprobe 64)
  the two scan in about the same time. PQ caps lower and trains for minutes. A coordinate decodes
  within 2^-12, and the codes hold the vector itself (not its residual from the cell centroid), so
  re-encoding a decoded vector in a retrained index gives the same codes.
- nlist = sqrt(n) cells (k-means on MIN_IVF_SIZE evenly spread sample rows per cell,
  KMEANS_ITERATIONS rounds, spherical), nprobe = NPROBE_PER_SQRT_NLIST * sqrt(nlist), but no more
  cells than hold SCAN_MAX vectors (n / nlist each): a search's time follows the vectors it scans
  (about 0.1 ms per 1,000 plus 0.5 ms, CPU time above). 72 of 316 cells at 100k (fp16: 0.952 at 63,
  0.977 at 72, 0.980 at 80; the scan cap allows 177), 56 of 1000 at 1M (0.9605, 5.9 ms of CPU: the
  10 ms target with room for a busy box; 80 gave 0.981 at 8.1 ms, 48 only 0.9505). Between them the
  cap bites from about 340k edits; past 1M it lowers recall (cells grow), so a larger memory needs
  this curve measured again. More cells (2000 at 1M) or an HNSW graph to assign vectors to
  cells cost 3-4x the build for no recall. Assigning 1M vectors to 1000 cells is most of the build
  (add 55 s of 81 s under load 15, 28 s of 40 s under load 5.5; no quiet box was available).
- IVF, not HNSW: IVF removes ids natively (HNSW cannot delete: it would need tombstones and
  periodic rebuilds), builds faster at 1M, and HNSW's recall collapsed at 1M on these vectors
  (efSearch 128: 0.70). Every IVF index keeps a hashtable from id to its place (faiss DirectMap), so
  `remove_ids` and `reconstruct` work by id: measured 33 MB per million ids.
- hysteresis: the memory switches to IVF when it grows past FLAT_LIMIT and back to flat only when
  it shrinks below FLAT_LIMIT * SHRINK_BACK, so adding and removing around the limit never thrashes.
  An IVF index is retrained when the memory has grown REBUILD_FACTOR times past (or shrunk below
  1/REBUILD_FACTOR of) the size it was trained at, so nlist keeps tracking the size; each rebuild
  costs O(n), and doubling keeps the amortised cost per added edit constant. Rebuilding from
  `reconstruct`ed fp16 vectors encodes them to the same codes: re-plans never add error.

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
NPROBE_PER_SQRT_NLIST = 4.0  # nprobe = 4 * sqrt(nlist) cells probed per query ...
SCAN_MAX = 56_000  # ... but no more cells than hold 56k vectors: 56 of 1000 at 1M (recall@10 0.9605)
APPROX_KIND = "ivf-fp16"  # the compressed kind above the flat limit (see the table)
KMEANS_ITERATIONS = 10
SEED = 1234
MIN_IVF_SIZE = 39  # k-means trains on 39 points per cell (faiss's minimum); smaller memories stay flat
SQ_RANGE_MARGIN = 0.05  # ivf-sq8 only: codes span each coordinate's sample range widened by 5% each side


@dataclass(frozen=True)
class IndexPlan:
    """The index kind and its parameters; `trained_at` is the size an IVF index was built for.

    kind: "flat" (exact), or IVF cells holding "ivf-fp16" (two bytes per dimension), "ivf-sq8"
    (one byte) or "ivf-flat" (four) codes: the last two are built only to compare (the benchmark).
    """

    kind: str
    nlist: int = 0
    nprobe: int = 0
    trained_at: int = 0

    def describe(self) -> str:
        return "flat" if self.kind == "flat" else f"{self.kind} nlist={self.nlist} nprobe={self.nprobe}"


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


def ivf_plan(n: int, kind: str = APPROX_KIND, nlist: int | None = None) -> IndexPlan:
    """IVF parameters for n vectors: sqrt(n) cells (at least 39 vectors each), 4 sqrt(nlist) probed, no more
    than hold SCAN_MAX vectors."""
    if nlist is None:
        nlist = int(NLIST_PER_SQRT * math.sqrt(n))
    nlist = max(1, min(nlist, n // MIN_IVF_SIZE))
    scan_cap = max(1, SCAN_MAX * nlist // max(n, 1))  # cells of n / nlist vectors each
    nprobe = min(nlist, scan_cap, math.ceil(NPROBE_PER_SQRT_NLIST * math.sqrt(nlist)))
    return IndexPlan(kind, nlist, nprobe, n)


def sample_size(plan: IndexPlan) -> int:
    """How many training vectors `empty` wants: MIN_IVF_SIZE per cell; 0 for flat."""
    return 0 if plan.kind == "flat" else plan.nlist * MIN_IVF_SIZE


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
    index.train(sample)
    index.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct and remove by id
    index.nprobe = plan.nprobe
    return index


def _untrained_ivf(plan: IndexPlan, dim: int) -> faiss.IndexIVF:
    quantizer, ip = faiss.IndexFlatIP(dim), faiss.METRIC_INNER_PRODUCT
    if plan.kind == "ivf-flat":
        index = faiss.IndexIVFFlat(quantizer, dim, plan.nlist, ip)
    elif plan.kind in ("ivf-sq8", "ivf-fp16"):
        qtype = faiss.ScalarQuantizer.QT_8bit if plan.kind == "ivf-sq8" else faiss.ScalarQuantizer.QT_fp16
        by_residual = plan.kind == "ivf-sq8"  # finer 8-bit steps; fp16 codes the vector itself (see decode_bound)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, plan.nlist, qtype, ip, by_residual)
        index.sq.rangestat_arg = SQ_RANGE_MARGIN
    else:
        raise ValueError(f"unknown index kind {plan.kind!r}")
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
    vector added; KeyError if the index holds none under some id."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if not len(ids):
        return np.zeros((0, index.d), np.float32)
    try:
        return index.reconstruct_batch(ids)
    except RuntimeError as exc:
        raise KeyError(f"the index holds none of some ids among {ids[:5].tolist()}...") from exc


def decode_bound(index: faiss.Index) -> float:
    """The most a coordinate `reconstruct` returns can differ from the one added (unit vectors).

    0 for exact kinds. ivf-fp16: half a unit in the last place of a coordinate below 1 (2^-12); the
    codes hold the vector itself, so a decoded vector encodes to the same codes in any fp16 index and
    re-plans through `reconstruct` lose nothing more. ivf-sq8 (residual codes): half a step of 1/255
    of the widest trained range, for coordinates inside the range (one outside is clipped to it: 5 in
    100,000 on MiniLM at 100k edits)."""
    ivf = faiss.try_extract_index_ivf(index)
    ivf = None if ivf is None else faiss.downcast_index(ivf)
    if not isinstance(ivf, faiss.IndexIVFScalarQuantizer):
        return 0.0
    if ivf.sq.qtype == faiss.ScalarQuantizer.QT_fp16:
        return 2.0**-12
    ranges = faiss.vector_to_array(ivf.sq.trained)[index.d :]  # [vmin (d), vdiff (d)]
    return float(ranges.max()) / 510 * (1 + 1e-4)  # + float32 rounding


def set_nprobe(index: faiss.Index, nprobe: int) -> None:
    """Probe `nprobe` cells per query from now on (an IVF index)."""
    faiss.extract_index_ivf(index).nprobe = nprobe
