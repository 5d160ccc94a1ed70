"""Scope lookup at one memory size: the exact flat index against the compressed one, through core.index_rule.

Each kind is built the way the memory builds it from a long log: `index_rule.empty` trained on the
evenly spread `sample_rows`, then `add_with_ids` chunk by chunk, so no more than one chunk of vectors
is held besides the index. Per kind: build seconds (train + add; making the vectors is not counted),
single-query search latency p50/p95 on one OpenMP thread (one query per call, as the router asks and
core.memory searches), recall@k against exact search, the index's serialised bytes, and the process's
peak RSS while building (VmHWM, reset before each build where the kernel allows it) with its growth
over the RSS before the build. `auto` names the kind core.index_rule picks at this size; TARGETS are
issue 15's, printed beside the figures.

Invariant: exact search is the reference (recall 1 by definition); only one index is alive at a time,
so each peak is one index plus one chunk of vectors.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence

import faiss
import numpy as np

from core import index_rule
from core.benchmarks.data import GrownVectors
from core.evaluation.metrics import percentile
from core.progress import NoProgress, ProgressFactory

CHUNK_ROWS = 16_384  # vectors added per add_with_ids call (25 MB of float32 at 384 dims)
TARGETS = {"p50_ms": 10.0, "recall_at_k": 0.95, "peak_rss_bytes_at_1m": 2 * 10**9}


def measure_lookup(source: GrownVectors, queries: np.ndarray, k: int, progress: ProgressFactory = NoProgress) -> dict:
    """{"size", "auto", "flat": {...}, "approx": {...}, "targets"} for a memory of `source`'s rows."""
    reference = exact_top(source, queries, k)
    flat = measure_plan(index_rule.FLAT, source, queries, k, reference, progress)[0]
    approx = measure_plan(index_rule.ivf_plan(source.size), source, queries, k, reference, progress)[0]
    auto = index_rule.plan_for(source.size)
    return {"size": source.size, "auto": auto.kind, "flat": flat, "approx": approx, "targets": TARGETS}


def exact_top(source: GrownVectors, queries: np.ndarray, k: int) -> list[set[int]]:
    """Each query's exact top-k ids (row + 1) by inner product, streamed over `source`'s chunks."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start, vectors in source.chunks(CHUNK_ROWS):
        s = np.concatenate([best_s, queries @ vectors.T], axis=1)
        ids = np.broadcast_to(np.arange(start + 1, start + 1 + len(vectors)), (len(queries), len(vectors)))
        i = np.concatenate([best_i, ids], axis=1)
        keep = np.argsort(-s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, keep, 1), np.take_along_axis(i, keep, 1)
    return [set(row.tolist()) for row in best_i]


def build_streamed(plan: index_rule.IndexPlan, source: GrownVectors, chunk_rows: int = CHUNK_ROWS):
    """(index, train seconds, add seconds): `empty` on the sample rows, then chunked adds (ids = row + 1)."""
    sample = source.rows(index_rule.sample_rows(source.size, plan))
    t0 = time.perf_counter()
    index = index_rule.empty(plan, source.dim, sample)
    train_s, add_s = time.perf_counter() - t0, 0.0
    del sample
    for start, vectors in source.chunks(chunk_rows):
        t0 = time.perf_counter()
        index.add_with_ids(vectors, np.arange(start + 1, start + 1 + len(vectors), dtype=np.int64))
        add_s += time.perf_counter() - t0
    return index, train_s, add_s


def measure_plan(
    plan: index_rule.IndexPlan,
    source: GrownVectors,
    queries: np.ndarray,
    k: int,
    reference: Sequence[set[int]],
    progress: ProgressFactory = NoProgress,
    nprobes: Sequence[int] = (),
) -> list[dict]:
    """One result per nprobe tried (the plan's own when `nprobes` is empty) on one built index."""
    gc.collect()
    rss_before = _status_bytes("VmRSS")
    reset = _reset_peak()
    index, train_s, add_s = build_streamed(plan, source)
    peak = _status_bytes("VmHWM") if reset else None
    common = {
        "build_s": train_s + add_s,
        "train_s": train_s,
        "add_s": add_s,
        "index_bytes": int(faiss.serialize_index(index).nbytes),
        "peak_rss_bytes": peak,
        "rss_growth_bytes": None if peak is None else peak - rss_before,
    }
    out = []
    for nprobe in nprobes or [plan.nprobe]:
        shown = plan if plan.kind == "flat" else index_rule.IndexPlan(plan.kind, plan.nlist, nprobe, plan.trained_at)
        if plan.kind != "flat":
            index_rule.set_nprobe(index, nprobe)
        found, latencies = single_queries(index, queries, k, progress, f"lookup {shown.describe()} n={source.size}")
        out.append(
            {
                "index": shown.describe(),
                **common,
                "p50_ms": percentile(latencies, 50),
                "p95_ms": percentile(latencies, 95),
                "recall_at_k": recall(found, reference, k),
            }
        )
    del index
    gc.collect()
    return out


def single_queries(
    index: faiss.Index, queries: np.ndarray, k: int, progress: ProgressFactory = NoProgress, desc: str = ""
) -> tuple[list[set[int]], list[float]]:
    """Each query row searched alone on one OpenMP thread: (the ids found, milliseconds per search)."""
    bar = progress(total=len(queries), desc=desc)
    found, ms = [], []
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        for row in np.ascontiguousarray(queries, dtype=np.float32):
            t0 = time.perf_counter()
            _, ids = index.search(row[None, :], k)
            ms.append((time.perf_counter() - t0) * 1e3)
            found.append({int(i) for i in ids[0] if i >= 0})
            bar.update(1)
    finally:
        faiss.omp_set_num_threads(before)
    bar.close()
    return found, ms


def recall(found: Sequence[set[int]], reference: Sequence[set[int]], k: int) -> float:
    """Mean share of each reference top-k also found (k capped by the reference's own size)."""
    shares = [len(f & r) / max(min(k, len(r)), 1) for f, r in zip(found, reference)]
    return float(np.mean(shares)) if shares else 1.0


def _status_bytes(field: str) -> int:
    """A /proc/self/status memory field (VmRSS, VmHWM) in bytes; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1]) * 1024


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to clear_refs); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return _status_bytes("VmHWM") > 0
